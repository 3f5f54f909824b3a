// GET /api/tasks search filters (what the web view's task search uses): a payload field, an
// idempotency key, priority and creation time, on queued and on started tasks, walked by cursor;
// bad values are 400s; and the single-task answer carries the payload and idempotency key.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientOf, createTask, startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";
import type { TaskListOptions } from "../../client/index.js";

/** Every id a search lists, following nextCursor (pages may be short). */
async function searchAll(stack: Stack, options: TaskListOptions): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1_000; pages++) {
    const page = await clientOf(stack).listTasks({ ...options, limit: 7, ...(cursor ? { cursor } : {}) });
    ids.push(...page.items.map((t) => t.id));
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return ids;
}

describe("task search", () => {
  let stack: Stack;
  const started: string[] = [];
  const queued: string[] = [];
  let before = "";
  let keyed = "";

  beforeAll(async () => {
    stack = await startStack({ workers: 1 });
    // Started ones (they run and succeed), then queued ones with no worker to take them.
    for (let i = 0; i < 20; i++) started.push(await createTask(stack, { type: "echo", payload: { value: { color: i % 4 === 0 ? "blue" : "red", lang: i % 2 ? "en" : "fr", n: i } }, priority: i % 5 === 0 ? "high" : "normal" }));
    await waitFor("them all done", async () => (await clientOf(stack).listTasks({ status: "succeeded", limit: 100 })).items.length === 20);
    await Promise.all(stack.workers.map((w) => w.stop(1_000)));
    before = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 10; i++) queued.push(await createTask(stack, { type: "echo", payload: { value: { color: i % 2 ? "blue" : "green" } }, ...(i === 3 ? { idempotencyKey: "nightly-2026-12-02" } : {}) }));
    keyed = queued[3]!;
  }, 90_000);
  afterAll(async () => stack?.stop());

  it("finds tasks by a payload field, on both logs, walked by cursor", async () => {
    const blue = await searchAll(stack, { payload: "value.color=blue" });
    const expected = [...queued.filter((_, i) => i % 2), ...started.filter((_, i) => i % 4 === 0)];
    expect(blue.sort()).toEqual(expected.sort());
    expect((await searchAll(stack, { payload: "value.color=blue", status: "queued" })).sort()).toEqual(queued.filter((_, i) => i % 2).sort());
    // A nested field, and a number compared as text.
    expect((await searchAll(stack, { payload: "value.lang=en" })).sort()).toEqual(started.filter((_, i) => i % 2).sort());
    expect(await searchAll(stack, { payload: "value.n=7" })).toEqual([started[7]]);
    expect(await searchAll(stack, { payload: "value=x" })).toEqual([]); // an object is not a value
    expect(await searchAll(stack, { payload: "value.color=purple" })).toEqual([]);
  });

  it("finds the task made with an idempotency key, and filters by priority and creation time", async () => {
    expect(await searchAll(stack, { idempotencyKey: "nightly-2026-12-02" })).toEqual([keyed]);
    expect((await searchAll(stack, { priority: "high" })).sort()).toEqual(started.filter((_, i) => i % 5 === 0).sort());
    expect((await searchAll(stack, { createdAfter: before })).sort()).toEqual([...queued].sort());
    expect((await searchAll(stack, { createdBefore: before, status: "succeeded" })).sort()).toEqual([...started].sort());
    const page = await clientOf(stack).listTasks({ payload: "value.color=blue", limit: 100 });
    expect(page.total === null || page.totalExact).toBe(true); // no estimate pretends to count a search
  });

  it("the single-task answer carries the payload and idempotency key; listings and events do not", async () => {
    const one = await clientOf(stack).getTask(keyed);
    expect(one).toMatchObject({ payload: { value: { color: "blue" } }, idempotencyKey: "nightly-2026-12-02" });
    const listed = (await clientOf(stack).listTasks({ idempotencyKey: "nightly-2026-12-02" })).items[0]!;
    expect(listed.payload).toBeUndefined();
  });

  it("refuses malformed search values with 400, naming the parameter", async () => {
    for (const [query, param] of [
      ["payload=novalue", "payload"],
      ["payload=a..b%3Dc", "payload"],
      ["priority=urgent", "priority"],
      ["createdAfter=yesterday", "createdAfter"],
      ["createdBefore=2026-13-01T00:00:00Z", "createdBefore"],
    ] as const) {
      const res = await stack.api("GET", `/api/tasks?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path), query).toContain(param);
    }
  });
});
