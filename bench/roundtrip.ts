// (b) Single-task round trip: one task at a time, from the client's create call until the client
// sees it finished. A warm-up runs first and is not counted.
//  - jetq, shared watch: one KV watch over the state bucket (updates only) for the whole run, the
//    counterpart of BullMQ's QueueEvents; the client waits for the task's succeeded record.
//  - jetq, per-task watch: after create, conn.state.watch(id), as GET /api/tasks/{id}/events does.
//  - BullMQ: queue.add, then job.waitUntilFinished(queueEvents).
import { Kvm } from "@nats-io/kv";
import { KvWatchInclude } from "@nats-io/kv";
import { Queue, QueueEvents, Worker as BullWorker } from "bullmq";
import { connectJetq } from "../core/connection.js";
import { silentLogger } from "../core/logger.js";
import { TaskQueue } from "../core/task-queue.js";
import { isTerminal, type TaskRecord } from "../core/task.js";
import { TOPOLOGY } from "../core/topology.js";
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
  const queue = new TaskQueue(producer, registry, { defaultTimeoutSeconds: cfg.worker.defaultTimeoutSeconds, maxDeliver: cfg.topology.maxDeliver });

  // One watcher for every task: finished ids land in `finished`, a waiter is woken if present.
  const kv = await new Kvm(producer.js).open(TOPOLOGY.stateBucket);
  const watcher = await kv.watch({ include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true });
  const finished = new Set<string>();
  const waiters = new Map<string, () => void>();
  const watching = (async () => {
    for await (const e of watcher) {
      if (e.operation !== "PUT" || !e.value.length) continue;
      if (!isTerminal(e.json<TaskRecord>().status)) continue;
      const wake = waiters.get(e.key);
      if (wake) wake();
      else finished.add(e.key);
    }
  })();
  const viaSharedWatch = async () => {
    const t0 = now();
    const { record } = await queue.create({ type: NOOP_TYPE, payload: {} });
    if (!finished.delete(record.id)) await new Promise<void>((resolve) => waiters.set(record.id, resolve));
    waiters.delete(record.id);
    return now() - t0;
  };
  const viaPerTaskWatch = async () => {
    const t0 = now();
    const { record } = await queue.create({ type: NOOP_TYPE, payload: {} });
    const w = await producer.state.watch(record.id);
    for await (const e of w) {
      if (e.operation === "PUT" && e.value.length && isTerminal(e.json<TaskRecord>().status)) break;
    }
    w.stop();
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
    watcher.stop();
    await watching;
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
