// The worker process: config → NATS (topology and this pool's consumers ensured) → handlers →
// pull loop. SIGTERM drains gracefully: finish in-flight work within the grace period, hand back the rest.
import { loadWorkerProgramConfig } from "./config.js";
import { connectLibrary } from "../library/connection.js";
import { createLogger } from "../kernel/logger.js";
import { documentTaskTypes } from "../library/task-types.js";
import { createPipeline, documentHandlers } from "./handlers/index.js";
import { SyncScheduler } from "./sync-scheduler.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { startMetricsServer } from "./metrics-server.js";
import { sweepStaleBookDirs } from "./documents/temp-dirs.js";
import { Worker } from "./runtime.js";

const config = loadWorkerProgramConfig();
const log = createLogger("jetq-worker", config.logLevel);
const registry = documentTaskTypes();

// Temporary copies of books whose worker died mid-book (on this host): their cleanup never ran.
const swept = await sweepStaleBookDirs();
if (swept.length > 0) log.info("removed temporary book folders of workers that are gone", { folders: swept });

const serves = config.worker.taskTypes.length ? config.worker.taskTypes : registry.names();
const conn = await connectLibrary(config.natsUrl, config.topology, { name: "jetq-worker", logger: log, credentials: config.natsCredentials, consumersFor: { taskTypes: config.worker.taskTypes } });
const pipeline = createPipeline(conn, config.documents);
const handlers = documentHandlers(pipeline);
const worker = new Worker({ conn, registry, config: config.worker, log });
for (const type of serves) {
  const handler = handlers.get(type);
  if (handler) worker.handle(type, handler);
  else log.warn(`no handler for ${type}: its tasks will be dead-lettered`, { type });
}
const metricsServer = config.worker.metricsPort > 0 ? await startMetricsServer(worker.metrics, config.worker.metricsPort) : null;
await worker.start();
const queue = taskQueueFor(conn, registry, { defaultTimeoutSeconds: config.defaultTimeoutSeconds, metrics: worker.metrics });
const scheduler = new SyncScheduler(conn, queue, worker.id, config.documents.syncSchedulerMs, log);
scheduler.start();

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info("worker received signal", { signal });
  await scheduler.stop();
  await worker.stop();
  await pipeline.vectors.close();
  metricsServer?.close();
  await conn.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
