// (b) Single-task round trip: one task at a time, from the client's create call until the client
// sees it finished. A warm-up runs first and is not counted.
//  - jetq, shared listener: one subscription to every task's state events for the whole run, the
//    counterpart of BullMQ's QueueEvents; the client waits for the task's succeeded record.
//  - jetq, per-task listener: after create, subscribe to the task's events and read its state, as
//    GET /api/tasks/{id}/events does.
//  - BullMQ: queue.add, then job.waitUntilFinished(queueEvents).
import { Queue, QueueEvents, Worker as BullWorker } from "bullmq";
import { connectJetq } from "../kernel/connection.js";
import { silentLogger } from "../kernel/logger.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { isTerminal } from "../kernel/task.js";
import { TaskEvents } from "../kernel/task-events.js";
import { Worker } from "../worker/runtime.js";
import { benchConfig, benchRegistry, latencySummary, NOOP_TYPE, now, type LatencySummary } from "./lib.js";

export interface RoundTripOptions {
  samples: number;
  warmup: number;
  concurrency: number;
}

export async function jetqRoundTrip(natsUrl: string, o: RoundTripOptions): Promise<{ sharedWatch: LatencySummary; perTaskWatch: LatencySummary }> {
  const cfg = benchConfig(natsUrl, o.concurrency);
  const registry = benchRegistry();
  const producer = await connectJetq(cfg.natsUrl, cfg.topology, { name: "bench-rt-client" });
  const workerConn = await connectJetq(cfg.natsUrl, cfg.topology, { name: "bench-rt-worker", consumersFor: { taskTypes: [] } });
  const worker = new Worker({ conn: workerConn, registry, config: cfg.worker, log: silentLogger() }).handle(NOOP_TYPE, async () => null);
  const queue = taskQueueFor(producer, registry, { defaultTimeoutSeconds: cfg.worker.defaultTimeoutSeconds });

  // One listener for every task's state changes (the server republishes each write; the
  // counterpart of BullMQ's QueueEvents): finished ids land in `finished`, a waiter is woken.
  const events = new TaskEvents(producer.nc);
  const finished = new Set<string>();
  const waiters = new Map<string, () => void>();
  const all = events.subscribe("*", (e) => {
    if (!e.record || !isTerminal(e.record.status)) return;
    const wake = waiters.get(e.id);
    if (wake) wake();
    else finished.add(e.id);
  });
  const viaSharedWatch = async () => {
    const t0 = now();
    const { record } = await queue.create({ type: NOOP_TYPE, payload: {} });
    if (!finished.delete(record.id)) await new Promise<void>((resolve) => waiters.set(record.id, resolve));
    waiters.delete(record.id);
    return now() - t0;
  };
  // What GET /api/tasks/{id}/events does: subscribe to this task's events, then read its state.
  const viaPerTaskWatch = async () => {
    const t0 = now();
    const { record } = await queue.create({ type: NOOP_TYPE, payload: {} });
    await new Promise<void>((resolve) => {
      const sub = events.subscribe(record.id, (e) => {
        if (e.record && isTerminal(e.record.status)) {
          sub.stop();
          resolve();
        }
      });
      void producer.state.get(record.id).then((s) => {
        if (s && isTerminal(s.record.status)) {
          sub.stop();
          resolve();
        }
      });
    });
    const ms = now() - t0;
    finished.delete(record.id);
    return ms;
  };

  try {
    await worker.start();
    const sample = async (one: () => Promise<number>) => {
      for (let i = 0; i < o.warmup; i++) await one();
      const out: number[] = [];
      for (let i = 0; i < o.samples; i++) out.push(await one());
      return latencySummary(out);
    };
    const sharedWatch = await sample(viaSharedWatch);
    const perTaskWatch = await sample(viaPerTaskWatch);
    return { sharedWatch, perTaskWatch };
  } finally {
    all.stop();
    await worker.stop(1_000);
    await producer.close();
    await workerConn.close();
  }
}

export async function bullRoundTrip(redisPort: number, o: RoundTripOptions): Promise<LatencySummary> {
  const name = `bench-rt-${process.pid}`;
  const connection = { host: "127.0.0.1", port: redisPort };
  // Completed jobs are kept (BullMQ's default): with removeOnComplete, waitUntilFinished can find
  // the job already gone and reject instead of resolving.
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  const worker = new BullWorker(name, async () => null, { connection, concurrency: o.concurrency });
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);
    const one = async () => {
      const t0 = now();
      const job = await queue.add("noop", {});
      await job.waitUntilFinished(events, 30_000);
      return now() - t0;
    };
    for (let i = 0; i < o.warmup; i++) await one();
    const out: number[] = [];
    for (let i = 0; i < o.samples; i++) out.push(await one());
    return latencySummary(out);
  } finally {
    await worker.close();
    await events.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}
