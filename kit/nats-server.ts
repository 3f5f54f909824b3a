// Starts throw-away nats-server processes (JetStream, file storage) for tests.
// The binary comes from NATS_SERVER_BIN (set by scripts/test.mjs) or the
// cache dir that scripts/tools.mjs installs into.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { availableParallelism, homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { generateNatsCredentials, writeNatsServerConfig, type NatsCredentials } from "../scripts/nats-auth.js";

export interface NatsServerHandle {
  url: string;
  port: number;
  storeDir: string;
  /** The HTTP monitoring endpoint (/connz, /jsz…), when started with `monitor: true`. */
  monitorUrl?: string;
  /** Each program's user and password, when started with `auth: true` (anonymous clients are refused). */
  credentials?: NatsCredentials;
  stop(): Promise<void>;
  restart(): Promise<void>;
  kill(): void;
  /** Freezes the server (SIGSTOP): connections stay open but nothing is answered, as in a long GC or a hung host. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
}

// Same computation as CACHE_DIR in scripts/tools.mjs (kept inline to avoid
// importing untyped .mjs from TypeScript).
const CACHE_DIR = resolve(process.env.JETQ_CACHE_DIR || join(homedir(), ".cache", "jetq"));

const READY_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 50;
const STOP_GRACE_MS = 5_000;
const LOG_TAIL_CHARS = 4_000;

export function natsServerBin(): string {
  const bin = process.env.NATS_SERVER_BIN || join(CACHE_DIR, "bin", "nats-server");
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(`nats-server binary not found at ${bin}: run 'node scripts/tools.mjs' (or 'npm test') to install it`);
  }
  return bin;
}

/** As natsServerEnv() in scripts/tools.mjs: Go on half the cores, as `npm start` runs it. */
export function serverEnv(): NodeJS.ProcessEnv {
  const procs = process.env.GOMAXPROCS || process.env.JETQ_NATS_GOMAXPROCS || String(Math.max(1, Math.floor(availableParallelism() / 2)));
  return { ...process.env, GOMAXPROCS: procs };
}

/** A port nothing listens on right now (127.0.0.1). */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? res(port) : rej(new Error("could not determine a free port"))));
    });
  });
}

// True once a TCP connect to the port succeeds AND the greeting (NATS INFO
// line) carries our server name: another process already holding the port
// (e.g. a leftover server) must not count as "our server is ready".
function isOurServerReady(port: number, serverName: string): Promise<boolean> {
  return new Promise((res) => {
    const sock = connect({ host: "127.0.0.1", port });
    let greeting = "";
    const done = (ok: boolean) => {
      sock.destroy();
      res(ok);
    };
    sock.on("data", (chunk) => {
      greeting += chunk.toString();
      const eol = greeting.indexOf("\r\n");
      if (eol >= 0) done(greeting.slice(0, eol).includes(`"server_name":${JSON.stringify(serverName)}`));
    });
    sock.once("error", () => done(false));
    sock.once("close", () => done(false));
    sock.setTimeout(1_000, () => done(false));
  });
}

const isRunning = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

// --- Orphan protection -------------------------------------------------------
// Servers and temp dirs are tracked so they can be cleaned up even if a test
// forgets stop(). Vitest's fork pool ends workers with SIGTERM, which skips
// 'exit' handlers, so the termination signals are hooked too.
const liveServers = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hooksInstalled = false;

function cleanupSync(): void {
  for (const p of liveServers) {
    if (isRunning(p)) p.kill("SIGKILL");
  }
  liveServers.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  tempDirs.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", cleanupSync);
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    const onSignal = () => {
      cleanupSync();
      process.off(sig, onSignal);
      // Restore default behaviour (terminate) unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Kills `p` and removes `dir` when this process ends, whatever ends it (kit/nats-cluster.ts too). */
export function cleanUpOnExit(p: ChildProcess | undefined, dir?: string): void {
  installHooks();
  if (p) liveServers.add(p);
  if (dir) tempDirs.add(dir);
}

/** Forgets what cleanUpOnExit was given once its owner has stopped it. */
export function forgetOnExit(p: ChildProcess | undefined, dir?: string): void {
  if (p) liveServers.delete(p);
  if (dir) tempDirs.delete(dir);
}

// --- Server lifecycle --------------------------------------------------------

export async function startNatsServer(opts: { storeDir?: string; port?: number; monitor?: boolean; auth?: boolean } = {}): Promise<NatsServerHandle> {
  installHooks();
  const bin = natsServerBin();
  const port = opts.port ?? (await freePort());
  const monitorPort = opts.monitor ? await freePort() : undefined;
  let storeDir = opts.storeDir;
  if (!storeDir) {
    // Kept until process exit (not on stop()) so restart() finds its data.
    storeDir = await mkdtemp(join(tmpdir(), "jetq-nats-"));
    tempDirs.add(storeDir);
  }
  const dir = storeDir;
  // With `auth`, the users and permissions `npm start` gives its own server (scripts/nats-auth.ts).
  const credentials = opts.auth ? generateNatsCredentials() : undefined;
  const configArgs = credentials ? ["-c", writeNatsServerConfig(dir, credentials)] : [];
  // Unique per handle, unchanged across restart(); lets readiness checks
  // recognise this very server.
  const serverName = `jetq-test-${process.pid}-${port}-${Date.now().toString(36)}`;

  let proc: ChildProcess | undefined;
  let logTail = "";

  async function start(): Promise<void> {
    logTail = "";
    const monitorArgs = monitorPort ? ["-m", String(monitorPort)] : [];
    const child = spawn(bin, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir, "-n", serverName, ...monitorArgs, ...configArgs], {
      stdio: ["ignore", "pipe", "pipe"],
      env: serverEnv(),
    });
    proc = child;
    liveServers.add(child);
    const capture = (chunk: Buffer) => {
      logTail = (logTail + chunk.toString()).slice(-LOG_TAIL_CHARS);
    };
    child.stdout!.on("data", capture);
    child.stderr!.on("data", capture);
    let spawnError: Error | undefined;
    child.once("error", (err) => (spawnError = err));
    child.once("exit", () => liveServers.delete(child));

    const fail = (why: string) =>
      new Error(`nats-server on port ${port} ${why}\n--- nats-server output (tail) ---\n${logTail}`);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (spawnError) throw fail(`failed to spawn: ${spawnError.message}`);
      if (!isRunning(child)) throw fail(`exited early (${child.signalCode ?? `code ${child.exitCode}`})`);
      if (await isOurServerReady(port, serverName)) return;
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw fail(`not reachable after ${READY_TIMEOUT_MS} ms`);
      }
      await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
    }
  }

  async function stop(): Promise<void> {
    const child = proc;
    if (!child || !isRunning(child)) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGCONT"); // a paused server would not act on SIGTERM
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir: dir,
    ...(monitorPort ? { monitorUrl: `http://127.0.0.1:${monitorPort}` } : {}),
    ...(credentials ? { credentials } : {}),
    stop,
    async restart() {
      await stop();
      await start();
    },
    kill() {
      if (proc && isRunning(proc)) proc.kill("SIGKILL");
    },
    pause() {
      if (proc && isRunning(proc)) {
        proc.kill("SIGSTOP");
        waitUntilStopped(proc.pid!);
      }
    },
    resume() {
      if (proc && isRunning(proc)) proc.kill("SIGCONT");
    },
  };
}

/**
 * SIGSTOP is delivered asynchronously: on a busy machine the server may still run (and answer a
 * request sent right after pause()) for a moment. Wait, briefly, until the kernel says it is
 * stopped (state T in /proc/<pid>/stat).
 */
function waitUntilStopped(pid: number) {
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "T" || state === "t") return;
    } catch {
      return; // no /proc (or the process is gone): nothing better to wait on
    }
  }
}
