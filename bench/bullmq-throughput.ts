// (a) BullMQ on redis-server: N no-op jobs added with Queue.addBulk in chunks of 1000 while a
// Worker (no-op processor) runs; done when the worker has emitted `completed` N times (BullMQ
// emits it after the job is moved to completed in Redis, the counterpart of jetq's succeeded record).
import { Queue, Worker } from "bullmq";
import type { ThroughputResult } from "./jetq-throughput.js";
import { now, rate, waitUntil } from "./lib.js";

export interface BullOptions {
  tasks: number;
  concurrency: number;
  /** true: completed jobs are deleted (common in production); false: BullMQ's default, they are kept. */
  removeOnComplete: boolean;
}

const CHUNK = 1000;
let runs = 0;

function setUp(redisPort: number, o: BullOptions) {
  const name = `bench-${process.pid}-${++runs}`;
  const connection = { host: "127.0.0.1", port: redisPort };
  const queue = new Queue(name, { connection, defaultJobOptions: { removeOnComplete: o.removeOnComplete, removeOnFail: true } });
  let completed = 0;
  let failed = 0;
  const worker = new Worker(name, async () => null, { connection, concurrency: o.concurrency, autorun: false });
  worker.on("completed", () => completed++);
  worker.on("failed", () => failed++);
  const addAll = async () => {
    for (let i = 0; i < o.tasks; i += CHUNK) {
      const n = Math.min(CHUNK, o.tasks - i);
      await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name: "noop", data: { i: i + k } })));
    }
  };
  const done = () => {
    if (failed) throw new Error(`${failed} BullMQ jobs failed`);
    return completed >= o.tasks;
  };
  const tearDown = async () => {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  };
  return { queue, worker, addAll, done, tearDown };
}

export async function bullEndToEnd(redisPort: number, o: BullOptions): Promise<ThroughputResult> {
  const b = setUp(redisPort, o);
  try {
    await b.queue.waitUntilReady();
    await b.worker.waitUntilReady();
    void b.worker.run();
    const t0 = now();
    await b.addAll();
    await waitUntil(b.done, "BullMQ to finish");
    const ms = now() - t0;
    return { tasks: o.tasks, ms: Math.round(ms), tasksPerSec: rate(o.tasks, ms) };
  } finally {
    await b.tearDown();
  }
}

export async function bullPhases(redisPort: number, o: BullOptions): Promise<{ publish: ThroughputResult; drain: ThroughputResult }> {
  const b = setUp(redisPort, o);
  try {
    await b.queue.waitUntilReady();
    await b.worker.waitUntilReady();
    let t0 = now();
    await b.addAll();
    const publishMs = now() - t0;
    t0 = now();
    void b.worker.run();
    await waitUntil(b.done, "BullMQ to finish");
    const drainMs = now() - t0;
    return {
      publish: { tasks: o.tasks, ms: Math.round(publishMs), tasksPerSec: rate(o.tasks, publishMs) },
      drain: { tasks: o.tasks, ms: Math.round(drainMs), tasksPerSec: rate(o.tasks, drainMs) },
    };
  } finally {
    await b.tearDown();
  }
}
