// (a) raw JetStream, the floor under jetq: a work-queue stream on file storage (as JETQ_TASKS),
// N 200-byte messages published pipelined with a msg id (as jetq does, for dedupe), consumed by a
// pull consumer with consume() and acked one by one. No state records at all.
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { ThroughputResult } from "./jetq-throughput.js";
import { now, pipelined, rate, waitUntil } from "./lib.js";

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
