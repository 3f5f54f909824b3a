// What a client is told when it creates a task: an error either left no task behind, or it carries
// the task's id and says the outcome is unknown; a retry with the same idempotencyKey never
// duplicates. And what a create refuses before anything is stored.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JetqClientError } from "../../client/index.js";
import { clientError } from "../support/client-calls.js";
import { clientOf, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

describe("creating a task while NATS is frozen", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    stack.nats.resume();
    await stack.stop();
  });

  it("answers within a few seconds with the task id and 'outcome unknown', and the task then runs once", async () => {
    const label = `frozen-${randomUUID()}`;
    stack.nats.pause();
    let err: JetqClientError;
    const started = Date.now();
    try {
      err = await clientError(clientOf(stack).createTask({ type: "record", payload: { label } }));
    } finally {
      stack.nats.resume();
    }
    const tookMs = Date.now() - started;
    expect(err).toMatchObject({ status: 503, code: "outcome_unknown", details: { outcome: "unknown" } });
    expect(err.retryAfterSeconds).toBeGreaterThan(0);
    const taskId = (err.details as { taskId: string }).taskId;
    expect(taskId).toMatch(/^[0-9a-f-]{36}$/);
    expect(tookMs).toBeLessThan(5_000); // the old answer came after 10 s

    // The message was held by the frozen server, which stores it when it thaws: the client can
    // look it up by the id it was given, and it runs exactly once.
    const done = await waitFor("the unconfirmed task to finish", async () => {
      const s = await clientOf(stack).getTask(taskId); // 404 until it is stored: keep polling
      return s.status === "succeeded" && s;
    });
    expect(done.id).toBe(taskId);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would run in this time
    expect(stack.ran.labels.filter((l) => l === label)).toHaveLength(1);
  });

  it("a retry with the same idempotencyKey after an unconfirmed create queues the task once", async () => {
    const label = `keyed-${randomUUID()}`;
    const body = { type: "record", payload: { label }, idempotencyKey: `frozen-key-${label}` };
    stack.nats.pause();
    const client = clientOf(stack);
    let first: JetqClientError;
    try {
      first = await clientError(client.createTask(body));
    } finally {
      stack.nats.resume();
    }
    expect(first.status).toBe(503);
    expect(["unavailable", "outcome_unknown"]).toContain(first.code);

    const again = await client.createTask(body); // 202
    const third = await client.createTask(body); // 202
    expect(third.id).toBe(again.id);
    expect(third.created).toBe(false);
    const unconfirmed = (first.details as { taskId?: string } | null)?.taskId;
    if (unconfirmed) expect(again.id).toBe(unconfirmed);

    await waitFor("the keyed task to finish", async () => (await taskStatus(stack, again.id)).status === "succeeded");
    await new Promise((r) => setTimeout(r, 500));
    expect(stack.ran.labels.filter((l) => l === label)).toHaveLength(1);
  });
});

describe("creates refused before anything is stored", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ documents: true, workers: 0 });
  });
  afterAll(async () => {
    await stack.stop();
  });

  const total = async () => (await stack.api("GET", "/api/tasks?limit=1")).body.total as number;

  it("refuses ids in payloads that are not jetq ids, as ids in paths are", async () => {
    // Hostile ids, sent raw.
    const before = await total();
    for (const payload of [{ sourceId: "*" }, { sourceId: ">" }, { sourceId: "not-a-uuid" }]) {
      const res = await stack.api("POST", "/api/tasks", { type: "sync_sources", payload });
      expect(res.status, JSON.stringify(payload)).toBe(422);
      expect(res.body.error.code).toBe("invalid_payload");
      expect(JSON.stringify(res.body.error.details)).toContain("sourceId");
    }
    for (const bookId of ["*", "books.>", "../etc", "x".repeat(40)]) {
      const res = await stack.api("POST", "/api/tasks", { type: "generate_embeddings", payload: { bookId } });
      expect(res.status, bookId).toBe(422);
      expect(JSON.stringify(res.body.error.details)).toContain("bookId");
    }
    expect(await total()).toBe(before);
  });

  it("refuses a quiz or embeddings for a book that does not exist", async () => {
    const before = await total();
    const bookId = randomUUID();
    for (const type of ["create_quiz", "generate_embeddings"]) {
      const err = await clientError(clientOf(stack).createTask({ type, payload: { bookId } }));
      expect(err, type).toMatchObject({ status: 422, code: "book_not_found" });
      expect(err.message).toContain(bookId);
    }
    expect(await total()).toBe(before);
  });

  it("refuses a body that is not valid UTF-8 instead of reading it as U+FFFD", async () => {
    const before = await total();
    // Two keys that differ only in their invalid bytes would both decode to "key-\uFFFD".
    for (const bad of [Buffer.from([0xff]), Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80])]) {
      const body = Buffer.concat([Buffer.from('{"type":"sync_sources","payload":{},"idempotencyKey":"key-'), bad, Buffer.from('"}')]);
      const res = await fetch(`${stack.baseUrl}/api/tasks`, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(res.status).toBe(400);
      const json = (await res.json()) as { error: { code: string; message: string } };
      expect(json.error.code).toBe("invalid_utf8");
    }
    expect(await total()).toBe(before);
    // Valid UTF-8 beyond ASCII is fine.
    expect(await clientOf(stack).createTask({ type: "sync_sources", payload: {}, idempotencyKey: "clé-😀" })).toMatchObject({ status: "queued", created: true });
  });
});
