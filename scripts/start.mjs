// `npm start`: everything jetq needs on one machine. Installs what is missing (npm packages, a
// recent nats-server), starts NATS with JetStream on loopback (store under JETQ_DATA_DIR) unless
// NATS_URL points at one already running, then the API and a local worker pool that grows and
// shrinks with the queue. Ctrl-C stops all of it cleanly. Plain Node, so it runs before `npm ci`.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureNatsServer, ensureNodeModules, natsServerEnv } from "./tools.mjs";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const log = (msg) => console.error(`[jetq] ${msg}`);
const dataDir = resolve(root, process.env.JETQ_DATA_DIR || ".jetq");
// The same spellings core/config.ts accepts for a boolean.
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

ensureNodeModules({ cwd: root });
// Run the compiled JavaScript: faster, and without tsx's source-map cost in every process.
log("building (tsc)…");
const built = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], { cwd: root, stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);
const children = [];

function reachable(port) {
  return new Promise((res) => {
    const s = connect({ port, host: "127.0.0.1" }, () => (s.destroy(), res(true)));
    s.on("error", () => res(false));
  });
}

if (startNats) {
  if (await reachable(natsPort)) {
    log(`something already listens on 127.0.0.1:${natsPort}; using it as NATS (set NATS_URL to be explicit)`);
  } else {
    const bin = await ensureNatsServer({ log });
    mkdirSync(join(dataDir, "nats"), { recursive: true });
    // Its own process group: Ctrl-C in the terminal reaches the API and workers at once, but NATS
    // only after they have drained (stop() below), or their last writes would have nowhere to go.
    const nats = spawn(bin, ["-js", "-a", "127.0.0.1", "-p", String(natsPort), "-sd", join(dataDir, "nats"), "-n", "jetq-local"], {
      stdio: ["ignore", "ignore", "inherit"],
      env: natsServerEnv(),
      detached: true,
    });
    children.push(nats);
    // Whatever way this process ends (short of SIGKILL), NATS does not outlive it.
    process.on("exit", () => nats.kill("SIGTERM"));
    for (let i = 0; i < 200 && !(await reachable(natsPort)); i++) await new Promise((r) => setTimeout(r, 50));
    log(`nats-server with JetStream on ${natsUrl}, store ${join(dataDir, "nats")}`);
  }
}

const stack = spawn(process.execPath, [join(root, "dist", "scripts", "local-stack.js")], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, NATS_URL: natsUrl, JETQ_DATA_DIR: dataDir },
});
children.unshift(stack);

const exitOf = (child) => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", r)));

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping workers, API and NATS`);
  // The stack first (it drains its workers), NATS last so in-flight work can finish.
  stack.kill("SIGTERM");
  await exitOf(stack);
  // Wait for NATS too (it flushes its store), so a `npm start` right after finds the port free.
  const rest = children.slice(1);
  for (const c of rest) c.kill("SIGTERM");
  await Promise.race([Promise.all(rest.map(exitOf)), new Promise((r) => setTimeout(r, 10_000))]);
  process.exit(0);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
stack.on("exit", (code) => {
  if (!stopping) {
    for (const c of children.slice(1)) c.kill("SIGTERM");
    process.exit(code ?? 1);
  }
});
