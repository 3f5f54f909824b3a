// Failure handling as a user sees it: retries with growing, jittered delays; non-retryable errors
// dead-lettered at once; exhausted attempts dead-lettered through the server's MAX_DELIVERIES
// advisory; dead tasks inspected, replayed and discarded through /api/dlq.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientError, orNotFound } from "../support/client-calls.js";
import { clientOf, createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
beforeAll(async () => {
  // max_deliver 4, backoff base 200 ms (TEST_ENV): attempts 1-4 within a few seconds.
  stack = await startStack({ workers: 1 });
});
afterAll(async () => stack?.stop());

/** The task's dead letter, or null while there is none. */
const dlqEntry = (id: string) => orNotFound(clientOf(stack).dlq.get(id));

describe("retries", () => {
  it("retries a failing task with growing delays until it succeeds", async () => {
    const id = await createTask(stack, { type: "flaky", payload: { succeedOnAttempt: 4 } });
    const sawRetrying = await waitFor("retrying status", async () => {
      const s = await taskStatus(stack, id);
      return s.status === "retrying" && s;
    }, 10_000, 10);
    // Usually attempt 1's error; a busy machine's poll can miss its short retry window.
    const failed = sawRetrying.error.attempt;
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(failed).toBeLessThan(4);
    expect(sawRetrying.error).toMatchObject({ code: "handler_error", message: `attempt ${failed} fails on purpose`, retryable: true });
    expect(Date.parse(sawRetrying.nextAttemptAt)).toBeGreaterThan(Date.parse(sawRetrying.createdAt));

    const done = await waitFor("success", async () => {
      const s = await taskStatus(stack, id);
      return s.status === "succeeded" && s;
    });
    expect(done).toMatchObject({ attempts: 4, result: { attempt: 4 } });
    expect(done.error).toBeUndefined();

    // Backoff: base 200 ms doubling, half of it jittered → gaps at least 100, 200, 400 ms.
    const times = stack.ran.attemptTimes.get(id)!;
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps).toHaveLength(3);
    expect(gaps[0]).toBeGreaterThanOrEqual(100);
    expect(gaps[1]).toBeGreaterThanOrEqual(200);
    expect(gaps[2]).toBeGreaterThanOrEqual(400);
    // …and growing: the third wait (400–800 ms) is longer than the first (100–200 ms).
    expect(gaps[2]).toBeGreaterThan(gaps[0]!);
  });
});

describe("dead-letter queue", () => {
  it("dead-letters a NonRetryableError at once, with its error", async () => {
    const id = await createTask(stack, { type: "poison", payload: {} });
    const entry = await waitFor("the DLQ entry", () => dlqEntry(id));
    expect(entry).toMatchObject({ task: { id, type: "poison" }, reason: "terminated", attempts: 1, error: { code: "bad_input", message: "this input can never work", retryable: false } });
    // The mover writes the entry first, then marks the record: poll for the mark.
    const s = await waitFor("the record marked dead-lettered", async () => {
      const t = await taskStatus(stack, id);
      return t.deadLettered && t;
    });
    expect(s).toMatchObject({ status: "failed", attempts: 1, deadLettered: true, error: { code: "bad_input" } });
  });

  it("dead-letters a task that always fails after max_deliver attempts, through the MAX_DELIVERIES advisory, and replays it", async () => {
    const id = await createTask(stack, { type: "always_fail", payload: { key: "a" } });
    const entry = await waitFor("the DLQ entry", () => dlqEntry(id));
    expect(entry).toMatchObject({ reason: "max_deliveries", attempts: 4, error: { code: "handler_error", message: "this handler always fails", attempt: 4 } });
    expect(stack.ran.attemptTimes.get(id)).toHaveLength(4);
    // The max-delivered message was copied out and deleted from the work stream.
    await waitFor("work stream empty", async () => (await stack.conn.jsm.streams.info("JETQ_TASKS")).state.messages === 0);

    const list = await clientOf(stack).dlq.list({ type: "always_fail" });
    expect(list.items.map((e) => e.task.id)).toContain(id);
    expect((await clientOf(stack).queue()).deadLettered).toBeGreaterThanOrEqual(1);

    // Replay: fresh attempts; make the handler succeed this time by swapping it.
    const worker = stack.workers[0]!;
    worker.handle("always_fail", async (ctx) => ({ replayedOnAttempt: ctx.attempt }));
    const replay = await clientOf(stack).dlq.retry(id); // 202
    expect(replay).toMatchObject({ id, status: "queued", attempts: 0 });
    const done = await waitFor("the replay to succeed", async () => {
      const s = await taskStatus(stack, id);
      return s.status === "succeeded" && s;
    });
    expect(done.result).toEqual({ replayedOnAttempt: 1 });
    expect(await dlqEntry(id)).toBeNull();
  });

  it("discards one entry, and retries or discards in bulk by type", async () => {
    const a = await createTask(stack, { type: "poison", payload: {} });
    const b = await createTask(stack, { type: "poison", payload: {} });
    const c = await createTask(stack, { type: "poison", payload: {} });
    const client = clientOf(stack);
    await waitFor("three entries", async () => (await Promise.all([a, b, c].map(dlqEntry))).every(Boolean));

    await client.dlq.delete(a); // 204
    expect(await dlqEntry(a)).toBeNull();
    expect(await clientError(client.dlq.delete(a))).toMatchObject({ status: 404, code: "not_found" }); // gone already

    const retried = await client.dlq.retryMany({ type: "poison" });
    expect(retried.retried.sort()).toEqual(expect.arrayContaining([b, c].sort()));
    // Poison fails again at once and every replayed task comes back; then discard them in bulk.
    await waitFor("back in the DLQ", async () => (await Promise.all(retried.retried.map(dlqEntry))).every(Boolean));
    const purged = await client.dlq.deleteMany({ type: "poison" });
    expect(purged.deleted).toBeGreaterThanOrEqual(2);
    expect((await client.dlq.list({ type: "poison" })).total).toBe(0);
  });

  it("keeps every entry when given a wildcard for an id, and retries or discards everything with all=true", async () => {
    const ids = [await createTask(stack, { type: "poison", payload: {} }), await createTask(stack, { type: "poison", payload: {} })];
    const client = clientOf(stack);
    await waitFor("two entries", async () => (await Promise.all(ids.map(dlqEntry))).every(Boolean));
    const total = async () => (await client.dlq.list()).total;
    const before = await total();
    expect(before).toBeGreaterThanOrEqual(2);
    // Ids become NATS subjects; `*` or `>` there would match every dead task. Sent raw: the
    // client would escape them.
    for (const id of ["*", "%3E", "jetq.*"]) {
      expect((await stack.api("DELETE", `/api/dlq/${id}`)).status).toBe(404);
      expect((await stack.api("POST", `/api/dlq/${id}/retry`)).status).toBe(404);
      expect((await stack.api("GET", `/api/dlq/${id}`)).status).toBe(404);
    }
    expect(await total()).toBe(before);

    const retried = await client.dlq.retryMany({ all: true });
    expect(retried.retried).toEqual(expect.arrayContaining(ids));
    await waitFor("back in the DLQ", async () => (await Promise.all(ids.map(dlqEntry))).every(Boolean));
    const purged = await client.dlq.deleteMany({ all: true });
    expect(purged.deleted).toBeGreaterThanOrEqual(2);
    expect(await total()).toBe(0);
  });
});

describe("results that cannot be stored", () => {
  it("fails a task whose result is larger than NATS accepts, once, with result_too_large", async () => {
    const id = await createTask(stack, { type: "echo", payload: { resultBytes: 2_000_000 } });
    const entry = await waitFor("the DLQ entry", () => dlqEntry(id));
    expect(entry).toMatchObject({ attempts: 1, reason: "terminated", error: { code: "result_too_large", retryable: false } });
    expect(await taskStatus(stack, id)).toMatchObject({ status: "failed", attempts: 1, error: { code: "result_too_large" } });
  });
});

describe("time limits", () => {
  it("aborts a handler at its soft time limit and abandons it at the hard limit", async () => {
    // timeoutSeconds 1: the soft limit aborts the signal; a handler that ignores it is abandoned
    // after the 1 s grace (TEST_ENV) and the attempt counts as failed.
    const soft = await createTask(stack, { type: "sleep", payload: { ms: 30_000 }, timeoutSeconds: 1, maxAttempts: 1 });
    const hard = await createTask(stack, { type: "sleep", payload: { ms: 30_000, ignoreSignal: true }, timeoutSeconds: 1, maxAttempts: 1 });
    const s = await waitFor("soft limit failure", async () => {
      const r = await taskStatus(stack, soft);
      return r.status === "failed" && r;
    });
    expect(s.error.code).toBe("soft_time_limit");
    const h = await waitFor("hard limit failure", async () => {
      const r = await taskStatus(stack, hard);
      return r.status === "failed" && r;
    });
    expect(h.error.code).toBe("hard_time_limit");
  });
});
