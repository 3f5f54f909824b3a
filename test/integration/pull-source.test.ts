// The worker's PullSource on its own, against a real nats-server: an immediate pull answers at once
// on an empty consumer, a long poll answers when a message arrives, and ack / nak(delay) / working /
// term do what JetStream says, measured on the clock. Each test has a consumer of its own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AckPolicy, DeliverPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { parseAckSubject, PullSource, type Delivery } from "../../worker/pull-source.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { waitFor } from "../support/wait.js";

const STREAM = "PULLTEST";
const ms = (n: number) => n * 1_000_000;

interface Received {
  delivery: Delivery;
  fromLongPoll: boolean;
  at: number;
}

describe("PullSource", () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const sources: PullSource[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: STREAM, subjects: ["pull.>"] });
  });
  afterAll(async () => {
    for (const s of sources) s.close();
    await nc.close();
    await nats.stop();
  });

  /** A consumer on `pull.<name>.>` and a PullSource on it that records every delivery. */
  async function source(name: string, ackWaitMs = 30_000) {
    await jsm.consumers.add(STREAM, { durable_name: name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: ms(ackWaitMs), max_deliver: 10, filter_subject: `pull.${name}.>` });
    const received: Received[] = [];
    const src = new PullSource(nc, STREAM, name, (delivery, fromLongPoll) => received.push({ delivery, fromLongPoll, at: Date.now() }));
    sources.push(src);
    const publish = async (n: number) => {
      const seqs: number[] = [];
      for (let i = 0; i < n; i++) seqs.push((await jsm.jetstream().publish(`pull.${name}.m${i}`, `message ${i}`)).seq);
      return seqs;
    };
    const info = () => jsm.consumers.info(STREAM, name);
    return { src, received, publish, info };
  }

  it("an immediate pull on an empty consumer returns 0 at once", async () => {
    const { src, received } = await source("empty");
    const started = Date.now();
    const got = await src.pullNow(10);
    const took = Date.now() - started;
    expect(got).toBe(0);
    expect(received).toHaveLength(0);
    expect(took).toBeLessThan(1_000); // no_wait: the server answers 404 at once; nats.js's fetch() waits 1 s at least
    expect(src.outstanding).toBe(0);
  });

  it("an immediate pull takes at most its batch, with delivery info parsed from the reply subject", async () => {
    const { src, received, publish } = await source("batch");
    const seqs = await publish(5);
    expect(await src.pullNow(3)).toBe(3);
    expect(received.map((r) => new TextDecoder().decode(r.delivery.data))).toEqual(["message 0", "message 1", "message 2"]);
    expect(received.map((r) => r.delivery.subject)).toEqual(["pull.batch.m0", "pull.batch.m1", "pull.batch.m2"]);
    expect(received.map((r) => r.delivery.info)).toEqual([
      { stream: STREAM, consumer: "batch", deliveryCount: 1, streamSeq: seqs[0], pending: 4 },
      { stream: STREAM, consumer: "batch", deliveryCount: 1, streamSeq: seqs[1], pending: 3 },
      { stream: STREAM, consumer: "batch", deliveryCount: 1, streamSeq: seqs[2], pending: 2 },
    ]);
    expect(received.every((r) => !r.fromLongPoll)).toBe(true);
    // Asking for more than is left returns what there is, at once.
    expect(await src.pullNow(10)).toBe(2);
    expect(received.at(-1)!.delivery.info.pending).toBe(0);
    for (const r of received) r.delivery.ack();
  });

  it("a long poll waits for a message and returns when one arrives", async () => {
    const { src, received, publish } = await source("poll");
    const polled = src.longPoll(1, 20_000);
    await waitFor("the long poll to be open", () => src.polling);
    expect(src.outstanding).toBe(0); // a long poll promises no capacity
    await new Promise((r) => setTimeout(r, 300)); // nothing there: the poll is still open
    expect(received).toHaveLength(0);
    const sent = Date.now();
    await publish(1);
    const got = await polled;
    expect(got).toBe(1);
    expect(received[0]!.fromLongPoll).toBe(true);
    expect(received[0]!.at - sent).toBeLessThan(2_000);
    expect(src.polling).toBe(false);
    received[0]!.delivery.ack();
  });

  it("a long poll on an empty consumer ends when it expires", async () => {
    const { src } = await source("expire");
    const started = Date.now();
    expect(await src.longPoll(1, 700)).toBe(0);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(600);
    expect(took).toBeLessThan(3_000); // the server's 408, not the client's safety net (expires + 5 s)
  });

  it("ack: the message is done and never comes back", async () => {
    const { src, received, publish, info } = await source("ack", 1_000);
    await publish(1);
    expect(await src.pullNow(1)).toBe(1);
    expect((await info()).num_ack_pending).toBe(1);
    received[0]!.delivery.ack();
    await waitFor("the ack to be recorded", async () => (await info()).num_ack_pending === 0, 5_000);
    expect((await info()).ack_floor.stream_seq).toBe(received[0]!.delivery.info.streamSeq);
    // Well past the ack wait: nothing is redelivered.
    expect(await src.longPoll(1, 2_500)).toBe(0);
    expect(received).toHaveLength(1);
  });

  it("nak(delay): redelivered after the delay, not before, with the delivery count raised", async () => {
    const { src, received, publish } = await source("nakdelay", 30_000);
    await publish(1);
    await src.pullNow(1);
    const delayMs = 1_200;
    const nakAt = Date.now();
    received[0]!.delivery.nak(delayMs);
    expect(await src.pullNow(1)).toBe(0); // not available during the delay
    expect(await src.longPoll(1, 10_000)).toBe(1);
    const redeliveredAfter = received[1]!.at - nakAt;
    console.log(`nak(${delayMs}): redelivered after ${redeliveredAfter} ms`);
    expect(redeliveredAfter).toBeGreaterThanOrEqual(delayMs - 50);
    expect(redeliveredAfter).toBeLessThan(delayMs + 2_000);
    expect(received[1]!.delivery.info).toMatchObject({ deliveryCount: 2, streamSeq: received[0]!.delivery.info.streamSeq });
    received[1]!.delivery.ack();
  });

  it("nak(): redelivered at once", async () => {
    const { src, received, publish } = await source("naknow", 30_000);
    await publish(1);
    await src.pullNow(1);
    const nakAt = Date.now();
    received[0]!.delivery.nak();
    expect(await src.longPoll(1, 10_000)).toBe(1);
    expect(received[1]!.at - nakAt).toBeLessThan(1_000); // far below the 30 s ack wait
    expect(received[1]!.delivery.info.deliveryCount).toBe(2);
    received[1]!.delivery.ack();
  });

  it("working(): each heartbeat restarts the ack wait, so a live task is not redelivered; a silent one is", async () => {
    const ackWaitMs = 2_000;
    // Control: without heartbeats the message comes back after about one ack wait.
    const silent = await source("silent", ackWaitMs);
    await silent.publish(1);
    await silent.src.pullNow(1);
    expect(await silent.src.longPoll(1, 10_000)).toBe(1);
    const silentAfter = silent.received[1]!.at - silent.received[0]!.at;
    expect(silentAfter).toBeGreaterThanOrEqual(ackWaitMs - 50);
    expect(silentAfter).toBeLessThan(ackWaitMs + 2_000);
    silent.received[1]!.delivery.ack();

    // Heartbeats every quarter ack wait for three ack waits, then silence.
    const alive = await source("alive", ackWaitMs);
    await alive.publish(1);
    await alive.src.pullNow(1);
    const first = alive.received[0]!;
    let lastBeat = Date.now();
    const beats = setInterval(() => {
      first.delivery.working();
      lastBeat = Date.now();
    }, ackWaitMs / 4);
    const polled = alive.src.longPoll(1, 15_000);
    await new Promise((r) => setTimeout(r, 3 * ackWaitMs));
    clearInterval(beats);
    expect(alive.received).toHaveLength(1); // three ack waits, no redelivery
    expect(await polled).toBe(1);
    const afterLastBeat = alive.received[1]!.at - lastBeat;
    const afterFirstDelivery = alive.received[1]!.at - first.at;
    console.log(`ack wait ${ackWaitMs} ms: silent message redelivered after ${silentAfter} ms; with heartbeats for ${3 * ackWaitMs} ms, after ${afterFirstDelivery} ms (${afterLastBeat} ms after the last heartbeat)`);
    expect(afterFirstDelivery).toBeGreaterThanOrEqual(3 * ackWaitMs);
    expect(afterLastBeat).toBeGreaterThanOrEqual(ackWaitMs - 50);
    expect(afterLastBeat).toBeLessThan(ackWaitMs + 2_000);
    expect(alive.received[1]!.delivery.info.deliveryCount).toBe(2);
    alive.received[1]!.delivery.ack();
  });

  it("term(reason): never redelivered, and the server's MSG_TERMINATED advisory carries the reason", async () => {
    const { src, received, publish, info } = await source("term", 1_000);
    const advisories = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${STREAM}.term`, { max: 1 });
    await nc.flush();
    await publish(1);
    await src.pullNow(1);
    received[0]!.delivery.term("task t-42 gave up");
    for await (const m of advisories) {
      expect(m.json()).toMatchObject({ stream: STREAM, consumer: "term", stream_seq: received[0]!.delivery.info.streamSeq, deliveries: 1, reason: "task t-42 gave up" });
    }
    await waitFor("the term to be recorded", async () => (await info()).num_ack_pending === 0, 5_000);
    expect(await src.longPoll(1, 2_500)).toBe(0); // past the ack wait: still nothing
    expect(received).toHaveLength(1);
  });

  it("close(): open requests end at once and lose interest, so the server hands them nothing", async () => {
    const { src, received, publish, info } = await source("closing");
    const polled = src.longPoll(4, 20_000);
    await waitFor("the long poll to reach the server", async () => (await info()).num_waiting === 1, 5_000);
    src.close();
    expect(await polled).toBe(0);
    expect(await src.pullNow(1)).toBe(0); // a closed source pulls nothing
    await publish(1);
    await waitFor("the message to be pending", async () => (await info()).num_pending === 1, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toHaveLength(0);
    expect((await info()).num_ack_pending).toBe(0);
  });
});

describe("parseAckSubject", () => {
  it("reads the short form $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>", () => {
    expect(parseAckSubject("$JS.ACK.JETQ_TASKS.default-high.3.1207.1190.1764633600000000000.17")).toEqual({ stream: "JETQ_TASKS", consumer: "default-high", deliveryCount: 3, streamSeq: 1207, pending: 17 });
  });

  it("reads the long form with domain and account hash", () => {
    expect(parseAckSubject("$JS.ACK.hub.ACCHASH.JETQ_TASKS.default-low.1.88.80.1764633600000000000.0.tok")).toEqual({ stream: "JETQ_TASKS", consumer: "default-low", deliveryCount: 1, streamSeq: 88, pending: 0 });
  });
});
