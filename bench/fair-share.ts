// Fair share within a priority (issue #11): tenant "big" queues 10,000 tasks, then tenant "small"
// queues 10, all normal priority; then one worker (concurrency 8) starts and works them off, each
// task a 2 ms handler. Measured per mode — fair share at its default (JETQ_FAIR_SHARE_QUEUED=10)
// and off (0) — on a fresh NATS each: how long the small tenant's tasks waited from their create
// to their start, and how many of the big tenant's tasks started before the small tenant's last.
//   npx tsx bench/fair-share.ts [big tasks, default 10000] [small tasks, default 10]
import { writeFile } from "node:fs/promises";
import { loadConfig } from "../kit/config.js";
import { startNatsServer } from "../kit/nats-server.js";
import { connectJetq } from "../kernel/connection.js";
import { silentLogger } from "../kernel/logger.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { Worker } from "../worker/runtime.js";
import { benchRegistry, latencySummary, load, NOOP_TYPE, pipelined, REPO_ROOT, sleep, waitUntil } from "./lib.js";

const BIG = Number(process.argv[2] ?? 10_000);
const SMALL = Number(process.argv[3] ?? 10);
const HANDLER_MS = 2;

async function run(fairShareQueued: number | undefined) {
  const nats = await startNatsServer({});
  const cfg = loadConfig({ NATS_URL: nats.url, LOG_LEVEL: "error", JETQ_CONCURRENCY: "8", JETQ_WORKER_METRICS_PORT: "0", ...(fairShareQueued !== undefined ? { JETQ_FAIR_SHARE_QUEUED: String(fairShareQueued) } : {}) });
  const registry = benchRegistry();
  const producer = await connectJetq(cfg.natsUrl, cfg.topology, { name: "bench-producer" });
  const queue = taskQueueFor(producer, registry, { defaultTimeoutSeconds: 60 });
  const workerConn = await connectJetq(cfg.natsUrl, cfg.topology, { name: "bench-worker", consumersFor: { taskTypes: [] } });

  await pipelined(BIG, 256, (i) => queue.create({ type: NOOP_TYPE, payload: { tenant: "big", i } }, { tenant: "big" }));
  const createdAt = new Map<number, number>();
  for (let i = 0; i < SMALL; i++) {
    createdAt.set(i, Date.now());
    await queue.create({ type: NOOP_TYPE, payload: { tenant: "small", i } }, { tenant: "small" });
  }

  const started: { tenant: string; i: number; at: number }[] = [];
  const worker = new Worker({ conn: workerConn, registry, config: cfg.worker, log: silentLogger() }).handle(NOOP_TYPE, async (ctx) => {
    const p = ctx.payload as { tenant: string; i: number };
    started.push({ tenant: p.tenant, i: p.i, at: Date.now() });
    await sleep(HANDLER_MS);
    return null;
  });
  const t0 = Date.now();
  await worker.start();
  await waitUntil(() => started.length >= BIG + SMALL, "every task to start", 600_000, 50);
  const drainMs = Date.now() - t0;
  await worker.stop(5_000);
  await Promise.all([workerConn.close(), producer.close()]);
  await nats.stop();

  const smallStarts = started.filter((s) => s.tenant === "small");
  const lastSmall = Math.max(...smallStarts.map((s) => started.indexOf(s)));
  const waits = smallStarts.map((s) => s.at - createdAt.get(s.i)!);
  return {
    fairShareQueued: cfg.topology.fairShareQueued,
    smallWaitMs: latencySummary(waits),
    bigStartedBeforeLastSmall: started.slice(0, lastSmall).filter((s) => s.tenant === "big").length,
    drainMs,
  };
}

const results = { big: BIG, small: SMALL, handlerMs: HANDLER_MS, load: load(), on: await run(undefined), off: await run(0) };
console.log(JSON.stringify(results, null, 2));
await writeFile(`${REPO_ROOT}bench/results/fair-share.json`, JSON.stringify({ ...results, at: new Date().toISOString() }, null, 2) + "\n");
