// The kernel's StreamPublisher on its own, against a real nats-server: publishConfirmed says
// whether an unconfirmed write may still land, and passes a compare-and-set conflict through.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { PublishRejected, PublishUnconfirmedError, StreamPublisher } from "../../kernel/stream-publisher.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { waitFor } from "../support/wait.js";

describe("StreamPublisher.publishConfirmed", () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let publisher: StreamPublisher;
  const confirm = { deadlineMs: 1500, attemptMs: 500 };

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PUB", subjects: ["pub.>"], duplicate_window: 60_000_000_000 });
    publisher = new StreamPublisher(nc);
  });
  afterAll(async () => {
    nats.resume();
    publisher.close();
    await nc.close();
    await nats.stop();
  });

  it("returns the ack, and a repeat with the same message id is a duplicate, not a second message", async () => {
    const first = await publisher.publishConfirmed("pub.a", "one", { msgId: "m1" }, confirm);
    const again = await publisher.publishConfirmed("pub.a", "one", { msgId: "m1" }, confirm);
    expect(first.duplicate).toBe(false);
    expect(again).toMatchObject({ duplicate: true, seq: first.seq });
  });

  it("passes a compare-and-set conflict through as the server's refusal", async () => {
    await publisher.publishConfirmed("pub.cas", "x", { expectLastSubjectSequence: 0 }, confirm);
    const err = await publisher.publishConfirmed("pub.cas", "y", { expectLastSubjectSequence: 0 }, confirm).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishRejected);
    expect((err as PublishRejected).code).toBe(10071);
  });

  it("says nothing can be stored when no stream takes the subject", async () => {
    const started = Date.now();
    const err = await publisher.publishConfirmed("nostream.x", "x", { msgId: "m2" }, confirm).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishUnconfirmedError);
    expect((err as PublishUnconfirmedError).maybeStored).toBe(false);
    expect((err as PublishUnconfirmedError).attempts).toBeGreaterThan(1); // it retried within the deadline
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("says the write may still land when the server froze, and it does land once it thaws", async () => {
    nats.pause();
    let err: unknown;
    try {
      err = await publisher.publishConfirmed("pub.frozen", "x", { msgId: "m3" }, confirm).catch((e: unknown) => e);
    } finally {
      nats.resume();
    }
    expect(err).toBeInstanceOf(PublishUnconfirmedError);
    expect((err as PublishUnconfirmedError).maybeStored).toBe(true);
    const stored = await waitFor("the frozen write to land", async () => (await jsm.streams.info("PUB", { subjects_filter: "pub.frozen" })).state.subjects?.["pub.frozen"], 10_000);
    expect(stored).toBe(1); // every retry carried the same message id: one message
  });
});
