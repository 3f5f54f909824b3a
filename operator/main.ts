// The operator process: config → NATS (through the kernel) → health server → leader election;
// while this replica leads, the ProcessingTask and WorkerPool controllers run. SIGTERM stops them,
// releases the lease (a standby takes over at once) and exits 0.
import { Counter } from "prom-client";
import { connectJetq } from "../kernel/connection.js";
import { writePoolStatus } from "../kernel/pool-status.js";
import { createLogger } from "../kernel/logger.js";
import { TaskEvents } from "../kernel/task-events.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { documentTaskTypes } from "../library/task-types.js";
import { loadOperatorProgramConfig } from "./config.js";
import { processingTaskController } from "./controllers/processing-task.js";
import { tenantOfNamespace } from "./tasks/tenant-of-namespace.js";
import { workerPoolController } from "./controllers/worker-pool.js";
import type { Controller } from "./core/controller.js";
import { EventRecorder } from "./core/events.js";
import { startHealthServer } from "./core/health-server.js";
import { LeaderElector } from "./core/leader-election.js";
import { OperatorMetrics } from "./core/metrics.js";
import { createJetStreamDepthSource } from "./depth/jetstream.js";
import { createPrometheusDepthSource } from "./depth/prometheus.js";
import { loadKubeConfig } from "./kube-config.js";

const COMPONENT = "jetq-operator";

const config = loadOperatorProgramConfig();
const settings = config.operator;
const log = createLogger(COMPONENT, config.logLevel).child({ identity: settings.identity });

const kc = loadKubeConfig(settings.kube);
const leaseKc = loadKubeConfig(settings.kube);

const conn = await connectJetq(config.natsUrl, config.topology, { name: `${COMPONENT}-${settings.identity}`, logger: log, credentials: config.natsCredentials });
const metrics = new OperatorMetrics();
// The kernel's arrival counter, on the operator's registry: a task created from a ProcessingTask
// counts in jetq_tasks_created_total like one created over HTTP.
const tasksCreated = new Counter({
  name: "jetq_tasks_created_total",
  help: "Tasks put on the work stream, by type and priority (here: created from ProcessingTasks)",
  labelNames: ["type", "priority"],
  registers: [metrics.registry],
});
// The registry of the API (the same types, payload schemas and admission checks), so a
// ProcessingTask is validated exactly as POST /api/tasks is.
const queue = taskQueueFor(conn, documentTaskTypes(), { defaultTimeoutSeconds: config.defaultTimeoutSeconds, metrics: { tasksCreated } });
const events = new TaskEvents(conn.nc);
const recorder = new EventRecorder(kc, COMPONENT, log);

/** The controllers of the current leadership term; made anew each term (a stopped one is done). */
let running: Controller[] = [];
let controllersReady = false;
let transition: Promise<void> = Promise.resolve();

function makeControllers(): Controller[] {
  return [
    processingTaskController({
      kc,
      queue,
      events,
      recorder,
      metrics,
      logger: log,
      resyncMs: settings.resyncMs,
      watchNamespaces: settings.watchNamespaces,
      concurrency: settings.taskConcurrency,
      tenantOf: (namespace) => tenantOfNamespace(settings.tenancy, namespace),
    }),
    workerPoolController({
      kc,
      nc: conn.nc,
      depthSources: { prometheus: createPrometheusDepthSource({ defaultUrl: settings.defaultPrometheusUrl }), jetstream: createJetStreamDepthSource(conn.jsm) },
      recorder,
      metrics,
      logger: log,
      defaultPrometheusUrl: settings.defaultPrometheusUrl,
      publishPoolStatus: (status, ttlSeconds) => writePoolStatus(conn, status, ttlSeconds),
      ...(settings.watchNamespaces.length ? { namespaces: settings.watchNamespaces } : {}),
    }),
  ];
}

async function startControllers(): Promise<void> {
  running = makeControllers();
  await Promise.all(running.map((c) => c.start()));
  controllersReady = true;
  log.info("leading: controllers started", { controllers: running.map((c) => c.name) });
}

async function stopControllers(): Promise<void> {
  controllersReady = false;
  const stopping = running;
  running = [];
  await Promise.allSettled(stopping.map((c) => c.stop()));
  if (stopping.length) log.info("controllers stopped", { controllers: stopping.map((c) => c.name) });
}

const elector = new LeaderElector({
  // Its own connections: a burst of reconciles must not queue the lease renewal behind them.
  kc: leaseKc,
  namespace: settings.lease.namespace,
  name: settings.lease.name,
  identity: settings.identity,
  leaseDurationS: settings.lease.durationS,
  renewDeadlineS: settings.lease.renewDeadlineS,
  retryPeriodS: settings.lease.retryPeriodS,
  logger: log,
  onStartedLeading: () => {
    metrics.setLeader(true);
    transition = transition.then(startControllers).catch((err: unknown) => {
      // Controllers that cannot start leave this replica useless as a leader: exit, and let the
      // Deployment restart it while a standby takes the lease.
      log.error("controllers failed to start", { err: err instanceof Error ? err.message : String(err) });
      void shutdown("startup failure", 1);
    });
    return transition;
  },
  onStoppedLeading: () => {
    metrics.setLeader(false);
    log.warn("lost the leader lease: stopping controllers");
    transition = transition.then(stopControllers);
    return transition;
  },
});

const health = await startHealthServer({
  port: settings.health.port,
  host: settings.health.host,
  metrics,
  // A standby is ready (it stands by); the leader once its caches have synced.
  isReady: () => conn.connected && (!elector.isLeader || controllersReady),
});
log.info("operator started", { nats: config.natsUrl, lease: `${settings.lease.namespace}/${settings.lease.name}`, healthPort: health.port, watchNamespaces: settings.watchNamespaces.length ? settings.watchNamespaces : "all" });
elector.start();

let closing = false;
async function shutdown(why: string, code = 0): Promise<void> {
  if (closing) return;
  closing = true;
  log.info("operator shutting down", { why });
  // Controllers first, so nothing reconciles once the lease is released to a standby.
  await transition.catch(() => undefined);
  await stopControllers();
  await elector.stop().catch((err: unknown) => log.warn("could not release the lease", { err: err instanceof Error ? err.message : String(err) }));
  await health.close().catch(() => undefined);
  await conn.close().catch(() => undefined);
  kc.destroy();
  leaseKc.destroy();
  process.exit(code);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
