// A real worker process for the document pipeline benchmark (bench/pipeline.ts), so its memory can
// be read from /proc on its own: the document task types and their real handlers, configured from
// the environment like worker/main.ts (NATS_URL, JETQ_DATA_DIR for the local vector store,
// JETQ_CONCURRENCY, ...), without the sync scheduler and the metrics server. Prints one JSON line
// when ready; SIGTERM stops it gracefully.
import { loadWorkerProgramConfig } from "../worker/config.js";
import { connectLibrary } from "../library/connection.js";
import { createLogger, silentLogger } from "../kernel/logger.js";
import { documentTaskTypes } from "../library/task-types.js";
import { createPipeline, documentHandlers } from "../worker/handlers/index.js";
import { Worker } from "../worker/runtime.js";

const config = loadWorkerProgramConfig();
// Silent unless JETQ_BENCH_LOGS is set: winston's console transport would share stdout with the ready line.
const log = process.env.JETQ_BENCH_LOGS ? createLogger("bench-pipeline-worker", "debug") : silentLogger();
const registry = documentTaskTypes();
const conn = await connectLibrary(config.natsUrl, config.topology, { name: "bench-pipeline-worker", consumersFor: { taskTypes: config.worker.taskTypes } });
const pipeline = createPipeline(conn, config.documents);
const worker = new Worker({ conn, registry, config: config.worker, log });
for (const [type, handler] of documentHandlers(pipeline)) worker.handle(type, handler);
await worker.start();
process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, workerId: worker.id, embedder: pipeline.embedder.name, vectors: pipeline.vectors.name }) + "\n");

let stopping = false;
process.on("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  await worker.stop();
  await pipeline.vectors.close();
  await conn.close();
  process.exit(0);
});
