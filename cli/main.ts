// `jetq`: the command line. yargs parses (one file per command group in commands/), shows --help
// for every command, completes in bash, zsh and fish, and turns a bad flag or an unknown command
// into the usage on stderr and exit code 2. Each handler sets its own exit code (exit-codes.ts).
import { readFileSync } from "node:fs";
import yargs, { type Argv } from "yargs";
import { hideBin } from "yargs/helpers";
import { bookCommands } from "./commands/books.js";
import { dlqCommands } from "./commands/dlq.js";
import { keyCommands } from "./commands/keys.js";
import { limitCommands } from "./commands/limits.js";
import { quizCommands } from "./commands/quiz.js";
import { searchCommands } from "./commands/search.js";
import { taskCommands } from "./commands/tasks.js";
import { DEFAULT_URL } from "./config.js";
import type { GlobalArgs } from "./context.js";
import { EXIT } from "./exit-codes.js";

const SHELLS = ["bash", "zsh", "fish"] as const;

const EXIT_CODES = `Exit codes:
  0   done; with --wait or watch: the task succeeded
  1   the task failed (books add --wait: a book failed)
  2   usage: unknown command, bad flag or value, unreadable --payload or file
  3   the task was cancelled
  4   the API refused: not found, invalid, conflict (4xx)
  5   the API is unreachable or unavailable (connection failed, 5xx)
  6   not authorised: missing or wrong API key (401), role not allowed (403)
  70  the CLI itself failed (a bug; the message says where)
  130 interrupted (Ctrl-C) while waiting; the task goes on`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export function parser(argv: string[]): Argv<GlobalArgs> {
  // yargs chooses the completion script's shell from $SHELL when it is made, so
  // `jetq completion zsh` typed in bash must say zsh before that.
  const shell = SHELLS.find((s) => argv[0] === "completion" && argv[1] === s);
  if (shell) process.env.SHELL = `/bin/${shell}`;

  const y: Argv<GlobalArgs> = yargs(argv)
    .scriptName("jetq")
    .usage("$0 <command> [options]\n\nSee and steer a jetq queue: tasks, dead letters, books, search, quizzes, API keys.")
    .option("url", { type: "string", global: true, describe: `the API's address (default: $JETQ_URL, else ${DEFAULT_URL})` })
    .option("api-key", { type: "string", global: true, describe: "the API key to send (default: $JETQ_API_KEY)" })
    .option("json", { type: "boolean", global: true, describe: "print JSON for scripts instead of tables" })
    .group(["url", "api-key", "json", "help"], "Global options:");
  taskCommands(y);
  dlqCommands(y);
  bookCommands(y);
  searchCommands(y);
  quizCommands(y);
  keyCommands(y);
  limitCommands(y);
  return y
    .command(
      "completion [shell]",
      "Print the shell completion script: jetq completion bash >> ~/.bashrc",
      (c) => c.positional("shell", { choices: SHELLS, describe: "bash, zsh or fish (default: from $SHELL)" }),
      () => void y.showCompletionScript(),
    )
    .demandCommand(1, "give a command")
    .strict()
    .recommendCommands()
    .help()
    .alias("help", "h")
    .version(version())
    .wrap(Math.min(110, y.terminalWidth()))
    .epilogue(`${EXIT_CODES}\n\nEnvironment: JETQ_URL, JETQ_API_KEY; NO_COLOR turns colour off (colour only on a terminal anyway).`)
    .fail((message, err, context) => {
      // Only usage mistakes get here (handlers report their own errors): the usage of the
      // command concerned, then what was wrong, on stderr.
      context.showHelp((help) => process.stderr.write(`${help}\n\n`));
      process.stderr.write(`jetq: ${message ?? err?.message ?? "invalid usage"}\n`);
      process.exit(EXIT.usage);
    });
}

export async function main(argv = hideBin(process.argv)): Promise<void> {
  await parser(argv).parseAsync();
}
