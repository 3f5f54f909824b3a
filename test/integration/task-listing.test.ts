// Tasks at depth: work subjects without ids, queued tasks found by id through the queued index,
// cursor listings that never repeat or skip, and messages of an earlier version moved over.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { moveLegacyTasks } from "../../kernel/legacy-tasks.js";
import { TaskListing } from "../../kernel/task-listing.js";
import { scanKv } from "../../kernel/kv-scan.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import type { TaskRecord } from "../../kernel/task.js";
import { PRIORITIES } from "../../kernel/task.js";
import { JetqClientError } from "../../client/index.js";
import { clientOf, createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

/** Every page of a listing, by cursor: the ids in order and how many pages it took. */
async function walk(stack: Stack, query: Record<string, string | number>, limit: number) {
  const client = clientOf(stack);
  const ids: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.listTasks({ ...query, limit, ...(cursor ? { cursor } : {}) });
    ids.push(...page.items.map((t) => t.id));
    cursor = page.nextCursor ?? undefined;
    pages++;
  } while (cursor && pages < 10_000);
  return { ids, pages };
}

describe("queued tasks without workers", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 0 });
  }, 60_000);
  afterAll(async () => stack?.stop());

  it("keeps a handful of subjects on the work stream however many tasks wait, and finds each by id", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) ids.push(await createTask(stack, { type: i % 2 ? "echo" : "record", payload: i % 2 ? { value: i } : { label: `r${i}` }, priority: PRIORITIES[i % 3] }));
    const info = await stack.conn.jsm.streams.info(TOPOLOGY.tasksStream, { subjects_filter: ">" });
    // One subject per priority, type and fair-share lane: past its first 100 waiting tasks
    // (JETQ_FAIR_SHARE_QUEUED) the tenant's tasks go to the overflow lane.
    expect(Object.keys(info.state.subjects ?? {}).sort()).toEqual(
      ["high", "low", "normal", "high-overflow", "low-overflow", "normal-overflow"].flatMap((p) => [`jetq.tasks.${p}.echo`, `jetq.tasks.${p}.record`]).sort(),
    );
    const status = await taskStatus(stack, ids[77]!);
    expect(status).toMatchObject({ id: ids[77], type: "echo", status: "queued", priority: PRIORITIES[77 % 3] });
    const queue = await clientOf(stack).queue();
    expect(queue.byType).toMatchObject({ echo: 60, record: 60 });
    expect(queue.byPriority).toEqual({ high: 40, normal: 40, low: 40 });
  });

  it("cancels a queued task: its message leaves the stream, its status says cancelled", async () => {
    const before = (await clientOf(stack).queue()).depth;
    const id = await createTask(stack, { type: "echo", payload: {} });
    expect((await clientOf(stack).queue()).depth).toBe(before + 1);
    await clientOf(stack).cancelTask(id);
    expect(await taskStatus(stack, id)).toMatchObject({ status: "cancelled" });
    expect((await clientOf(stack).queue()).depth).toBe(before);
  });

  it("pages through queued tasks newest first by cursor, each once, while more arrive", async () => {
    const expected = (await walk(stack, { status: "queued" }, 500)).ids;
    expect(expected.length).toBeGreaterThanOrEqual(120);
    const client = clientOf(stack);
    const seen: string[] = [];
    let page = await client.listTasks({ status: "queued", limit: 17 });
    expect(page.totalExact).toBe(false);
    expect(page.total).toBe(expected.length);
    for (;;) {
      seen.push(...page.items.map((t) => t.id));
      // New tasks land at the top: a walk that began before them neither sees them nor repeats.
      await createTask(stack, { type: "echo", payload: { value: "late" } });
      if (!page.nextCursor) break;
      page = await client.listTasks({ status: "queued", limit: 17, cursor: page.nextCursor });
    }
    expect(seen).toEqual(expected);
    const created = await Promise.all(seen.slice(0, 20).map((id) => stack.record(id)));
    const times = created.map((r) => r.createdAt);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it("filters by type on the server, and a small listing has an exact total", async () => {
    const records = await walk(stack, { type: "record", status: "queued" }, 7);
    expect(records.ids).toHaveLength(60);
    // One page holds them all, so the total is exact. A page stops after its 40 ms budget, which a
    // busy machine (a CI run) can use up before the 60th: then it says so with a cursor, and the
    // same request a moment later is whole.
    const all = await waitFor("a whole first page", async () => {
      const page = await clientOf(stack).listTasks({ type: "record", limit: 500 });
      return page.nextCursor === null && page;
    }, 20_000, 200);
    expect(all).toMatchObject({ total: 60, totalExact: true, nextCursor: null });
    expect(all.items).toHaveLength(60);
  });

  it("refuses a cursor it did not give out, or one given for another filter", async () => {
    const page = await clientOf(stack).listTasks({ status: "queued", limit: 2 });
    for (const query of [`cursor=${encodeURIComponent("not-a-cursor")}`, `status=succeeded&cursor=${page.nextCursor}`, "offset=10001"]) {
      const res = await stack.api("GET", `/api/tasks?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_query");
    }
    await expect(clientOf(stack).listTasks({ type: "echo", cursor: page.nextCursor! })).rejects.toBeInstanceOf(JetqClientError);
  });

  it("lists a task that started while the listing went on, once, as it is now", async () => {
    const older = await createTask(stack, { type: "echo", payload: { value: "starts mid-listing" } });
    const newer = await createTask(stack, { type: "echo", payload: { value: "newest" } });
    const first = await clientOf(stack).listTasks({ limit: 1 });
    expect(first.items.map((t) => t.id)).toEqual([newer]);
    // A worker takes `older` now: its state record lands above where this listing reads the state
    // log, while its message is still on the work stream (a worker acks it only when it ends).
    const queued = await stack.record(older);
    await stack.conn.state.create({ ...queued, status: "running", attempts: 1, startedAt: new Date().toISOString() });
    const ids: string[] = [];
    let cursor = first.nextCursor ?? undefined;
    while (cursor) {
      const page = await clientOf(stack).listTasks({ limit: 50, cursor });
      ids.push(...page.items.map((t) => t.id));
      const mine = page.items.find((t) => t.id === older);
      if (mine) expect(mine.status).toBe("running");
      cursor = page.nextCursor ?? undefined;
    }
    expect(ids.filter((id) => id === older)).toHaveLength(1);
    expect(ids).not.toContain(newer);
  });
});

describe("started tasks", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, env: { JETQ_CONCURRENCY: "16" } });
  }, 60_000);
  afterAll(async () => stack?.stop());

  it("lists finished tasks most recently changed first, and finds a rare one through short pages", async () => {
    const rare = await createTask(stack, { type: "poison", payload: {} });
    await waitFor("the poison task to fail", async () => (await taskStatus(stack, rare)).status === "failed", 30_000);
    const ids: string[] = [];
    for (let i = 0; i < 600; i++) ids.push(await createTask(stack, { type: "echo", payload: { value: i } }));
    await waitFor("all to succeed", async () => (await taskStatus(stack, ids[ids.length - 1]!)).status === "succeeded" && (await clientOf(stack).queue()).depth === 0, 60_000);
    // Each worker's first write removed its task's queued-index entry: the index holds only waiting tasks.
    await waitFor("the queued index to empty", async () => (await scanKv(stack.conn.jsm, TOPOLOGY.queuedBucket)).filter((e) => !e.key.startsWith("_")).length === 0, 10_000);
    const succeeded = await walk(stack, { status: "succeeded", type: "echo" }, 50);
    expect(new Set(succeeded.ids).size).toBe(600);
    expect(succeeded.ids.sort()).toEqual([...ids].sort());
    const failed = await walk(stack, { status: "failed" }, 50);
    expect(failed.ids).toEqual([rare]);
    // A page that runs out of time returns what it has and a cursor: short pages, never stuck.
    const slow = new TaskListing(stack.conn, { budgetMs: 0 });
    const found: string[] = [];
    let pages = 0;
    let cursor: string | undefined;
    do {
      const page = await slow.page({ status: "failed", limit: 50, ...(cursor ? { cursor } : {}) });
      found.push(...page.items.map((t) => t.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(found).toEqual([rare]);
    expect(pages).toBeGreaterThan(2);
    // No filter: queued and started tasks together, each once.
    const everything = await walk(stack, {}, 64);
    expect(new Set(everything.ids).size).toBe(everything.ids.length);
    expect(everything.ids).toHaveLength(601);
  }, 120_000);
});

describe("a store written by the earlier version (task ids in work subjects)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 0 });
  }, 60_000);
  afterAll(async () => stack?.stop());

  it("finds, moves, lists and runs its queued tasks once each", async () => {
    const legacy: TaskRecord[] = [];
    for (let i = 0; i < 25; i++) {
      const id = crypto.randomUUID();
      const record: TaskRecord = { id, type: "record", payload: { label: `legacy-${i}` }, priority: "normal", maxAttempts: 3, timeoutSeconds: 60, createdAt: new Date().toISOString(), status: "queued", attempts: 0, progress: { percent: 0 } };
      await stack.conn.js.publish(`jetq.tasks.normal.record.${id}`, JSON.stringify(record), { msgID: id });
      legacy.push(record);
    }
    // Before the move: looked up by the old subject.
    expect(await taskStatus(stack, legacy[3]!.id)).toMatchObject({ status: "queued", type: "record" });
    expect(await moveLegacyTasks(stack.conn)).toEqual({ moved: 25, left: 0 });
    expect(await moveLegacyTasks(stack.conn)).toEqual({ moved: 0, left: 0 }); // idempotent
    const info = await stack.conn.jsm.streams.info(TOPOLOGY.tasksStream, { subjects_filter: ">" });
    expect(info.state.subjects).toEqual({ "jetq.tasks.normal.record": 25 });
    expect(await taskStatus(stack, legacy[3]!.id)).toMatchObject({ status: "queued" });
    expect((await walk(stack, { type: "record", status: "queued" }, 10)).ids.sort()).toEqual(legacy.map((r) => r.id).sort());

    await stack.startWorker();
    await waitFor("every moved task to succeed", async () => (await Promise.all(legacy.map((r) => taskStatus(stack, r.id)))).every((s) => s.status === "succeeded"), 60_000);
    for (const r of legacy) expect((await taskStatus(stack, r.id)).attempts).toBe(1);
    const labels = stack.ran.labels.filter((l) => l.startsWith("legacy-"));
    expect(labels).toHaveLength(25);
    expect(new Set(labels).size).toBe(25);
  }, 120_000);
});
