// A task's life as a client sees it over REST: created, running with progress, finished with a
// result; the same idempotency key gives the same task; cancel works queued and running; SSE
// streams the changes until the end. It talks through the typed client; a recording fetch keeps
// the HTTP status and headers of the last answer in view.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetqClient, JetqClientError, type TaskEvent } from "../../client/index.js";
import { createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let client: JetqClient;
let last: Response | undefined;
/** The HTTP status and headers of the client's last answer. */
const answer = () => ({ status: last!.status, headers: last!.headers });
beforeAll(async () => {
  stack = await startStack({ workers: 1, env: { JETQ_CONCURRENCY: "2" } });
  client = new JetqClient({ baseUrl: stack.baseUrl, fetch: async (input, init) => (last = await fetch(input, init)) });
});
afterAll(async () => stack?.stop());

describe("task lifecycle over REST", () => {
  it("runs a task to success with progress and result", async () => {
    const res = { body: await client.createTask({ type: "echo", payload: { value: "hello", progressSteps: 4, stepMs: 150 } }) };
    expect(answer().status).toBe(202);
    expect(res.body).toMatchObject({ status: "queued", statusUrl: `/api/tasks/${res.body.id}/status` });

    const seen = new Set<string>();
    const progress: number[] = [];
    const final = await waitFor("the task to succeed", async () => {
      const s = await taskStatus(stack, res.body.id);
      seen.add(s.status);
      if (s.status === "running") progress.push(s.progress.percent);
      return s.status === "succeeded" && s;
    }, 30_000, 20);

    expect(seen.has("running")).toBe(true);
    expect(progress.some((p) => p > 0 && p < 100)).toBe(true);
    expect(final).toMatchObject({ id: res.body.id, type: "echo", priority: "normal", status: "succeeded", attempts: 1, result: { echoed: "hello" }, progress: { percent: 100 } });
    expect(Date.parse(final.createdAt)).toBeLessThanOrEqual(Date.parse(final.startedAt!));
    expect(Date.parse(final.startedAt!)).toBeLessThanOrEqual(Date.parse(final.finishedAt!));
  });

  it("returns the same task for the same idempotency key and enqueues nothing new", async () => {
    const body = { type: "sleep", payload: { ms: 10 }, idempotencyKey: "upload-42" };
    const first = { body: await client.createTask(body) };
    expect(answer().status).toBe(202);
    // The alias path, which the client does not use.
    const second = await stack.api("POST", "/api/tasks/create", body);
    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    await waitFor("the task to succeed", async () => (await taskStatus(stack, first.body.id)).status === "succeeded");
    // After it finished, the key still maps to it: no second run.
    const third = await client.createTask(body);
    expect(third).toMatchObject({ id: first.body.id, status: "succeeded" });
    const list = await client.listTasks({ type: "sleep" });
    expect(list.items.filter((t) => t.id === first.body.id)).toHaveLength(1);
    expect(list.total).toBe(1);

    // Another priority is the same work scheduled differently: still a replay.
    const otherPriority = { body: await client.createTask({ ...body, priority: "high" }), status: answer().status };
    expect(otherPriority).toMatchObject({ status: 202, body: { id: first.body.id, created: false } });
    // The same key for another request is a mistake, said out loud rather than replayed.
    const other = await client.createTask({ ...body, payload: { ms: 11 } }).then(() => null, (err: unknown) => err);
    expect(other).toBeInstanceOf(JetqClientError);
    expect((other as JetqClientError).status).toBe(422);
    expect((other as JetqClientError).body.error).toMatchObject({ code: "idempotency_key_reused", details: { taskId: first.body.id } });
  });

  it("lists tasks newest first with filters and pagination", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await createTask(stack, { type: "echo", payload: { value: i } }));
    await waitFor("all to succeed", async () => ((await client.listTasks({ type: "echo", status: "succeeded" })).total ?? 0) >= 4);
    const page1 = await client.listTasks({ type: "echo", limit: 2 });
    const page2 = await client.listTasks({ type: "echo", limit: 2, cursor: page1.nextCursor! });
    const byOffset = await client.listTasks({ type: "echo", limit: 2, offset: 2 });
    expect(page1.items).toHaveLength(2);
    expect(page1.items[0]!.id).toBe(ids[2]);
    expect(page2.items.map((t) => t.id)).not.toContain(page1.items[0]!.id);
    expect(byOffset.items.map((t) => t.id)).toEqual(page2.items.map((t) => t.id));
    // Not the whole listing in one page: no exact count by type is kept (see README, Listing tasks).
    expect(page1).toMatchObject({ total: null, totalExact: false });
    expect(await client.listTasks({ type: "echo", limit: 500 })).toMatchObject({ total: 4, totalExact: true, nextCursor: null });
  });

  it("cancels a queued task: it never runs", async () => {
    // Fill both slots so the next task waits in the queue.
    const blockers = [await createTask(stack, { type: "sleep", payload: { ms: 3000 } }), await createTask(stack, { type: "sleep", payload: { ms: 3000 } })];
    await waitFor("both blockers running", async () => (await Promise.all(blockers.map((b) => taskStatus(stack, b)))).every((s) => s.status === "running"));
    const queued = await createTask(stack, { type: "record", payload: { label: "must-not-run" } });
    const cancel = await client.cancelTask(queued);
    expect(answer().status).toBe(200);
    expect(cancel.status).toBe("cancelled");
    await waitFor("blockers done", async () => (await Promise.all(blockers.map((b) => taskStatus(stack, b)))).every((s) => s.status === "succeeded"));
    // The cancelled message was dropped by the worker when it reached it.
    await waitFor("the work stream to drain", async () => (await stack.conn.jsm.streams.info("JETQ_TASKS")).state.messages === 0);
    expect(stack.ran.labels).not.toContain("must-not-run");
    expect((await taskStatus(stack, queued)).status).toBe("cancelled");
  });

  it("cancels a running task: its handler is aborted and the slot freed", async () => {
    const id = await createTask(stack, { type: "sleep", payload: { ms: 60_000 } });
    await waitFor("running", async () => (await taskStatus(stack, id)).status === "running");
    const res = await client.cancelTask(id);
    expect(res.status).toBe("cancelled");
    await waitFor("the worker to let go", async () => stack.workers[0]!.busy === 0, 10_000);
    await waitFor("the message to be acked", async () => (await stack.conn.jsm.streams.info("JETQ_TASKS")).state.messages === 0, 10_000);
    const after = await taskStatus(stack, id);
    expect(after.status).toBe("cancelled");
    expect(after.result).toBeUndefined();
    // The handler itself saw the cancel, through its abort signal.
    expect(stack.ran.aborts.get(id)).toBe("cancelled");
  });

  it("streams status and progress over SSE until the task ends", async () => {
    const id = await createTask(stack, { type: "echo", payload: { value: "sse", progressSteps: 3, stepMs: 200 } });
    const events: Extract<TaskEvent, { event: "status" | "progress" | "end" }>[] = [];
    for await (const e of client.watchTask(id)) if (e.event !== "gone") events.push(e); // the server ends the stream when the task ends
    expect(answer().status).toBe(200);
    expect(answer().headers.get("content-type")).toContain("text/event-stream");
    expect(events.some((e) => e.event === "progress" || (e.data.status === "running" && e.data.progress.percent > 0))).toBe(true);
    const lastEvent = events.at(-1)!;
    expect(lastEvent.event).toBe("end");
    expect(lastEvent.data).toMatchObject({ id, status: "succeeded", result: { echoed: "sse" } });
    const percents = events.map((e) => e.data.progress.percent);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents); // progress never goes back

    // EventSource reconnects by itself when a stream closes; having the end, it is told to stop.
    const endId = lastEvent.id!;
    expect(endId).toMatch(/^\d+:\d+$/); // the revision, and the sequence of the last log line (echo logs each step)
    const again: TaskEvent[] = [];
    for await (const e of client.watchTask(id, { lastEventId: endId })) again.push(e);
    expect(answer().status).toBe(204);
    expect(again).toEqual([]);
  });

  it("lists every task while one runs and later ones are done, and finds ids in upper case", async () => {
    const running = await createTask(stack, { type: "sleep", payload: { ms: 3_000 } });
    await waitFor("running", async () => (await taskStatus(stack, running)).status === "running");
    const done = await createTask(stack, { type: "echo", payload: { value: "later" } });
    await waitFor("the later task", async () => (await taskStatus(stack, done)).status === "succeeded");
    for (const query of [{}, { status: "queued" as const }, { status: "running" as const }, { type: "sleep" }]) {
      await client.listTasks(query);
      expect(answer().status, JSON.stringify(query)).toBe(200);
    }
    const all = (await client.listTasks({ limit: 500 })).items.map((t) => t.id);
    expect(all).toEqual(expect.arrayContaining([running, done]));
    expect(await client.getTask(done.toUpperCase())).toMatchObject({ id: done, status: "succeeded" });
    await waitFor("the sleeper", async () => (await taskStatus(stack, running)).status === "succeeded");
  });

  it("reports queue state with depth by priority and type, and the workers", async () => {
    const res = { body: await client.queue() };
    expect(answer().status).toBe(200);
    expect(res.body).toMatchObject({ byPriority: { high: expect.any(Number), normal: expect.any(Number), low: expect.any(Number) }, deadLettered: expect.any(Number) });
    expect(res.body.workers.count).toBe(1);
    expect(res.body.workers.slots).toBe(2);
  });

  it("serves metrics, health, readiness and an OpenAPI document built from the registry", async () => {
    const metrics = await client.metrics();
    expect(metrics).toContain("jetq_queue_depth");
    expect(metrics).toContain("jetq_http_request_duration_seconds");
    expect(metrics).toMatch(/jetq_tasks_created_total\{type="echo",priority="normal"[^}]*\} \d+/);
    await client.health();
    expect(answer().status).toBe(200);
    expect(await client.ready()).toEqual({ status: "ready" });
    const doc = (await client.openapi()) as any;
    expect(doc.openapi).toBe("3.1.0");
    const variants = doc.components.schemas.TaskCreate.oneOf.map((v: { title: string }) => v.title);
    expect(variants).toEqual(expect.arrayContaining(["echo", "sleep", "flaky"]));
  });
});
