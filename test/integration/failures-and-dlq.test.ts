// Failure handling as a user sees it: retries with growing, jittered delays; non-retryable errors
// dead-lettered at once; exhausted attempts dead-lettered through the server's MAX_DELIVERIES
// advisory; dead tasks inspected, replayed and discarded through /api/dlq.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
beforeAll(async () => {
  // max_deliver 4, backoff base 200 ms (TEST_ENV): attempts 1-4 within a few seconds.
  stack = await startStack({ workers: 1 });
});
afterAll(async () => stack?.stop());

const dlqEntry = (id: string) => stack.api("GET", `/api/dlq/${id}`);

describe("retries", () => {
  it("retries a failing task with growing delays until it succeeds", async () => {
    const id = await createTask(stack, { type: "flaky", payload: { succeedOnAttempt: 4 } });
    const sawRetrying = await waitFor("retrying status", async () => {
      const s = await taskStatus(stack, id);
      return s.status === "retrying" && s;
    }, 10_000, 10);
    expect(sawRetrying.error).toMatchObject({ code: "handler_error", message: "attempt 1 fails on purpose", retryable: true, attempt: 1 });
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
    const entry = await waitFor("the DLQ entry", async () => {
      const r = await dlqEntry(id);
      return r.status === 200 && r.body;
    });
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
    const entry = await waitFor("the DLQ entry", async () => {
      const r = await dlqEntry(id);
      return r.status === 200 && r.body;
    });
    expect(entry).toMatchObject({ reason: "max_deliveries", attempts: 4, error: { code: "handler_error", message: "this handler always fails", attempt: 4 } });
    expect(stack.ran.attemptTimes.get(id)).toHaveLength(4);
    // The max-delivered message was copied out and deleted from the work stream.
    await waitFor("work stream empty", async () => (await stack.conn.jsm.streams.info("JETQ_TASKS")).state.messages === 0);

    const list = await stack.api("GET", "/api/dlq?type=always_fail");
    expect(list.body.items.map((e: { task: { id: string } }) => e.task.id)).toContain(id);
    expect((await stack.api("GET", "/api/tasks/queue")).body.deadLettered).toBeGreaterThanOrEqual(1);

    // Replay: fresh attempts; make the handler succeed this time by swapping it.
    const worker = stack.workers[0]!;
    worker.handle("always_fail", async (ctx) => ({ replayedOnAttempt: ctx.attempt }));
    const replay = await stack.api("POST", `/api/dlq/${id}/retry`);
    expect(replay.status).toBe(202);
    expect(replay.body.status).toBe("queued");
    const done = await waitFor("the replay to succeed", async () => {
      const s = await taskStatus(stack, id);
      return s.status === "succeeded" && s;
    });
    expect(done.result).toEqual({ replayedOnAttempt: 1 });
    expect((await dlqEntry(id)).status).toBe(404);
  });

  it("discards one entry, and retries or discards in bulk by type", async () => {
    const a = await createTask(stack, { type: "poison", payload: {} });
    const b = await createTask(stack, { type: "poison", payload: {} });
    const c = await createTask(stack, { type: "poison", payload: {} });
    await waitFor("three entries", async () => (await Promise.all([a, b, c].map(dlqEntry))).every((r) => r.status === 200));

    expect((await stack.api("DELETE", `/api/dlq/${a}`)).status).toBe(204);
    expect((await dlqEntry(a)).status).toBe(404);

    const retried = await stack.api("POST", "/api/dlq/retry", { type: "poison" });
    expect(retried.body.retried.sort()).toEqual(expect.arrayContaining([b, c].sort()));
    // Poison fails again at once and every replayed task comes back; then discard them in bulk.
    const replayed: string[] = retried.body.retried;
    await waitFor("back in the DLQ", async () => (await Promise.all(replayed.map(dlqEntry))).every((r) => r.status === 200));
    const purged = await stack.api("DELETE", "/api/dlq?type=poison");
    expect(purged.body.deleted).toBeGreaterThanOrEqual(2);
    expect((await stack.api("GET", "/api/dlq?type=poison")).body.total).toBe(0);
  });

  it("keeps every entry when given a wildcard for an id, and retries or discards everything with all=true", async () => {
    const ids = [await createTask(stack, { type: "poison", payload: {} }), await createTask(stack, { type: "poison", payload: {} })];
    await waitFor("two entries", async () => (await Promise.all(ids.map(dlqEntry))).every((r) => r.status === 200));
    const total = async () => (await stack.api("GET", "/api/dlq")).body.total as number;
    const before = await total();
    expect(before).toBeGreaterThanOrEqual(2);
    // Ids become NATS subjects; `*` or `>` there would match every dead task.
    for (const id of ["*", "%3E", "jetq.*"]) {
      expect((await stack.api("DELETE", `/api/dlq/${id}`)).status).toBe(404);
      expect((await stack.api("POST", `/api/dlq/${id}/retry`)).status).toBe(404);
      expect((await stack.api("GET", `/api/dlq/${id}`)).status).toBe(404);
    }
    expect(await total()).toBe(before);

    const retried = await stack.api("POST", "/api/dlq/retry", { all: true });
    expect(retried.status).toBe(200);
    expect(retried.body.retried).toEqual(expect.arrayContaining(ids));
    await waitFor("back in the DLQ", async () => (await Promise.all(ids.map(dlqEntry))).every((r) => r.status === 200));
    const purged = await stack.api("DELETE", "/api/dlq?all=true");
    expect(purged.status).toBe(200);
    expect(purged.body.deleted).toBeGreaterThanOrEqual(2);
    expect(await total()).toBe(0);
  });
});

describe("results that cannot be stored", () => {
  it("fails a task whose result is larger than NATS accepts, once, with result_too_large", async () => {
    const id = await createTask(stack, { type: "echo", payload: { resultBytes: 2_000_000 } });
    const entry = await waitFor("the DLQ entry", async () => {
      const r = await dlqEntry(id);
      return r.status === 200 && r.body;
    });
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
