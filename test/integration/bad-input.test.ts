// Bad input gets a clear JSON error with a 4xx status and changes nothing (SPEC.md, REST API):
// no task record, no message on the work stream, no object left in the uploads store.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { documentTaskTypes } from "../../library/task-types.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { clientError } from "../support/client-calls.js";
import { clientOf, createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { testRegistry } from "../support/test-types.js";
import { waitFor } from "../support/wait.js";
import { LIBRARY_TOPOLOGY } from "../../library/topology.js";

const MAX_BODY_BYTES = 2048;
const MAX_UPLOAD_BYTES = 1000;
const MAX_DELIVER = 4; // TEST_ENV's JETQ_MAX_DELIVER

type ApiResponse = { status: number; body: any; headers: Headers };

/** The error a client sees: the status, and `{error:{code,message,details?}}` as JSON. */
function expectError(res: ApiResponse, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(res.body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
  expect(res.body.error.message.length).toBeGreaterThan(0);
  expect(Object.keys(res.body.error).sort()).toEqual(["code", "details", "message"]);
}

/** Sends a multipart form the way a browser would (fetch sets the boundary). */
async function postForm(stack: Stack, path: string, form: FormData): Promise<ApiResponse> {
  const res = await fetch(stack.baseUrl + path, { method: "POST", body: form });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* leave as text: expectError then fails on the shape */
  }
  return { status: res.status, body, headers: res.headers };
}

const fileForm = (field: string, bytes: Uint8Array<ArrayBuffer> | string, filename = "book.txt") => {
  const form = new FormData();
  form.append(field, new Blob([bytes], { type: "text/plain" }), filename);
  return form;
};

describe("bad input is refused and changes nothing", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      registry: documentTaskTypes(testRegistry()),
      documents: true, // the library routes (books, quizzes, sources) too
      workers: 0,
      env: { JETQ_MAX_BODY_BYTES: String(MAX_BODY_BYTES), JETQ_MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** Nothing was created: no task listed, no message on the work stream, no stored upload. */
  async function expectNothingCreated() {
    const list = await stack.api("GET", "/api/tasks");
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(0);
    expect((await stack.conn.jsm.streams.info(TOPOLOGY.tasksStream)).state.messages).toBe(0);
    expect(await stack.conn.uploads.list()).toHaveLength(0);
  }

  describe("POST /api/tasks/create", () => {
    it("refuses malformed JSON with 400 malformed_json", async () => {
      const res = await stack.api("POST", "/api/tasks/create", '{"type": "echo", "payload": {');
      expectError(res, 400, "malformed_json");
      await expectNothingCreated();
    });

    it("refuses a text/plain body with 415", async () => {
      const res = await stack.api("POST", "/api/tasks/create", JSON.stringify({ type: "echo", payload: {} }), { "content-type": "text/plain" });
      expectError(res, 415, "unsupported_media_type");
      await expectNothingCreated();
    });

    it("refuses an empty body with 400", async () => {
      const res = await stack.api("POST", "/api/tasks/create", "");
      expectError(res, 400, "invalid_request");
      await expectNothingCreated();
    });

    it("refuses a JSON array body with 400", async () => {
      const res = await stack.api("POST", "/api/tasks/create", [{ type: "echo", payload: {} }]);
      expectError(res, 400, "invalid_request");
      await expectNothingCreated();
    });

    it("refuses an unknown task type with 422 unknown_task_type, listing the known types", async () => {
      const res = await stack.api("POST", "/api/tasks/create", { type: "no_such_type", payload: {} });
      expectError(res, 422, "unknown_task_type");
      expect(res.body.error.details.known).toEqual(expect.arrayContaining(["echo", "process_book"]));
      await expectNothingCreated();
    });

    it("refuses a body without a type with 400 naming the field", async () => {
      const res = await stack.api("POST", "/api/tasks/create", { payload: { value: 1 } });
      expectError(res, 400, "invalid_request");
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: "type" })]));
      await expectNothingCreated();
    });

    it.each([
      ["a field of the wrong type", { type: "sleep", payload: { ms: "soon" } }, "ms"],
      ["an unknown extra field", { type: "echo", payload: { value: 1, colour: "red" } }, ""],
      ["a missing required field", { type: "record", payload: {} }, "label"],
    ])("refuses a payload with %s with 422 invalid_payload", async (_what, body, path) => {
      const res = await stack.api("POST", "/api/tasks/create", body);
      expectError(res, 422, "invalid_payload");
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
      await expectNothingCreated();
    });

    it.each([
      ["a priority outside high/normal/low", { priority: "urgent" }, "priority"],
      ["maxAttempts 0", { maxAttempts: 0 }, "maxAttempts"],
      ["a negative timeoutSeconds", { timeoutSeconds: -5 }, "timeoutSeconds"],
      ["an unknown top-level field", { retries: 3 }, ""],
    ])("refuses %s with 400 naming the field", async (_what, extra, path) => {
      const res = await stack.api("POST", "/api/tasks/create", { type: "echo", payload: {}, ...extra });
      expectError(res, 400, "invalid_request");
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
      await expectNothingCreated();
    });

    it("refuses a payload nested deeper than 64 levels with 422 invalid_payload", async () => {
      const deep = "[".repeat(200) + "]".repeat(200);
      const res = await stack.api("POST", "/api/tasks/create", `{"type":"echo","payload":{"value":${deep}}}`);
      expectError(res, 422, "invalid_payload");
      expect(res.body.error.details).toEqual([expect.objectContaining({ path: "payload" })]);
      await expectNothingCreated();
    });

    it("refuses an idempotencyKey with a lone surrogate with 400", async () => {
      // As JSON text: \ud800 alone is valid JSON but not well-formed Unicode.
      const res = await stack.api("POST", "/api/tasks/create", '{"type":"echo","payload":{},"idempotencyKey":"a\\ud800"}');
      expectError(res, 400, "invalid_request");
      expect(res.body.error.details).toEqual([expect.objectContaining({ path: "idempotencyKey" })]);
      await expectNothingCreated();
    });

    it("refuses maxAttempts above the consumers' max_deliver with 422", async () => {
      const res = await stack.api("POST", "/api/tasks/create", { type: "echo", payload: {}, maxAttempts: MAX_DELIVER + 1 });
      expectError(res, 422, "invalid_request");
      expect(res.body.error.details).toEqual([expect.objectContaining({ path: "maxAttempts" })]);
      await expectNothingCreated();
    });

    it(`refuses a body larger than JETQ_MAX_BODY_BYTES (${MAX_BODY_BYTES}) with 413`, async () => {
      const res = await stack.api("POST", "/api/tasks/create", { type: "echo", payload: { value: "x".repeat(MAX_BODY_BYTES * 2) } });
      expectError(res, 413, "payload_too_large");
      await expectNothingCreated();
    });

    it("refuses DELETE with 405 and an Allow header", async () => {
      const res = await stack.api("DELETE", "/api/tasks/create");
      expectError(res, 405, "method_not_allowed");
      expect(res.headers.get("allow")).toBe("POST");
      await expectNothingCreated();
    });
  });

  describe("unknown task ids", () => {
    it.each([
      ["GET", "status"],
      ["GET", "events"],
      ["POST", "cancel"],
    ])("%s /api/tasks/{unknown}/%s answers 404 not_found", async (method, what) => {
      const res = await stack.api(method, `/api/tasks/${randomUUID()}/${what}`);
      expectError(res, 404, "not_found");
      await expectNothingCreated();
    });

    // Ids end up in NATS subjects and KV keys, where these are wildcards or separators.
    it.each(["*", ">", "%3E", "a.b", "x%20y", "not-a-uuid"])("answers 404 not_found for the id %s on every task route, never a wildcard match", async (id) => {
      for (const [method, path] of [
        ["GET", `/api/tasks/${id}/status`],
        ["GET", `/api/tasks/${id}`],
        ["GET", `/api/tasks/${id}/events`],
        ["POST", `/api/tasks/${id}/cancel`],
        ["GET", `/rag/task/${id}`],
        ["GET", `/api/books/${id}`],
        ["GET", `/api/quizzes/${id}`],
        ["GET", `/api/sources/${id}`],
      ] as const) {
        const res = await stack.api(method, path);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.body.error.code, `${method} ${path}`).toBe("not_found");
      }
      await expectNothingCreated();
    });

    it("PUT /api/tasks/{id}/status answers 405 with Allow: GET", async () => {
      const res = await stack.api("PUT", `/api/tasks/${randomUUID()}/status`, { status: "succeeded" });
      expectError(res, 405, "method_not_allowed");
      expect(res.headers.get("allow")).toBe("GET");
      await expectNothingCreated();
    });
  });

  describe("GET /api/tasks query", () => {
    it.each(["limit=0", "limit=abc", "offset=-1", "limit=100000", "status=done", "status=QUEUED"])("refuses ?%s with 400 invalid_query", async (query) => {
      const res = await stack.api("GET", `/api/tasks?${query}`);
      expectError(res, 400, "invalid_query");
      expect(res.body.error.details).toEqual([expect.objectContaining({ path: query.split("=")[0] })]);
      await expectNothingCreated();
    });
  });

  it("answers an unknown route with a JSON 404", async () => {
    const res = await stack.api("GET", "/api/no-such-thing");
    expectError(res, 404, "not_found");
    await expectNothingCreated();
  });

  describe("dead-letter queue", () => {
    it.each([
      ["POST", "/retry"],
      ["DELETE", ""],
      ["GET", ""],
    ])("%s /api/dlq/{unknown}%s answers 404 not_found", async (method, suffix) => {
      const res = await stack.api(method, `/api/dlq/${randomUUID()}${suffix}`);
      expectError(res, 404, "not_found");
      await expectNothingCreated();
    });

    it("refuses a bulk delete without a type or all=true with 400", async () => {
      const res = await stack.api("DELETE", "/api/dlq");
      expectError(res, 400, "filter_required");
      await expectNothingCreated();
    });

    it("refuses a bulk retry without a type or all=true with 400", async () => {
      const res = await stack.api("POST", "/api/dlq/retry", {});
      expectError(res, 400, "filter_required");
      await expectNothingCreated();
    });
  });

  describe("uploads", () => {
    it("refuses a JSON body on POST /api/books with 415", async () => {
      const res = await stack.api("POST", "/api/books", { file: "book.txt" });
      expectError(res, 415, "unsupported_media_type");
      await expectNothingCreated();
    });

    it("refuses a multipart request without a file with 400 no_files", async () => {
      const form = new FormData();
      form.append("priority", "high");
      const res = await postForm(stack, "/api/books", form);
      expectError(res, 400, "no_files");
      await expectNothingCreated();
    });

    it("refuses an empty file with 400 empty_file and keeps nothing", async () => {
      const res = await postForm(stack, "/api/books", fileForm("file", new Uint8Array(0), "empty.txt"));
      expectError(res, 400, "empty_file");
      await expectNothingCreated();
    });

    it(`refuses a file larger than JETQ_MAX_UPLOAD_BYTES (${MAX_UPLOAD_BYTES}) with 413 and keeps nothing`, async () => {
      const res = await postForm(stack, "/api/books", fileForm("file", new Uint8Array(MAX_UPLOAD_BYTES * 5).fill(65), "big.txt"));
      expectError(res, 413, "upload_too_large");
      await expectNothingCreated();
      // Not even orphaned chunks: the object store's stream holds no part of the refused file.
      const chunks = await stack.conn.jsm.streams.info(`OBJ_${LIBRARY_TOPOLOGY.uploadsBucket}`, { subjects_filter: `$O.${LIBRARY_TOPOLOGY.uploadsBucket}.C.>` });
      expect(chunks.state.subjects ?? {}).toEqual({});
    });

    it("refuses a file under an unexpected field name with 400", async () => {
      const res = await postForm(stack, "/api/books", fileForm("attachment", "some text"));
      expectError(res, 400, "unexpected_field");
      await expectNothingCreated();
    });

    it("refuses a good file with a bad form field (chunkSize) with 422 and keeps nothing", async () => {
      const form = fileForm("file", "a perfectly fine book");
      form.append("chunkSize", "tiny");
      const res = await postForm(stack, "/api/books", form);
      expectError(res, 422, "invalid_payload");
      expect(res.body.error.details).toEqual([expect.objectContaining({ path: "chunkSize" })]);
      await expectNothingCreated();
    });

    it("refuses /rag/add-document without a file with 400 no_files", async () => {
      const form = new FormData();
      form.append("note", "no file here");
      const res = await postForm(stack, "/rag/add-document", form);
      expectError(res, 400, "no_files");
      await expectNothingCreated();
    });
  });

  // Runs last: after every bad request above, the API still takes good work.
  it("still accepts a good task after all the bad requests", async () => {
    const accepted = await clientOf(stack).createTask({ type: "echo", payload: { value: "still here" } }); // 202
    expect(accepted).toMatchObject({ id: expect.any(String), status: "queued", created: true });
    expect((await stack.api("GET", "/api/tasks")).body.total).toBe(1);
    expect((await stack.conn.jsm.streams.info(TOPOLOGY.tasksStream)).state.messages).toBe(1);
  });
});

describe("cancelling a finished task", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ workers: 1 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("answers 409 already_finished and leaves the task succeeded", async () => {
    const id = await createTask(stack, { type: "echo", payload: { value: 42 } });
    await waitFor("the echo task to succeed", async () => (await taskStatus(stack, id)).status === "succeeded");
    const before = await taskStatus(stack, id);
    const messagesBefore = (await stack.conn.jsm.streams.info(TOPOLOGY.tasksStream)).state.messages;

    const refused = await clientError(clientOf(stack).cancelTask(id));

    expect(refused).toMatchObject({ status: 409, code: "already_finished", details: { status: "succeeded" } });
    expect(refused.message.length).toBeGreaterThan(0);
    expect(await taskStatus(stack, id)).toEqual(before);
    expect((await stack.api("GET", "/api/tasks")).body.total).toBe(1);
    expect((await stack.conn.jsm.streams.info(TOPOLOGY.tasksStream)).state.messages).toBe(messagesBefore);
  });
});
