// (a) raw JetStream, the floor under jetq: a work-queue stream on file storage (as JETQ_TASKS),
// N 200-byte messages published pipelined with a msg id (as jetq does, for dedupe), consumed by a
// pull consumer with consume() and acked one by one. No state records at all.
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { ThroughputResult } from "./jetq-throughput.js";
import { latencySummary, now, pipelined, rate, waitUntil, type LatencySummary } from "./lib.js";

export interface RawOptions {
  tasks: number;
  window: number;
  /** Messages the consumer keeps buffered (consume's max_messages). */
  maxMessages: number;
}

const STREAM = "RAW_BENCH";

export async function rawJetStreamEndToEnd(natsUrl: string, o: RawOptions): Promise<ThroughputResult> {
  const pubNc = await connect({ servers: natsUrl, name: "raw-producer" });
  const subNc = await connect({ servers: natsUrl, name: "raw-consumer" });
  try {
    const jsm = await jetstreamManager(pubNc);
    await jsm.streams.add({ name: STREAM, subjects: ["raw.tasks.>"], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    await jsm.consumers.add(STREAM, { durable_name: "raw-workers", ack_policy: AckPolicy.Explicit, max_ack_pending: 50_000 });
    const pubJs = jetstream(pubNc);
    const consumer = await jetstream(subNc).consumers.get(STREAM, "raw-workers");

    const body = new Uint8Array(200).fill(120); // 200 bytes, about the size of a jetq task record
    let acked = 0;
    const t0 = now();
    const messages = await consumer.consume({ max_messages: o.maxMessages });
    const consuming = (async () => {
      for await (const m of messages) {
        m.ack();
        if (++acked >= o.tasks) break;
      }
    })();
    await pipelined(o.tasks, o.window, (i) => pubJs.publish("raw.tasks.noop", body, { msgID: `m-${i}` }));
    await consuming;
    // Acks are fire-and-forget: done when the server has removed every acked message.
    await waitUntil(async () => (await jsm.streams.info(STREAM)).state.messages === 0, "raw stream to empty", 120_000, 5);
    const ms = now() - t0;
    await messages.close();
    return { tasks: o.tasks, ms: Math.round(ms), tasksPerSec: rate(o.tasks, ms) };
  } finally {
    await subNc.drain().catch(() => undefined);
    await pubNc.drain().catch(() => undefined);
  }
}

// (b) raw JetStream round trip, the floor under jetq's: publish a message to a work-queue stream,
// a pull consumer (consume()) receives it and writes a 200-byte record to a second stream that
// republishes every write, as the task-state bucket does; the client waits for that republish.
// Two stored writes and one delivery, with nothing of jetq's on top.
export async function rawJetStreamRoundTrip(natsUrl: string, o: { samples: number; warmup: number }): Promise<LatencySummary> {
  const clientNc = await connect({ servers: natsUrl, name: "raw-rt-client" });
  const workerNc = await connect({ servers: natsUrl, name: "raw-rt-worker" });
  try {
    const jsm = await jetstreamManager(clientNc);
    await jsm.streams.add({ name: "RAW_RT_WORK", subjects: ["raw-rt.work.>"], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    await jsm.streams.add({ name: "RAW_RT_STATE", subjects: ["raw-rt.state.>"], storage: StorageType.File, max_msgs_per_subject: 1, republish: { src: "raw-rt.state.>", dest: "raw-rt.events.>" } });
    await jsm.consumers.add("RAW_RT_WORK", { durable_name: "raw-rt", ack_policy: AckPolicy.Explicit });
    const workerJs = jetstream(workerNc);
    const messages = await (await workerJs.consumers.get("RAW_RT_WORK", "raw-rt")).consume({ max_messages: 100 });
    const record = new Uint8Array(200).fill(120);
    void (async () => {
      for await (const m of messages) {
        await workerJs.publish(`raw-rt.state.${m.subject.slice("raw-rt.work.".length)}`, record);
        m.ack();
      }
    })();
    const waiters = new Map<string, () => void>();
    clientNc.subscribe("raw-rt.events.*", { callback: (_err, m) => waiters.get(m.subject.slice("raw-rt.events.".length))?.() });
    await clientNc.flush();
    const clientJs = jetstream(clientNc);
    const one = async (i: number) => {
      const id = `t${i}`;
      const t0 = now();
      const seen = new Promise<void>((resolve) => waiters.set(id, resolve));
      await clientJs.publish(`raw-rt.work.${id}`, record, { msgID: id });
      await seen;
      waiters.delete(id);
      return now() - t0;
    };
    for (let i = 0; i < o.warmup; i++) await one(i);
    const out: number[] = [];
    for (let i = 0; i < o.samples; i++) out.push(await one(o.warmup + i));
    await messages.close();
    return latencySummary(out);
  } finally {
    await workerNc.drain().catch(() => undefined);
    await clientNc.drain().catch(() => undefined);
  }
}
