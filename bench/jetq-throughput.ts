// (a) jetq end to end: N no-op tasks through TaskQueue.create (one publish to the work stream) and
// the Worker runtime (handler → succeeded record → ack). Done means the JETQ_TASKS work queue
// is empty (a message is acked only after its succeeded record is written) and every worker's
// succeeded counter adds up to N; a sample of records is read back to check.
import { connectJetq, type JetqConnection } from "../kernel/connection.js";
import { silentLogger } from "../kernel/logger.js";
import { TaskQueue } from "../kernel/task-queue.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { TOPOLOGY } from "../kernel/topology.js";
import { Worker } from "../worker/runtime.js";
import { benchConfig, benchRegistry, NOOP_TYPE, now, pipelined, rate, waitUntil } from "./lib.js";

export interface JetqOptions {
  tasks: number;
  /** Worker instances in this process, each with its own NATS connection. */
  workers: number;
  /** Concurrency (task slots) of each worker. */
  concurrency: number;
  /** Creates in flight at once. */
  window: number;
}

export interface ThroughputResult {
  tasks: number;
  ms: number;
  tasksPerSec: number;
}

async function setUp(natsUrl: string, o: JetqOptions) {
  const cfg = benchConfig(natsUrl, o.concurrency);
  const registry = benchRegistry();
  const log = silentLogger();
  const producer = await connectJetq(cfg.natsUrl, cfg.topology, { name: "bench-producer" });
  const queue = taskQueueFor(producer, registry, { defaultTimeoutSeconds: cfg.worker.defaultTimeoutSeconds });
  const conns: JetqConnection[] = [];
  const workers: Worker[] = [];
  for (let i = 0; i < o.workers; i++) {
    const conn = await connectJetq(cfg.natsUrl, cfg.topology, { name: `bench-worker-${i}`, consumersFor: { taskTypes: [] } });
    conns.push(conn);
    workers.push(new Worker({ conn, registry, config: cfg.worker, log }).handle(NOOP_TYPE, async () => null));
  }
  const ids: string[] = new Array(o.tasks);
  const createAll = () =>
    pipelined(o.tasks, o.window, async (i) => {
      ids[i] = (await queue.create({ type: NOOP_TYPE, payload: { i } })).record.id;
    });
  const queued = async () => (await producer.jsm.streams.info(TOPOLOGY.tasksStream)).state.messages;
  const succeeded = async () => {
    let n = 0;
    for (const w of workers) for (const v of (await w.metrics.tasksFinished.get()).values) if (v.labels.outcome === "succeeded") n += v.value;
    return n;
  };
  const drained = async () => (await queued()) === 0 && (await succeeded()) >= o.tasks;
  const verify = async () => {
    // Read back an evenly spread sample of records: each must say succeeded.
    const step = Math.max(1, Math.floor(o.tasks / 200));
    let checked = 0;
    for (let i = 0; i < o.tasks; i += step) {
      const got = await producer.state.get(ids[i]!);
      if (got?.record.status !== "succeeded") throw new Error(`task ${ids[i]} is ${got?.record.status ?? "missing"}, not succeeded`);
      checked++;
    }
    const total = await succeeded();
    if (total !== o.tasks) throw new Error(`workers report ${total} succeeded, expected ${o.tasks}`);
    return checked;
  };
  const tearDown = async () => {
    await Promise.all(workers.map((w) => w.stop(1_000)));
    await Promise.all([producer, ...conns].map((c) => c.close()));
  };
  return { workers, createAll, drained, verify, tearDown };
}

/** Publishing and working at the same time, from the first create to the last succeeded. */
export async function jetqEndToEnd(natsUrl: string, o: JetqOptions): Promise<ThroughputResult & { verified: number }> {
  const b = await setUp(natsUrl, o);
  try {
    for (const w of b.workers) await w.start();
    const t0 = now();
    await b.createAll();
    await waitUntil(b.drained, "jetq to drain");
    const ms = now() - t0;
    const verified = await b.verify();
    return { tasks: o.tasks, ms: Math.round(ms), tasksPerSec: rate(o.tasks, ms), verified };
  } finally {
    await b.tearDown();
  }
}

/** Creates alone (no worker running), then the workers draining the full queue alone. */
export async function jetqPhases(natsUrl: string, o: JetqOptions): Promise<{ publish: ThroughputResult; drain: ThroughputResult }> {
  const b = await setUp(natsUrl, o);
  try {
    let t0 = now();
    await b.createAll();
    const publishMs = now() - t0;
    t0 = now();
    for (const w of b.workers) await w.start();
    await waitUntil(b.drained, "jetq to drain");
    const drainMs = now() - t0;
    await b.verify();
    return {
      publish: { tasks: o.tasks, ms: Math.round(publishMs), tasksPerSec: rate(o.tasks, publishMs) },
      drain: { tasks: o.tasks, ms: Math.round(drainMs), tasksPerSec: rate(o.tasks, drainMs) },
    };
  } finally {
    await b.tearDown();
  }
}
