// How fast failures reach the dead-letter queue: N tasks queued, each failing at once with a
// non-retryable error (the worker terminates it; the server's advisory goes to the dead-letter
// mover, which writes the entry and the task's dead-lettered state). One worker (concurrency 32,
// with its mover) starts once all are queued; measured from its start until the DLQ holds N and
// the advisory stream is empty, on a fresh NATS.
//   npx tsx bench/dead-letter-rate.ts [tasks, default 20000] [--out file.json]
import { writeFile } from "node:fs/promises";
import { loadConfig } from "../kit/config.js";
import { startNatsServer } from "../kit/nats-server.js";
import { connectJetq } from "../kernel/connection.js";
import { NonRetryableError } from "../kernel/errors.js";
import { silentLogger } from "../kernel/logger.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { TOPOLOGY } from "../kernel/topology.js";
import { Worker } from "../worker/runtime.js";
import { benchRegistry, load, NOOP_TYPE, pipelined, rate, REPO_ROOT, waitUntil } from "./lib.js";

const args = process.argv.slice(2);
const outAt = args.indexOf("--out");
const out = outAt >= 0 ? args.splice(outAt, 2)[1]! : `${REPO_ROOT}/bench/results/dead-letter-rate.json`;
const TASKS = Number(args[0] ?? 20_000);

const nats = await startNatsServer({});
const cfg = loadConfig({ NATS_URL: nats.url, LOG_LEVEL: "error", JETQ_CONCURRENCY: "32", JETQ_WORKER_METRICS_PORT: "0" });
const registry = benchRegistry();
const producer = await connectJetq(cfg.natsUrl, cfg.topology, { name: "bench-producer" });
const queue = taskQueueFor(producer, registry, { defaultTimeoutSeconds: 60 });
const workerConn = await connectJetq(cfg.natsUrl, cfg.topology, { name: "bench-worker", consumersFor: { taskTypes: [] } });
const messages = async (stream: string) => (await producer.jsm.streams.info(stream)).state.messages;

const loadBefore = load();
const ids: string[] = new Array(TASKS);
await pipelined(TASKS, 256, async (i) => {
  ids[i] = (await queue.create({ type: NOOP_TYPE, payload: { i } })).record.id;
});
const worker = new Worker({ conn: workerConn, registry, config: cfg.worker, log: silentLogger() }).handle(NOOP_TYPE, async () => {
  throw new NonRetryableError("this input can never work", "bad_input");
});
const t0 = performance.now();
await worker.start();
let ranAt = 0;
await waitUntil(async () => {
  if (!ranAt && (await messages(TOPOLOGY.tasksStream)) === 0) ranAt = performance.now();
  return (await messages(TOPOLOGY.dlqStream)) >= TASKS && (await messages(TOPOLOGY.advisoryStream)) === 0;
}, "every failure to reach the DLQ", 900_000, 100);
const ms = performance.now() - t0;
const runMs = ranAt - t0;
// Spot check: an evenly spread sample of records says failed and dead-lettered.
const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(TASKS / 100)) === 0);
const notDead = [];
for (const id of sample) {
  const r = (await producer.state.get(id))?.record;
  if (r?.status !== "failed" || !r.deadLettered) notDead.push(`${id}: ${r?.status ?? "missing"}`);
}
await worker.stop(5_000);
await Promise.all([workerConn.close(), producer.close()]);
await nats.stop();

const result = {
  machine: { cpus: (await import("node:os")).cpus()[0]?.model, loadBefore, loadAfter: load() },
  tasks: TASKS,
  allFailedMs: Math.round(runMs),
  allDeadLetteredMs: Math.round(ms),
  deadLettersPerSec: rate(TASKS, ms),
  sampleChecked: sample.length,
  sampleNotDeadLettered: notDead,
};
console.log(JSON.stringify(result, null, 2));
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
