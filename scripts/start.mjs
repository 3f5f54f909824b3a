// `npm start`: everything jetq needs on one machine. Installs what is missing (npm packages, a
// recent nats-server), starts NATS with JetStream on loopback (store under JETQ_DATA_DIR) unless
// NATS_URL points at one already running, then the API and a local worker pool that grows and
// shrinks with the queue (none with JETQ_LOCAL_MAX_WORKERS=0: NATS and the API alone, for a cluster
// whose workers run elsewhere). Ctrl-C stops all of it cleanly. Plain Node, so it runs before `npm ci`.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ensureNatsServer, ensureNodeModules, natsServerEnv } from "./tools.mjs";
import { buildWebView } from "./build-web.mjs";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const log = (msg) => console.error(`[jetq] ${msg}`);
const dataDir = resolve(root, process.env.JETQ_DATA_DIR || ".jetq");
// The same spellings kernel/config.ts accepts for a boolean.
const startNatsSetting = (process.env.JETQ_START_NATS || "true").toLowerCase();
if (!["true", "false", "1", "0", "yes", "no"].includes(startNatsSetting)) {
  log(`JETQ_START_NATS must be true/false, 1/0 or yes/no, not ${JSON.stringify(process.env.JETQ_START_NATS)}`);
  process.exit(2);
}
const startNats = !process.env.NATS_URL && ["true", "1", "yes"].includes(startNatsSetting);
const natsPort = Number(process.env.JETQ_NATS_PORT || 4222);
if (!Number.isInteger(natsPort) || natsPort < 1 || natsPort > 65535) {
  log(`JETQ_NATS_PORT must be a port number (1-65535), not ${JSON.stringify(process.env.JETQ_NATS_PORT)}`);
  process.exit(2);
}
const natsUrl = process.env.NATS_URL || `nats://127.0.0.1:${natsPort}`;

// Tool problems (no Go, a failed npm install) are one line and an exit code, not a stack trace.
async function orExit(what, fn) {
  try {
    return await fn();
  } catch (err) {
    log(`${what}: ${err.message}`);
    process.exit(1);
  }
}

await orExit("installing npm packages failed", () => ensureNodeModules({ cwd: root }));
await orExit("building the web view failed", () => buildWebView({ log }));
const children = [];
let stack; // the local stack (API + worker pool), once it is started
let stopping = false;
const exitOf = (child) => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", r)));

/**
 * What listens on 127.0.0.1:port: null for nothing; otherwise `{ nats }` with the NATS server's
 * INFO (a NATS server greets every client with an `INFO {…}` line), or `{ nats: null }` for
 * something that is not NATS.
 */
function probe(port) {
  return new Promise((res) => {
    const s = connect({ port, host: "127.0.0.1" });
    let greeting = "";
    let connected = false;
    const done = (v) => (s.destroy(), res(v));
    s.on("connect", () => (connected = true));
    s.on("data", (chunk) => {
      greeting += chunk.toString("latin1");
      const eol = greeting.indexOf("\r\n");
      if (eol < 0 && greeting.length < 65536) return;
      const line = eol < 0 ? greeting : greeting.slice(0, eol);
      try {
        done({ nats: line.startsWith("INFO ") ? JSON.parse(line.slice(5)) : null });
      } catch {
        done({ nats: null });
      }
    });
    s.on("error", () => done(connected ? { nats: null } : null));
    s.on("close", () => done(connected ? { nats: null } : null));
    s.setTimeout(2000, () => done(connected ? { nats: null } : null));
  });
}

const reachable = async (port) => (await probe(port)) !== null;

/**
 * A NATS server npm start did not start lives its own life: say when it goes away and when it is
 * back (the API and workers keep reconnecting meanwhile), instead of waiting without a word.
 */
function watchForeignNats(port) {
  let away = 0; // since when it has been gone (0: it is there)
  let told = 0; // when we last said so
  const seconds = () => Math.round((Date.now() - away) / 1000);
  const timer = setInterval(async () => {
    if (await reachable(port)) {
      if (away) log(`the NATS server on 127.0.0.1:${port} is back after ${seconds()} s`);
      away = 0;
    } else if (!away) {
      away = told = Date.now();
      log(`the NATS server on 127.0.0.1:${port} (not started by npm start) is gone; the API and workers keep retrying. Restart it, or stop npm start and run it again to get its own`);
    } else if (Date.now() - told >= 30_000) {
      told = Date.now();
      log(`still no NATS server on 127.0.0.1:${port} (${seconds()} s)`);
    }
  }, 2000);
  timer.unref();
}

// Run the compiled JavaScript: faster, and without tsx's source-map cost in every process. Built
// before NATS starts, whose credentials and config come from dist/scripts/nats-auth.js.
log("building (tsc)…");
const built = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], { cwd: root, stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);

// Credentials of the programs on a NATS server npm start runs itself (none for one it found: the
// environment's NATS_USER and NATS_PASSWORD, if any, are every program's).
let natsCredentialsFile;

if (startNats) {
  const found = await probe(natsPort);
  if (found && !found.nats) {
    log(`something that is not a NATS server listens on 127.0.0.1:${natsPort}; stop it, or set JETQ_NATS_PORT to a free port (or NATS_URL to a NATS server)`);
    process.exit(1);
  } else if (found && !found.nats.jetstream) {
    log(`the NATS server on 127.0.0.1:${natsPort} (${found.nats.server_name ?? "unnamed"}, v${found.nats.version}) runs without JetStream, which jetq needs; restart it with -js, or set JETQ_NATS_PORT to a free port`);
    process.exit(1);
  } else if (found) {
    log(`using the NATS server already on 127.0.0.1:${natsPort} (${found.nats.server_name ?? "unnamed"}, v${found.nats.version}, JetStream on); npm start did not start it and will not stop it (set NATS_URL to be explicit)`);
    if (found.nats.auth_required && !process.env.NATS_USER) log(`that NATS server requires credentials: set NATS_USER and NATS_PASSWORD`);
    watchForeignNats(natsPort);
  } else {
    const bin = await orExit("cannot start NATS", () => ensureNatsServer({ log }));
    mkdirSync(join(dataDir, "nats"), { recursive: true });
    // One user per program with the permissions it needs, made once and kept (0600) in the data
    // dir; the config is written again at every start so it follows the permissions of this version.
    const auth = await import(pathToFileURL(join(root, "dist", "scripts", "nats-auth.js")).href);
    const credentials = await orExit("cannot make NATS credentials", () => auth.loadOrCreateNatsCredentials(dataDir));
    const natsConfig = auth.writeNatsServerConfig(dataDir, credentials);
    natsCredentialsFile = join(dataDir, auth.CREDENTIALS_FILE);
    // Its own process group: Ctrl-C in the terminal reaches the API and workers at once, but NATS
    // only after they have drained (stop() below), or their last writes would have nowhere to go.
    const nats = spawn(bin, ["-js", "-a", "127.0.0.1", "-p", String(natsPort), "-sd", join(dataDir, "nats"), "-n", "jetq-local", "-c", natsConfig], {
      stdio: ["ignore", "ignore", "inherit"],
      env: natsServerEnv(),
      detached: true,
    });
    children.push(nats);
    // Whatever way this process ends (short of SIGKILL), NATS does not outlive it.
    process.on("exit", () => nats.kill("SIGTERM"));
    // Our own NATS dying under the API and workers is fatal: say so and stop, rather than leave
    // them reconnecting for ever to nothing.
    nats.on("exit", (code, signal) => {
      if (stopping) return;
      log(`nats-server exited unexpectedly (${signal ?? `exit code ${code}`}); stopping`);
      void stop("NATS exit", 1);
    });
    for (let i = 0; i < 200 && !(await reachable(natsPort)); i++) await new Promise((r) => setTimeout(r, 50));
    log(`nats-server with JetStream on ${natsUrl}, store ${join(dataDir, "nats")}, a user per program (credentials in ${natsCredentialsFile}; anonymous clients are refused)`);
  }
}


stack = spawn(process.execPath, [join(root, "dist", "scripts", "local-stack.js")], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    NATS_URL: natsUrl,
    JETQ_DATA_DIR: dataDir,
    // The local stack hands each child its own user (scripts/local-stack.ts).
    ...(natsCredentialsFile ? { JETQ_LOCAL_NATS_CREDENTIALS: natsCredentialsFile } : {}),
  },
});
children.unshift(stack);


async function stop(signal, exitCode = 0) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping workers, API and NATS`);
  // The stack first (it drains its workers), NATS last so in-flight work can finish.
  if (stack) {
    stack.kill("SIGTERM");
    await exitOf(stack);
  }
  // Wait for NATS too (it flushes its store), so a `npm start` right after finds the port free.
  const rest = children.filter((c) => c !== stack);
  for (const c of rest) c.kill("SIGTERM");
  await Promise.race([Promise.all(rest.map(exitOf)), new Promise((r) => setTimeout(r, 10_000))]);
  process.exit(exitCode);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
stack.on("exit", (code) => {
  if (!stopping) {
    for (const c of children.slice(1)) c.kill("SIGTERM");
    process.exit(code ?? 1);
  }
});
