// The typed client against a real stack: every method once, each answer parsed with the schema
// the OpenAPI document is generated from; errors as one JetqClientError carrying the server's
// status, code, message and details; a task's events until the end.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetqClient, JetqClientError, type TaskEvent, type TaskStatusView } from "../../client/index.js";
import { documentTaskTypes } from "../../library/task-types.js";
import { startStack, type Stack } from "../support/stack.js";
import { testRegistry } from "../support/test-types.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let client: JetqClient;
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "jetq-client-"));
  stack = await startStack({ documents: true, registry: documentTaskTypes(testRegistry()), workers: 1, env: { JETQ_SOURCES_ROOT: root, JETQ_SYNC_SCHEDULER_MS: "3600000" } });
  client = new JetqClient({ baseUrl: `${stack.baseUrl}/` });
});
afterAll(async () => {
  await stack?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

/** The error a call fails with (the test fails if it does not fail). */
async function failure(call: Promise<unknown>): Promise<JetqClientError> {
  const err = await call.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(JetqClientError);
  return err as JetqClientError;
}

const ended = (id: string) =>
  waitFor(`task ${id} to end`, async () => {
    const s = await client.getTask(id);
    return ["succeeded", "failed", "cancelled"].includes(s.status) && s;
  }, 60_000, 50);

describe("JetqClient: tasks", () => {
  it("creates, reads, lists and watches a task until it ends", async () => {
    const accepted = await client.createTask({ type: "echo", payload: { value: "typed", progressSteps: 3, stepMs: 150 } });
    expect(accepted).toMatchObject({ status: "queued", statusUrl: `/api/tasks/${accepted.id}/status`, created: true });

    const events: TaskEvent[] = [];
    for await (const e of client.watchTask(accepted.id)) events.push(e);
    expect(events.at(-1)).toMatchObject({ event: "end", data: { id: accepted.id, status: "succeeded", result: { echoed: "typed" } } });
    expect(events.filter((e) => e.event === "end")).toHaveLength(1);
    expect(events.some((e) => e.event === "progress" || (e.event === "status" && e.data.status === "running"))).toBe(true);
    // Every event carries the id to resume from; resuming after the end sends nothing.
    const endId = events.at(-1)!.id!;
    const resumed: TaskEvent[] = [];
    for await (const e of client.watchTask(accepted.id, { lastEventId: endId })) resumed.push(e);
    expect(resumed).toEqual([]);

    const status = await client.getTask(accepted.id);
    expect(status).toMatchObject({ id: accepted.id, type: "echo", priority: "normal", status: "succeeded", attempts: 1, progress: { percent: 100 } });
    expect(status.finishedAt).toEqual(expect.any(String));
    const page = await client.listTasks({ type: "echo", status: "succeeded", limit: 10 });
    expect(page).toMatchObject({ total: 1, limit: 10, offset: 0 });
    expect(page.items.map((t) => t.id)).toEqual([accepted.id]);

    const replay = await client.createTask({ type: "echo", payload: { value: "once" }, idempotencyKey: "client-test" });
    expect(await client.createTask({ type: "echo", payload: { value: "once" }, idempotencyKey: "client-test" })).toMatchObject({ id: replay.id, created: false });
  });

  it("cancels a running task and reports the queue", async () => {
    const { id } = await client.createTask({ type: "sleep", payload: { ms: 60_000 } });
    await waitFor("running", async () => (await client.getTask(id)).status === "running");
    const queue = await client.queue();
    expect(queue).toMatchObject({ inFlight: 1, byPriority: { high: 0, normal: 1, low: 0 }, workers: { count: 1 } });
    const cancelled = await client.cancelTask(id);
    expect(cancelled).toMatchObject({ id, status: "cancelled" });
  });

  it("throws one typed error with the server's status, code, message and details", async () => {
    const unknownType = await failure(client.createTask({ type: "no_such_type", payload: {} }));
    expect(unknownType).toMatchObject({ status: 422, code: "unknown_task_type", details: { known: expect.arrayContaining(["echo"]) } });
    expect(unknownType.message).toContain("no_such_type");

    const badPayload = await failure(client.createTask({ type: "sleep", payload: { ms: "soon" } }));
    expect(badPayload).toMatchObject({ status: 422, code: "invalid_payload", details: [expect.objectContaining({ path: "ms" })] });

    const missing = await failure(client.getTask("00000000-0000-4000-8000-000000000000"));
    expect(missing).toMatchObject({ status: 404, code: "not_found" });
    const notAnId = await failure(client.cancelTask("not-a-uuid"));
    expect(notAnId).toMatchObject({ status: 404, code: "not_found" });
    expect((await failure(client.listTasks({ limit: 0 })))).toMatchObject({ status: 400, code: "invalid_query", details: [expect.objectContaining({ path: "limit" })] });
    // A finished task cannot be cancelled: 409.
    const done = await client.createTask({ type: "echo", payload: {} });
    await ended(done.id);
    expect(await failure(client.cancelTask(done.id))).toMatchObject({ status: 409 });

    // No server at all: status 0, network_error.
    const nowhere = new JetqClient({ baseUrl: "http://127.0.0.1:9" });
    expect(await failure(nowhere.health())).toMatchObject({ status: 0, code: "network_error" });
  });

  it("sends the API key and goes through the fetch it is given", async () => {
    const seen: { url: string; authorization: string | null }[] = [];
    const keyed = new JetqClient({
      baseUrl: stack.baseUrl,
      apiKey: "s3cret",
      fetch: async (input, init) => {
        seen.push({ url: String(input), authorization: new Headers(init?.headers).get("authorization") });
        return fetch(input, init);
      },
    });
    expect(await keyed.health()).toEqual({ status: "ok" });
    expect(seen).toEqual([{ url: `${stack.baseUrl}/healthz`, authorization: "Bearer s3cret" }]);
  });
});

describe("JetqClient: dead letters", () => {
  it("lists, reads, replays and discards dead-lettered tasks, one and in bulk", async () => {
    const { id } = await client.createTask({ type: "poison", payload: {} });
    const entry = await waitFor("the dead letter", () => client.dlq.get(id), 30_000);
    expect(entry).toMatchObject({ task: { id, type: "poison" }, reason: "terminated", attempts: 1, error: { code: "bad_input", retryable: false } });
    expect((await client.dlq.list({ type: "poison" })).items.map((e) => e.task.id)).toEqual([id]);

    const replayed: TaskStatusView = await client.dlq.retry(id);
    expect(replayed).toMatchObject({ id, status: "queued" });
    await waitFor("dead again", async () => (await client.dlq.get(id)).deadLetteredAt !== entry.deadLetteredAt, 30_000);
    await client.dlq.delete(id);
    expect(await failure(client.dlq.get(id))).toMatchObject({ status: 404 });

    const { id: other } = await client.createTask({ type: "poison", payload: {} });
    await waitFor("the second dead letter", () => client.dlq.get(other), 30_000);
    expect(await client.dlq.retryMany({ type: "poison" })).toEqual({ retried: [other], errors: [] });
    await waitFor("dead again", async () => (await client.dlq.list({ type: "poison" })).total === 1, 30_000);
    expect(await client.dlq.deleteMany({ all: true })).toEqual({ deleted: 1 });
    expect((await client.dlq.list()).total).toBe(0);
    expect(await failure(client.dlq.deleteMany({ type: "" }))).toMatchObject({ status: 400, code: "filter_required" });
  });
});

describe("JetqClient: library", () => {
  const text = "The archivist catalogued brass astrolabes in the north tower. ".repeat(30);

  it("uploads, lists, reads, searches, quizzes and deletes a book", async () => {
    const { books } = await client.books.upload([{ name: "astrolabes.txt", data: text, contentType: "text/plain" }], { priority: "high" });
    expect(books).toEqual([expect.objectContaining({ filename: "astrolabes.txt", duplicate: false, status: "queued" })]);
    const [book] = books;
    expect((await ended(book!.taskId!)).status).toBe("succeeded");
    expect(await client.books.get(book!.bookId)).toMatchObject({ bookId: book!.bookId, filename: "astrolabes.txt" });
    const page = await client.books.list({ limit: 10 });
    expect(page.items.map((b) => b.bookId)).toContain(book!.bookId);
    expect(page.nextCursor).toBeNull();

    const found = await waitFor("the book in search", async () => {
      const r = await client.search("brass astrolabes", { k: 3, bookId: book!.bookId });
      return r.results.length > 0 && r;
    }, 60_000, 200);
    expect(found.results[0]).toMatchObject({ bookId: book!.bookId, text: expect.stringContaining("astrolabes") });

    const quizTask = await client.createTask({ type: "create_quiz", payload: { bookId: book!.bookId, questionCount: 2 } });
    const quizDone = await ended(quizTask.id);
    expect(quizDone.status).toBe("succeeded");
    const quizId = (quizDone.result as { quizId: string }).quizId;
    expect(await client.quizzes.get(quizId)).toMatchObject({ questions: expect.any(Array) });

    // The same bytes again: the existing book.
    const again = await client.books.upload([{ name: "copy.txt", data: new TextEncoder().encode(text) }]);
    expect(again.books[0]).toMatchObject({ bookId: book!.bookId, duplicate: true });

    await client.books.delete(book!.bookId);
    expect(await failure(client.books.get(book!.bookId))).toMatchObject({ status: 404, code: "not_found" });
    expect(await failure(client.search("   "))).toMatchObject({ status: 400, code: "invalid_query" });
  });

  it("speaks the legacy /rag endpoints", async () => {
    const one = await client.rag.addDocument({ name: "one.txt", data: "a first legacy document" });
    expect(one).toMatchObject({ status: "queued", task_id: expect.any(String) });
    const batch = await client.rag.addDocuments([{ name: "two.txt", data: "a second legacy document" }, { name: "three.txt", data: "a third legacy document" }]);
    expect(batch.map((b) => b.filename)).toEqual(["two.txt", "three.txt"]);
    const legacy = await client.rag.task(one.task_id!);
    expect(legacy).toMatchObject({ task_id: one.task_id, state: expect.any(String), status: expect.stringMatching(/^(PENDING|STARTED|RETRY|SUCCESS|FAILURE|REVOKED)$/) });
  });

  it("registers, lists, reads, syncs and removes a source", async () => {
    await writeFile(join(root, "falconry.txt"), "Falconry is the hunting of wild quarry with a trained bird of prey.");
    const source = await client.sources.create({ kind: "directory", name: "notes", path: root });
    expect(source).toMatchObject({ kind: "directory", name: "notes" });
    expect((await client.sources.list()).items.map((s) => s.id)).toEqual([source.id]);
    const sync = await client.sources.sync(source.id);
    expect(sync.statusUrl).toBe(`/api/tasks/${sync.id}/status`);
    expect((await ended(sync.id)).status).toBe("succeeded");
    const detail = await client.sources.get(source.id);
    expect(detail.documents).toHaveLength(1);
    await client.sources.delete(source.id);
    expect(await failure(client.sources.get(source.id))).toMatchObject({ status: 404 });
    const refused = await failure(client.sources.create({ kind: "directory", path: "/etc" }));
    expect(refused).toMatchObject({ status: 422, code: "source_not_allowed" });
  });
});

describe("JetqClient: operations", () => {
  it("reads health, readiness, metrics and the OpenAPI document", async () => {
    expect(await client.health()).toEqual({ status: "ok" });
    expect(await client.ready()).toEqual({ status: "ready" });
    expect(await client.metrics()).toContain("jetq_queue_depth");
    const doc = (await client.openapi()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/api/tasks/{id}/events");
  });
});
