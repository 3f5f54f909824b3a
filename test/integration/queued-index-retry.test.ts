// A create whose queued-index entry NATS does not confirm is still a queued task: the process that
// created it finds it by id meanwhile, and writes the entry again in the background until NATS
// takes it, so every process finds it afterwards. Here the index bucket is gone for a while (its
// stream deleted) while the work stream takes the task.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { connectJetq, type JetqConnection } from "../../kernel/connection.js";
import { loadKernelConfig } from "../../kernel/config.js";
import { isLiveEntry } from "../../kernel/kv-live.js";
import { MAX_UNCONFIRMED_BYTES } from "../../kernel/queued-index.js";
import type { TaskQueue } from "../../kernel/task-queue.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import { ensureQueuedIndexBucket, TOPOLOGY } from "../../kernel/topology.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { testRegistry } from "../support/test-types.js";
import { waitFor } from "../support/wait.js";

describe("an unconfirmed queued-index entry", () => {
  let nats: NatsServerHandle;
  let conn: JetqConnection;
  let other: JetqConnection;
  let queue: TaskQueue;
  beforeAll(async () => {
    nats = await startNatsServer();
    const config = loadKernelConfig({ NATS_URL: nats.url });
    conn = await connectJetq(config.natsUrl, config.topology, { name: "creator" });
    other = await connectJetq(config.natsUrl, config.topology, { name: "another-api" });
    queue = taskQueueFor(conn, testRegistry(), { defaultTimeoutSeconds: 60, publishDeadlineMs: 300, publishAttemptMs: 100 });
  });
  afterAll(async () => {
    await Promise.all([conn?.close(), other?.close()]);
    await nats?.stop();
  });

  it("is found by its creator meanwhile, and written again once NATS takes it", async () => {
    await conn.jsm.streams.delete(`KV_${TOPOLOGY.queuedBucket}`);
    const { record, created } = await queue.create({ type: "echo", payload: { value: "kept" } });
    expect(created).toBe(true);
    // The create answered before its batch was written: the creating process finds the task from
    // the entry it holds, first while the write is on its way, then once NATS refused it.
    expect(await queue.get(record.id)).toMatchObject({ id: record.id, status: "queued", payload: { value: "kept" } });
    await waitFor("the refused entry kept for a retry", () => conn.queued.unconfirmedCount === 1 && conn.queued.pendingCount === 0, 30_000, 20);
    const found = await queue.get(record.id);
    expect(found).toMatchObject({ id: record.id, status: "queued", payload: { value: "kept" } });

    // The bucket comes back (the API's keeper makes it again): the retry writes the entry.
    await ensureQueuedIndexBucket(conn.nc, conn.jsm, 1);
    await waitFor("the entry written again", () => conn.queued.unconfirmedCount === 0, 30_000, 100);
    const kv = await new Kvm(other.nc).open(TOPOLOGY.queuedBucket);
    const entry = await kv.get(record.id);
    expect(isLiveEntry(entry)).toBe(true);
    expect(entry!.json<{ seq: number; task: { id: string } }>().task.id).toBe(record.id);
    // Another process finds it through the bucket now.
    expect(await other.queued.entry(record.id)).toMatchObject({ record: { id: record.id, status: "queued" } });
  });

  it("keeps at most MAX_UNCONFIRMED_BYTES of records for the retry; large tasks past it are queued all the same", async () => {
    await conn.jsm.streams.delete(`KV_${TOPOLOGY.queuedBucket}`);
    const value = "x".repeat(900 * 1024); // near NATS's default max_payload of 1 MiB
    const fits = Math.floor(MAX_UNCONFIRMED_BYTES / (value.length + 300));
    // The default publish deadline (3 s) and eight at a time: 37 MB into the work stream must not
    // time out on a loaded machine; each create answers without waiting for its index entry.
    const large = taskQueueFor(conn, testRegistry(), { defaultTimeoutSeconds: 60 });
    const created: Awaited<ReturnType<TaskQueue["create"]>>[] = [];
    while (created.length < fits + 5) {
      created.push(...(await Promise.all(Array.from({ length: Math.min(8, fits + 5 - created.length) }, () => large.create({ type: "echo", payload: { value } })))));
    }
    expect(created.every((c) => c.created)).toBe(true);
    await waitFor("the refused entries settled", () => conn.queued.pendingCount === 0, 60_000, 20);
    expect(conn.queued.unconfirmedCount).toBeGreaterThan(0);
    expect(conn.queued.unconfirmedCount).toBeLessThanOrEqual(fits);
    // Every task was queued all the same: the work stream holds each one.
    const { state } = await conn.jsm.streams.info(TOPOLOGY.tasksStream);
    expect(state.messages).toBeGreaterThanOrEqual(fits + 5);
    await ensureQueuedIndexBucket(conn.nc, conn.jsm, 1);
    await waitFor("the kept entries written again", () => conn.queued.unconfirmedCount === 0, 60_000, 100);
    const kept = await Promise.all(created.map((c) => other.queued.entry(c.record.id)));
    expect(kept.filter(Boolean).length).toBeGreaterThan(0);
    expect(kept.filter(Boolean).length).toBeLessThanOrEqual(fits);
  });
});
