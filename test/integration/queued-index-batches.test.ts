// The queued index in batches: creates made together share one index entry (their ids name it), every
// waiting task is still found by id from any process, and the keeper's compaction removes a batch
// once its tasks have left the work stream, and thins one that a long-waiting task holds back.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { loadConfig } from "../../kit/config.js";
import { connectJetq, type JetqConnection } from "../../kernel/connection.js";
import { batchAgeMs, batchEntry, batchKeyOf, BATCH_KEY_PREFIX, batchMember, batchValue, readBatch, taskIdInBatch, newBatchKey } from "../../kernel/index-batches.js";
import { NotFoundError } from "../../kernel/errors.js";
import { isLiveEntry } from "../../kernel/kv-live.js";
import { isJetqId } from "../../kernel/ids.js";
import { scanKv } from "../../kernel/kv-scan.js";
import { silentLogger } from "../../kernel/logger.js";
import { QueuedIndexKeeper } from "../../kernel/queued-index-keeper.js";
import type { TaskQueue } from "../../kernel/task-queue.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { Worker } from "../../worker/runtime.js";
import { TEST_ENV } from "../support/stack.js";
import { testHandlers, testRegistry } from "../support/test-types.js";
import { waitFor } from "../support/wait.js";

describe("batch ids", () => {
  it("are UUIDs that name their batch; ids of earlier versions name none", () => {
    const key = newBatchKey();
    const ids = Array.from({ length: 100 }, () => taskIdInBatch(key));
    for (const id of ids) {
      expect(isJetqId(id)).toBe(true);
      expect(id[14]).toBe("8"); // version 8
      expect("89ab").toContain(id[19]); // RFC 9562 variant
      expect(batchKeyOf(id)).toBe(key);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(batchKeyOf(randomUUID())).toBeNull();
    expect(batchKeyOf("not-a-task-id")).toBeNull();
    const record = Buffer.from(JSON.stringify({ id: ids[0], status: "queued", note: "ü\"}" }));
    const big = Buffer.from(JSON.stringify({ id: ids[1], pad: "x".repeat(2000) }));
    const entries = readBatch(batchValue([batchMember(ids[0]!, 7, record), batchMember(ids[1]!, 8, big)]));
    expect(entries).toEqual({ [ids[0]!]: { seq: 7, task: { id: ids[0], status: "queued", note: "ü\"}" } }, [ids[1]!]: { seq: 8 } });
    // One entry cut out of the batch without parsing the rest, braces and quotes in strings included.
    const value = batchValue([batchMember(ids[2]!, 6, Buffer.from(JSON.stringify({ id: ids[2], tricky: `{"${ids[0]}":{"seq":1} \\" }` }))), batchMember(ids[0]!, 7, record), batchMember(ids[1]!, 8, big)]);
    expect(batchEntry(value, ids[0]!)).toEqual({ seq: 7, task: { id: ids[0], status: "queued", note: "ü\"}" } });
    expect(batchEntry(value, ids[1]!)).toEqual({ seq: 8 });
    expect(batchEntry(value, ids[3]!)).toBeUndefined();
  });

  it("start with the time their batch was opened, read back with clocks a little apart", () => {
    const now = Date.now();
    expect(batchAgeMs(newBatchKey(now - 1_500), now)).toBe(1_500);
    expect(batchAgeMs(newBatchKey(now), now)).toBe(0);
    // Opened on a clock 800 ms ahead of ours: just opened, not 4.7 hours ago.
    expect(batchAgeMs(newBatchKey(now + 800), now, 2_000)).toBe(0);
    expect(batchAgeMs(newBatchKey(now + 800), now)).toBeGreaterThan(4 * 3600_000);
    expect(batchAgeMs(newBatchKey(now - 3600_000), now)).toBe(3600_000);
  });
});

describe("the queued index in batches", () => {
  let nats: NatsServerHandle;
  let api: JetqConnection;
  let other: JetqConnection;
  let workerConn: JetqConnection;
  let queue: TaskQueue;
  let elsewhere: TaskQueue;
  let worker: Worker;
  beforeAll(async () => {
    nats = await startNatsServer();
    // The worker serves `echo` only: `sleep` tasks wait, as a task of a type whose workers are away.
    const config = loadConfig({ ...TEST_ENV, NATS_URL: nats.url, JETQ_POOL: "echoes", JETQ_TASK_TYPES: "echo" });
    api = await connectJetq(config.natsUrl, config.topology, { name: "api" });
    other = await connectJetq(config.natsUrl, config.topology, { name: "another-api" });
    workerConn = await connectJetq(config.natsUrl, config.topology, { name: "worker", consumersFor: { taskTypes: ["echo"] } });
    queue = taskQueueFor(api, testRegistry(), { defaultTimeoutSeconds: 60 });
    elsewhere = taskQueueFor(other, testRegistry(), { defaultTimeoutSeconds: 60 });
    worker = new Worker({ conn: workerConn, registry: testRegistry(), config: config.worker, log: silentLogger() });
    worker.handle("echo", testHandlers().handlers.echo!);
  });
  afterAll(async () => {
    await worker?.stop(2_000);
    await Promise.all([api?.close(), other?.close(), workerConn?.close()]);
    await nats?.stop();
  });

  const batchEntries = async () => (await scanKv(api.jsm, TOPOLOGY.queuedBucket)).filter((e) => !e.key.startsWith("_"));

  it("creates made at once share a few entries, and another process finds each waiting task by id", async () => {
    const ids = (await Promise.all(Array.from({ length: 300 }, (_, i) => queue.create({ type: "sleep", payload: { ms: 1, marker: `w${i}` } })))).map((r) => r.record.id);
    await api.queued.flush(); // the creates answered before their batches were written
    const entries = await batchEntries();
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.length).toBeLessThanOrEqual(Math.ceil(300 / 8)); // 64 at most a batch; far fewer than one a task
    expect(entries.every((e) => e.key.startsWith(BATCH_KEY_PREFIX))).toBe(true);
    for (const [i, id] of ids.entries()) {
      expect(batchKeyOf(id)).not.toBeNull();
      expect(await elsewhere.get(id)).toMatchObject({ id, status: "queued", payload: { marker: `w${i}` } });
    }
    await Promise.all(ids.map((id) => queue.cancel(id)));
  });

  it("a create answers before its batch is written: its process finds it meanwhile, another waits for the batch", async () => {
    const confirm = { deadlineMs: 3_000, attemptMs: 1_000 };
    // A slot taken in the same turn of the event loop holds the batch open until it is released,
    // as a slower create of the same batch would.
    const hold = api.queued.slot(confirm);
    const { record } = await queue.create({ type: "sleep", payload: { ms: 1, marker: "answered-first" } });
    const key = batchKeyOf(record.id)!;
    expect(key).toBe(batchKeyOf(hold.id));
    const kv = await new Kvm(other.nc).open(TOPOLOGY.queuedBucket);
    expect(isLiveEntry(await kv.get(BATCH_KEY_PREFIX + key))).toBe(false);
    expect(api.queued.pendingCount).toBe(1);
    expect(await queue.get(record.id)).toMatchObject({ id: record.id, status: "queued", payload: { marker: "answered-first" } });

    // Another process (another API replica) asks before the batch is stored: it waits for it.
    const asked = Date.now();
    const lookup = elsewhere.get(record.id);
    setTimeout(() => hold.release(), 300);
    expect(await lookup).toMatchObject({ id: record.id, status: "queued", payload: { marker: "answered-first" } });
    expect(Date.now() - asked).toBeGreaterThanOrEqual(250);
    expect(isLiveEntry(await kv.get(BATCH_KEY_PREFIX + key))).toBe(true);
    expect(api.queued.pendingCount).toBe(0);

    // No wait for an id whose batch is stored without it, nor for one of a batch opened long ago.
    for (const unknown of [taskIdInBatch(key), taskIdInBatch(newBatchKey(Date.now() - 60_000))]) {
      const t0 = Date.now();
      await expect(elsewhere.get(unknown)).rejects.toBeInstanceOf(NotFoundError);
      expect(Date.now() - t0).toBeLessThan(1_000);
    }
    // A recent id that names nothing is a 404 too, once its batch can no longer be on its way.
    const t0 = Date.now();
    await expect(elsewhere.get(taskIdInBatch(newBatchKey(Date.now() - 6_000)))).rejects.toBeInstanceOf(NotFoundError);
    expect(Date.now() - t0).toBeLessThan(4_000);
    await queue.cancel(record.id);
  });

  it("closing a connection stores the batches of the creates it answered", async () => {
    const closing = await connectJetq(nats.url, loadConfig({ ...TEST_ENV, NATS_URL: nats.url }).topology, { name: "closing-api" });
    const hold = closing.queued.slot({ deadlineMs: 3_000, attemptMs: 1_000 });
    const { record } = await taskQueueFor(closing, testRegistry(), { defaultTimeoutSeconds: 60 }).create({ type: "sleep", payload: { ms: 1, marker: "closed" } });
    setTimeout(() => hold.release(), 200);
    await closing.close();
    const kv = await new Kvm(other.nc).open(TOPOLOGY.queuedBucket);
    expect(isLiveEntry(await kv.get(BATCH_KEY_PREFIX + batchKeyOf(record.id)!))).toBe(true);
    expect(await elsewhere.get(record.id)).toMatchObject({ id: record.id, status: "queued" });
    await queue.cancel(record.id);
  });

  it("compaction removes batches whose tasks have run, and thins one that a waiting task holds back", async () => {
    const keeper = new QueuedIndexKeeper(api, { thinAfterMs: 0 });
    expect((await keeper.check()).outcome).toBe("complete");
    await keeper.compact(); // what the last test left (cancelled tasks): gone
    expect(await batchEntries()).toEqual([]);

    // One batch holding a task that will wait (no worker serves `sleep`) among ones that will run.
    const together = await Promise.all([
      queue.create({ type: "sleep", payload: { ms: 1, marker: "waits" } }),
      ...Array.from({ length: 20 }, (_, i) => queue.create({ type: "echo", payload: { value: i } })),
    ]);
    const waiting = together[0]!.record.id;
    const ran = together.slice(1).map((r) => r.record.id);
    expect(new Set(together.map((r) => batchKeyOf(r.record.id))).size).toBe(1);
    // Batches of tasks that all run, after it.
    const later: string[] = [];
    for (let i = 0; i < 3; i++) later.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => queue.create({ type: "echo", payload: { value: `${i}.${j}` } })))).map((r) => r.record.id));
    await api.queued.flush();
    expect((await batchEntries()).length).toBe(4);

    await worker.start();
    await waitFor("the echo tasks to succeed", async () => {
      for (const id of [...ran, ...later]) if ((await queue.get(id)).status !== "succeeded") return false;
      return true;
    }, 30_000, 100);

    // A record that expires (purged here at once) leaves a task that is not waiting: not found,
    // though its batch still holds its queued record until compaction.
    await (await new Kvm(api.nc).open(TOPOLOGY.stateBucket)).purge(ran[0]!);
    expect(await elsewhere.find(ran[0]!)).toBeNull();

    // The waiting task keeps the work stream's first sequence at its own, so only the state
    // records (or their markers) tell the others apart: thinned, the batches behind it removed.
    const outcome = await keeper.compact();
    expect(outcome).toMatchObject({ thinned: 1, removed: 3 });
    const left = await batchEntries();
    expect(left.length).toBe(1);
    expect(Object.keys(readBatch(left[0]!.value))).toEqual([waiting]);
    expect(await elsewhere.get(waiting)).toMatchObject({ id: waiting, status: "queued" });

    // Once it has left the stream too, its batch goes as well.
    await queue.cancel(waiting);
    await keeper.compact();
    expect(await batchEntries()).toEqual([]);
    expect((await elsewhere.get(waiting)).status).toBe("cancelled");
  });
});
