// What every command gets: the typed client pointed at the API (flags over environment), the
// output, and a signal that Ctrl-C aborts. `command()` wraps a handler so that whatever it ends
// with becomes one message and one exit code (exit-codes.ts). The client (and zod with it) is
// loaded only when a command runs, so --help and completion start quicker.
import type { JetqClient } from "../client/index.js";
import { checkApiUrl, loadCliSettings, SettingError, type CliSettings } from "./config.js";
import { EXIT, exitCodeOf, UsageError, type ExitCode } from "./exit-codes.js";
import { Output } from "./output.js";

/** The options every command takes (main.ts declares them). */
export interface GlobalArgs {
  url?: string;
  apiKey?: string;
  json?: boolean;
}

export interface Context {
  client: JetqClient;
  out: Output;
  /** The API's base URL in use. */
  url: string;
  /** Aborted by Ctrl-C: long waits end with EXIT.interrupted, the task going on. */
  signal: AbortSignal;
}

/** A command's handler: what it returns is the exit code (none: 0). */
export type Handler<A> = (ctx: Context, args: A) => Promise<ExitCode | void>;

let settings: CliSettings | undefined;
/** The environment, read once (and only by a command that runs: --help never fails on it). */
function cliSettings(): CliSettings {
  return (settings ??= loadCliSettings());
}

function outputFor(json: boolean, colourAllowed: boolean): Output {
  return new Output({ json, colour: colourAllowed && process.stdout.isTTY === true, colourErr: colourAllowed && process.stderr.isTTY === true });
}

/**
 * A fetch whose failures say why (`connect ECONNREFUSED 127.0.0.1:8080`), not only Node's
 * "fetch failed": the cause is where undici puts the reason.
 */
const explainingFetch: typeof fetch = async (input, init) => {
  try {
    return await fetch(input, init);
  } catch (err) {
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    if (err instanceof Error && err.name !== "AbortError" && cause?.message) throw new Error(cause.message);
    throw err;
  }
};

export function command<A extends GlobalArgs>(handler: Handler<A>): (args: A) => Promise<void> {
  return async (args) => {
    const aborter = new AbortController();
    // Ctrl-C: a wait ends at once and says how to look again; anything else still in flight (an
    // upload, a request) is not waited for.
    const onInterrupt = () => {
      aborter.abort(new Interrupted());
      setTimeout(() => process.exit(EXIT.interrupted), 500).unref();
    };
    process.once("SIGINT", onInterrupt);
    let out = outputFor(args.json === true, false); // until the settings say whether colour is wanted
    let url: string | undefined;
    try {
      const env = cliSettings();
      out = outputFor(args.json === true, env.colourAllowed);
      const fromFlag = args.url !== undefined ? checkApiUrl(args.url, "--url") : undefined;
      if (fromFlag instanceof Error) throw new UsageError(fromFlag.message);
      url = fromFlag ?? env.url;
      const apiKey = args.apiKey ?? env.apiKey;
      const { JetqClient } = await import("../client/jetq-client.js");
      const client = new JetqClient({ baseUrl: url, fetch: explainingFetch, ...(apiKey ? { apiKey } : {}) });
      process.exitCode = (await handler({ client, out, url, signal: aborter.signal }, args)) ?? EXIT.ok;
    } catch (err) {
      if (err instanceof Interrupted || aborter.signal.aborted) {
        out.note("interrupted");
        process.exitCode = EXIT.interrupted;
      } else if (err instanceof SettingError) {
        out.error(new UsageError(err.message), url);
        process.exitCode = EXIT.usage;
      } else {
        out.error(err, url);
        process.exitCode = exitCodeOf(err);
        // A bug in the CLI: the stack says where.
        if (process.exitCode === EXIT.internal && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      }
    } finally {
      process.removeListener("SIGINT", onInterrupt);
    }
  };
}

class Interrupted extends Error {
  constructor() {
    super("interrupted");
  }
}
