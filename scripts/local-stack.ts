// The local stack behind `npm start`: the API process and a pool of worker processes sized by
// the kernel's scaling policy from the queue depth — the same algorithm the operator applies to a
// Deployment, with child processes as the actuator.
import { spawn, type ChildProcess } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { loadLocalStackConfig } from "./local-pool-config.js";
import { ConfigError } from "../kernel/config.js";
import { connectJetq } from "../kernel/connection.js";
import { createLogger } from "../kernel/logger.js";
import { QueueStats } from "../kernel/queue-stats.js";
import { desiredReplicas, type Recommendation } from "../kernel/scaling-policy.js";
import { describeListenAddress } from "../api/listen-address.js";
import { loadOrCreateNatsCredentials, natsCredentialsEnv, type NatsCredentials } from "./nats-auth.js";

const config = (() => {
  try {
    return loadLocalStackConfig();
  } catch (err) {
    // A wrong setting is the user's to fix: its message, not a stack trace.
    if (!(err instanceof ConfigError)) throw err;
    console.error(`[jetq] ${err.message}`);
    process.exit(2);
  }
})();
const log = createLogger("jetq-local", config.logLevel);
// On the NATS server npm start runs itself, each program has its own user (scripts/nats-auth.ts):
// start.mjs names the file, this process sizes the pool as the operator does, and each child gets
// its own. Otherwise every process connects with the environment's NATS_USER/NATS_PASSWORD, if any.
const localCredentialsFile = process.env.JETQ_LOCAL_NATS_CREDENTIALS;
const localCredentials: NatsCredentials | null = localCredentialsFile ? loadOrCreateNatsCredentials(dirname(localCredentialsFile)) : null;
const poolCredentials = localCredentials ? { user: localCredentials.operator.user, password: localCredentials.operator.password } : config.natsCredentials;
const childCredentials = (program: "api" | "worker") => (localCredentials ? natsCredentialsEnv(localCredentials[program]) : {});
// Built (dist/…/*.js, what `npm start` runs) or from source through tsx (development).
const fromSource = import.meta.url.endsWith(".ts");
const entry = (p: string) => fileURLToPath(new URL(fromSource ? p : p.replace(/\.ts$/, ".js"), import.meta.url));
const { localPool: pool } = config;
// With no local workers (JETQ_LOCAL_MAX_WORKERS=0) there is no pool to size: no connection, and no
// depth polled every few seconds (a cost that grows with the backlog, measured by bench:deep).
const conn = pool.maxWorkers > 0 ? await connectJetq(config.natsUrl, config.topology, { name: "jetq-local-pool", logger: log, ...(poolCredentials ? { credentials: poolCredentials } : {}), consumersFor: { taskTypes: config.worker.taskTypes } }) : null;
const stats = conn ? new QueueStats(conn) : null;

function run(file: string, env: Record<string, string> = {}): ChildProcess {
  // A worker id set for this process (npm start inside a pod) would be shared by every local worker.
  const { JETQ_WORKER_ID: _id, POD_NAME: _pod, JETQ_LOCAL_NATS_CREDENTIALS: _creds, ...inherited } = process.env;
  return spawn(process.execPath, [...(fromSource ? ["--import", "tsx"] : []), entry(file)], { stdio: "inherit", env: { ...inherited, ...env } });
}

// On a store without an admin key, the API makes one and prints it, this once (api/auth/announce.ts).
const api = run("../api/main.ts", { JETQ_PRINT_FIRST_ADMIN_KEY: "true", ...childCredentials("api") });
const where = `API on ${describeListenAddress(config.api.host, config.api.port)}, auth ${config.api.auth.enabled ? "on" : "OFF (JETQ_AUTH=off)"} (try /openapi.json)`;
const workers: ChildProcess[] = [];
let history: Recommendation[] = [];
let nextMetricsPort = config.worker.metricsPort;
const bounds = {
  minReplicas: pool.minWorkers,
  maxReplicas: pool.maxWorkers,
  targetBacklogPerReplica: pool.targetBacklogPerWorker,
  scaleToZero: pool.minWorkers === 0,
  scaleUpWindowMs: 0,
  scaleDownWindowMs: pool.scaleDownWindowSeconds * 1000,
};

async function reconcile(stats: QueueStats) {
  const depth = await stats.depth();
  const decision = desiredReplicas({ depth, currentReplicas: workers.length, now: Date.now(), history }, bounds);
  history = decision.history;
  while (workers.length < decision.desiredReplicas) {
    // Each worker gets its own metrics port so they can all be scraped.
    const port = config.worker.metricsPort > 0 ? nextMetricsPort++ : 0;
    const w = run("../worker/main.ts", { JETQ_WORKER_METRICS_PORT: String(port), ...childCredentials("worker") });
    w.on("exit", () => {
      const i = workers.indexOf(w);
      if (i >= 0) workers.splice(i, 1);
    });
    workers.push(w);
  }
  while (workers.length > decision.desiredReplicas) workers.pop()!.kill("SIGTERM"); // drains gracefully
  if (decision.desiredReplicas !== decision.recommended || decision.reason !== "steady") {
    log.info("local pool", { depth, workers: workers.length, reason: decision.reason });
  }
}

let timer: NodeJS.Timeout | undefined;
if (stats) {
  await reconcile(stats);
  log.info(`jetq is up: ${where}, ${workers.length} worker(s), scaling ${bounds.minReplicas}..${bounds.maxReplicas}`);
  timer = setInterval(() => void reconcile(stats).catch((err) => log.warn("scaling check failed", { error: String(err) })), pool.pollMs);
} else {
  log.info(`jetq is up: ${where}, no local workers (JETQ_LOCAL_MAX_WORKERS=0)`);
}

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  const exits = [...workers, api].map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r))));
  for (const w of workers) w.kill("SIGTERM");
  api.kill("SIGTERM");
  await Promise.all(exits);
  await conn?.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
