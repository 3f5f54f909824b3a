// The queued index is held in memory by NATS and rebuilt from the work stream when it is lost: a
// NATS restart, or an upgrade from the version whose index was file-stored. Through either, every
// waiting task is still found by id (a lookup may answer 503 "try again" while the index is being
// rebuilt, never 404), can be cancelled, and runs once.
import { afterEach, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { StorageType } from "@nats-io/jetstream";
import { kvStream, scanKv } from "../../kernel/kv-scan.js";
import { INLINE_RECORD_BYTES } from "../../kernel/queued-entry.js";
import { COMPLETE_KEY } from "../../kernel/queued-index.js";
import { QueuedIndexKeeper } from "../../kernel/queued-index-keeper.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import { TASK_ID_HEADER, taskSubject, TENANT_HEADER, TOPOLOGY } from "../../kernel/topology.js";
import { createTask, startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** Every id's status as the API answers it; a 404 is a lost task and fails the test at once. */
async function statuses(s: Stack, ids: string[]): Promise<{ found: Map<string, string>; retry: number }> {
  const found = new Map<string, string>();
  let retry = 0;
  for (const id of ids) {
    const res = await s.api("GET", `/api/tasks/${id}/status`);
    if (res.status === 404) throw new Error(`task ${id} answered 404 while it waits: ${JSON.stringify(res.body)}`);
    if (res.status === 503) {
      expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
      retry++;
    } else if (res.status === 200) found.set(id, res.body.status);
  }
  return { found, retry };
}

async function allFound(s: Stack, ids: string[]) {
  return waitFor("every waiting task found by id", async () => {
    const { found } = await statuses(s, ids);
    return found.size === ids.length && [...found.values()].every((st) => st === "queued") && found;
  }, 60_000, 200);
}

const liveEntries = async (s: Stack, bucket: string) => (await scanKv(s.conn.jsm, bucket)).filter((e) => !e.key.startsWith("_"));

describe("the queued index", () => {
  it("is rebuilt after a NATS restart: every waiting task is found again, cancelled, and the rest run once", { timeout: 120_000 }, async () => {
    stack = await startStack({ workers: 0 });
    const big = "x".repeat(INLINE_RECORD_BYTES * 4); // its record is read from the work stream, not the index
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) ids.push(await createTask(stack, { type: "record", payload: { label: i % 50 === 0 ? `${i}-${big}` : String(i) } }));
    await allFound(stack, ids);
    expect(await stack.api("GET", `/api/tasks/${crypto.randomUUID()}/status`)).toMatchObject({ status: 404 });

    await stack.nats.restart(); // a one-node server holds memory streams in memory only: the index is gone
    await allFound(stack, ids);
    const s = stack;
    await waitFor("the index complete again", async () => (await s.conn.queued.complete()) || null, 30_000);
    expect((await liveEntries(stack, TOPOLOGY.queuedBucket)).length).toBe(ids.length);
    expect(await stack.api("GET", `/api/tasks/${crypto.randomUUID()}/status`)).toMatchObject({ status: 404 });
    expect((await stack.record(ids[0]!)).payload).toEqual({ label: `0-${big}` });

    const cancelled = await stack.api("POST", `/api/tasks/${ids[1]}/cancel`);
    expect(cancelled).toMatchObject({ status: 200, body: { status: "cancelled" } });
    await stack.startWorker();
    await waitFor("the others to succeed", async () => {
      const views = await Promise.all(ids.map((id) => s.api("GET", `/api/tasks/${id}/status`)));
      return views.every((v, i) => v.body.status === (i === 1 ? "cancelled" : "succeeded"));
    }, 60_000, 250);
    expect(stack.ran.labels.length).toBe(ids.length - 1);
    await waitFor("the index to empty as workers take tasks", async () => (await liveEntries(s, TOPOLOGY.queuedBucket)).length === 0, 30_000);
  });

  it("migrates a store written by the version with a file-stored index, once, and removes the old bucket", { timeout: 120_000 }, async () => {
    stack = await startStack({ workers: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) ids.push(await createTask(stack, { type: "record", payload: { label: String(i) } }));
    // What that version left: the work messages (the same layout), its entries in the file-stored
    // `jetq-queued` bucket, and no `jetq-waiting` bucket.
    const entries = await liveEntries(stack, TOPOLOGY.queuedBucket);
    expect(entries.length).toBe(ids.length);
    await stack.conn.jsm.streams.delete(kvStream(TOPOLOGY.queuedBucket));
    const legacy = await new Kvm(stack.conn.js).create(TOPOLOGY.legacyQueuedBucket, { history: 1, storage: StorageType.File, markerTTL: 60_000 });
    for (const e of entries) await legacy.put(e.key, e.value);

    const keeper = new QueuedIndexKeeper(stack.conn);
    // The API's own keeper may be at it too: then this one finds it done ("complete") or its lock held ("busy").
    const outcome = await keeper.check();
    expect(["rebuilt", "complete", "busy"]).toContain(outcome.outcome);
    await allFound(stack, ids);
    const s = stack;
    await waitFor("the old bucket removed", async () => {
      try {
        await s.conn.jsm.streams.info(kvStream(TOPOLOGY.legacyQueuedBucket));
        return false;
      } catch {
        return true;
      }
    }, 30_000);
    expect((await liveEntries(stack, TOPOLOGY.queuedBucket)).length).toBe(ids.length);
    expect((await scanKv(stack.conn.jsm, TOPOLOGY.queuedBucket)).some((e) => e.key === COMPLETE_KEY)).toBe(true);
    await waitFor("the index complete", async () => (await s.conn.queued.complete()) || null, 30_000);
    expect(await keeper.check()).toEqual({ outcome: "complete" }); // idempotent: nothing more to do

    await stack.startWorker();
    await waitFor("all to succeed", async () => (await Promise.all(ids.map((id) => s.api("GET", `/api/tasks/${id}/status`)))).every((v) => v.body.status === "succeeded"), 60_000, 250);
    expect(stack.ran.labels.length).toBe(ids.length);
  });

  it("reads work messages as the version before wrote them (id and tenant in headers): indexed again, run, and taken off the tenant's count", { timeout: 120_000 }, async () => {
    stack = await startStack({ workers: 0 });
    const tenant = "acme";
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      // That version: a random UUID, Nats-Msg-Id = id, and the id and tenant in headers as well.
      const id = crypto.randomUUID();
      const record = { id, type: "record", payload: { label: `old-${i}` }, priority: "normal", maxAttempts: 3, timeoutSeconds: 60, createdAt: new Date().toISOString(), tenant, status: "queued", attempts: 0, progress: { percent: 0 } };
      await stack.conn.publisher.publish(taskSubject("normal", "record"), JSON.stringify(record), { msgId: id, headers: { [TASK_ID_HEADER]: id, [TENANT_HEADER]: tenant } });
      stack.conn.backlog.added(tenant); // as its create counted it
      ids.push(id);
    }
    // And one of today's creates for the same tenant, whose message names the tenant only in its record.
    const queue = taskQueueFor(stack.conn, stack.registry, { defaultTimeoutSeconds: 60 });
    ids.push((await queue.create({ type: "record", payload: { label: "new" } }, { tenant })).record.id);
    // Another tenant's long task keeps the work stream from emptying, which would clear every count.
    await queue.create({ type: "sleep", payload: { ms: 60_000 } }, { tenant: "other" });

    await stack.nats.restart(); // the index is gone; the keeper rebuilds it from the messages' headers
    await allFound(stack, ids);
    const s = stack;
    await waitFor("the tenant's count to include them", async () => (await s.conn.backlog.estimate(tenant)) >= 21 || null, 30_000, 200);
    await stack.startWorker();
    await waitFor("all to succeed", async () => (await Promise.all(ids.map((id) => s.api("GET", `/api/tasks/${id}/status`)))).every((v) => v.body.status === "succeeded"), 60_000, 250);
    await waitFor("the tenant's count back to zero", async () => (await s.conn.backlog.estimate(tenant)) === 0 || null, 30_000, 200);
  });

  it("does not index, when rebuilding, a task a worker is running", { timeout: 120_000 }, async () => {
    stack = await startStack({ workers: 1, env: { JETQ_CONCURRENCY: "1" } });
    const running = await createTask(stack, { type: "sleep", payload: { ms: 60_000 } });
    const s = stack;
    await waitFor("the sleep task to run", async () => (await s.api("GET", `/api/tasks/${running}/status`)).body.status === "running");
    const queued = await createTask(stack, { type: "sleep", payload: { ms: 1 } });

    await stack.conn.jsm.streams.delete(kvStream(TOPOLOGY.queuedBucket));
    const outcome = await new QueuedIndexKeeper(stack.conn).check();
    expect(["rebuilt", "complete", "busy"]).toContain(outcome.outcome);
    await waitFor("the index complete", async () => (await s.conn.queued.complete()) || null, 30_000);
    // The running task's message is still on the work stream (unacknowledged), but it has a state record.
    const onStream = (await stack.conn.jsm.streams.info(TOPOLOGY.tasksStream)).state.messages;
    expect(onStream).toBeGreaterThanOrEqual(1);
    expect((await liveEntries(stack, TOPOLOGY.queuedBucket)).map((e) => e.key)).not.toContain(running);
    expect((await stack.api("GET", `/api/tasks/${running}/status`)).body.status).toBe("running");
    expect((await stack.api("GET", `/api/tasks/${queued}/status`)).status).toBe(200);
  });
});
