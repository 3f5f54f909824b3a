// The OpenAPI document, built from the same zod schemas the API validates with, so the two
// cannot drift: a task type registered in the registry appears here with its payload schema.
import { z } from "zod";
import type { TaskTypeRegistry } from "../core/registry.js";
import { TaskSpecSchema } from "../core/task-queue.js";
import { PRIORITIES, TASK_STATUSES } from "../core/task.js";
import { SourceCreateSchema } from "../core/sources.js";

const schemaOf = (s: z.ZodType) => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
};

const error = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message", "details"],
      // details: what exactly was wrong (a list of {path, message} for schema errors), or null.
      properties: { code: { type: "string" }, message: { type: "string" }, details: {} },
    },
  },
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonBody = (schema: object) => ({ content: { "application/json": { schema } } });
const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: "error", ...jsonBody(ref("Error")) }]));
const idParam = (name = "id") => ({ name, in: "path", required: true, schema: { type: "string" } });
const page = [
  { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 500, default: 50 } },
  { name: "offset", in: "query", schema: { type: "integer", minimum: 0, default: 0 } },
];
const multipart = (field: string, many: boolean) => ({
  required: true,
  content: {
    "multipart/form-data": {
      schema: {
        type: "object",
        properties: {
          [field]: many ? { type: "array", items: { type: "string", format: "binary" } } : { type: "string", format: "binary" },
          chunkSize: { type: "integer" },
          chunkOverlap: { type: "integer" },
          priority: { type: "string", enum: [...PRIORITIES] },
        },
      },
    },
  },
});

export function buildOpenApi(registry: TaskTypeRegistry, version = "0.1.0") {
  const base = schemaOf(TaskSpecSchema) as { properties: Record<string, unknown> };
  const createVariants = registry.all().map((def) => ({
    title: def.name,
    description: def.description,
    type: "object",
    required: ["type", "payload"],
    properties: { ...base.properties, type: { const: def.name }, payload: schemaOf(def.payload) },
    additionalProperties: false,
  }));
  const taskStatus = {
    type: "object",
    required: ["id", "type", "priority", "status", "attempts", "progress", "createdAt"],
    properties: {
      id: { type: "string" },
      type: { type: "string", enum: registry.names() },
      priority: { type: "string", enum: [...PRIORITIES] },
      status: { type: "string", enum: [...TASK_STATUSES] },
      attempts: { type: "integer" },
      maxAttempts: { type: "integer" },
      progress: { type: "object", properties: { percent: { type: "number" }, message: { type: ["string", "null"] } } },
      result: {},
      error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" }, retryable: { type: "boolean" }, attempt: { type: "integer" } } },
      createdAt: { type: "string", format: "date-time" },
      startedAt: { type: "string", format: "date-time" },
      finishedAt: { type: "string", format: "date-time" },
    },
  };
  const accepted = { type: "object", properties: { id: { type: "string" }, status: { type: "string" }, statusUrl: { type: "string" }, created: { type: "boolean" } } };
  const createOp = (summary: string) => ({
    summary,
    requestBody: { required: true, ...jsonBody(ref("TaskCreate")) },
    responses: { "202": { description: "accepted (or the existing task for a repeated idempotencyKey)", ...jsonBody(accepted) }, ...errors(400, 413, 415, 422, 503) },
  });

  return {
    openapi: "3.1.0",
    info: { title: "jetq", version, description: "Asynchronous task processing on NATS JetStream" },
    components: { schemas: { Error: error, TaskCreate: { oneOf: createVariants, discriminator: { propertyName: "type" } }, TaskStatus: taskStatus } },
    paths: {
      "/api/tasks/create": { post: createOp("Create a task") },
      "/api/tasks": {
        post: createOp("Create a task (alias)"),
        get: {
          summary: "List tasks, newest first",
          parameters: [
            { name: "status", in: "query", schema: { type: "string", enum: [...TASK_STATUSES] } },
            { name: "type", in: "query", schema: { type: "string" } },
            ...page,
          ],
          responses: { "200": { description: "a page of tasks", ...jsonBody({ type: "object", properties: { items: { type: "array", items: ref("TaskStatus") }, total: { type: "integer" } } }) }, ...errors(400) },
        },
      },
      "/api/tasks/queue": { get: { summary: "Queue depth by priority and type, in flight, dead-lettered, workers", responses: { "200": { description: "queue state" } } } },
      "/api/tasks/{id}/status": { get: { summary: "A task's status", parameters: [idParam()], responses: { "200": { description: "status", ...jsonBody(ref("TaskStatus")) }, ...errors(404) } } },
      "/api/tasks/{id}/events": { get: { summary: "Server-Sent Events (status, progress, end) until the task ends", parameters: [idParam()], responses: { "200": { description: "text/event-stream" }, ...errors(404) } } },
      "/api/tasks/{id}/cancel": { post: { summary: "Cancel a queued or running task", parameters: [idParam()], responses: { "200": { description: "cancelled", ...jsonBody(ref("TaskStatus")) }, ...errors(404, 409) } } },
      "/api/dlq": {
        get: { summary: "Dead-lettered tasks, most recent first", parameters: [{ name: "type", in: "query", schema: { type: "string" } }, ...page], responses: { "200": { description: "a page of entries" } } },
        delete: { summary: "Discard dead-lettered tasks of a type, or all with all=true", parameters: [{ name: "type", in: "query", schema: { type: "string" } }, { name: "all", in: "query", schema: { type: "boolean" } }], responses: { "200": { description: "how many were discarded" }, ...errors(400) } },
      },
      "/api/dlq/retry": { post: { summary: "Replay dead-lettered tasks of a type, or all", requestBody: jsonBody({ type: "object", properties: { type: { type: "string" }, all: { type: "boolean" } } }), responses: { "200": { description: "ids replayed" }, ...errors(400) } } },
      "/api/dlq/{id}": {
        get: { summary: "A dead-lettered task with its last error", parameters: [idParam()], responses: { "200": { description: "entry" }, ...errors(404) } },
        delete: { summary: "Discard a dead-lettered task", parameters: [idParam()], responses: { "204": { description: "discarded" }, ...errors(404) } },
      },
      "/api/dlq/{id}/retry": { post: { summary: "Replay a dead-lettered task with fresh attempts", parameters: [idParam()], responses: { "202": { description: "queued again", ...jsonBody(ref("TaskStatus")) }, ...errors(404, 409) } } },
      "/api/books": { get: { summary: "Books, newest first", responses: { "200": { description: "books" } } }, post: { summary: "Upload books (streamed to the object store); one process_book task each", requestBody: multipart("files", true), responses: { "202": { description: "queued" }, ...errors(400, 413, 415, 422) } } },
      "/api/books/{id}": {
        get: { summary: "A book's record: status, pages, chunks, content hash, embedder", parameters: [idParam()], responses: { "200": { description: "book" }, ...errors(404) } },
        delete: { summary: "Delete a book, its chunks, upload and vectors", parameters: [idParam()], responses: { "204": { description: "deleted" }, ...errors(404) } },
      },
      "/api/search": {
        get: {
          summary: "Chunks nearest to a query, best first",
          parameters: [
            { name: "q", in: "query", required: true, schema: { type: "string", maxLength: 2000 } },
            { name: "k", in: "query", schema: { type: "integer", minimum: 1, maximum: 100, default: 10 } },
            { name: "bookId", in: "query", schema: { type: "string" } },
          ],
          responses: {
            "200": {
              description: "results",
              ...jsonBody({ type: "object", properties: { results: { type: "array", items: { type: "object", properties: { score: { type: "number" }, bookId: { type: "string" }, chunkId: { type: "string" }, page: { type: "integer" }, text: { type: "string" } } } } } }),
            },
            ...errors(400),
          },
        },
      },
      "/api/sources": {
        post: { summary: "Register a source (http URLs or a directory)", requestBody: { required: true, ...jsonBody(schemaOf(SourceCreateSchema)) }, responses: { "201": { description: "registered" }, ...errors(400, 415, 422) } },
        get: { summary: "Registered sources", responses: { "200": { description: "sources" } } },
      },
      "/api/sources/{id}": {
        get: { summary: "A source with its documents and last sync result", parameters: [idParam()], responses: { "200": { description: "source" }, ...errors(404) } },
        delete: { summary: "Remove a source (its books stay)", parameters: [idParam()], responses: { "204": { description: "removed" }, ...errors(404) } },
      },
      "/api/sources/{id}/sync": { post: { summary: "Queue sync_sources for this source now", parameters: [idParam()], responses: { "202": { description: "queued", ...jsonBody(accepted) }, ...errors(404) } } },
      "/api/quizzes/{id}": { get: { summary: "A generated quiz", parameters: [idParam()], responses: { "200": { description: "quiz" }, ...errors(404) } } },
      "/rag/add-document": { post: { summary: "Legacy: upload one document", requestBody: multipart("file", false), responses: { "202": { description: "{status:'queued', task_id}" }, ...errors(400, 413, 415) } } },
      "/rag/add-documents-batch": { post: { summary: "Legacy: upload several documents", requestBody: multipart("files", true), responses: { "202": { description: "[{task_id, filename}]" }, ...errors(400, 413, 415) } } },
      "/rag/task/{task_id}": { get: { summary: "Legacy: task status with Celery state names", parameters: [idParam("task_id")], responses: { "200": { description: "status" }, ...errors(404) } } },
      "/metrics": { get: { summary: "Prometheus metrics", responses: { "200": { description: "text exposition format" } } } },
      "/healthz": { get: { summary: "Liveness", responses: { "200": { description: "alive" } } } },
      "/readyz": { get: { summary: "Readiness: NATS reachable and topology in place", responses: { "200": { description: "ready" }, "503": { description: "not ready" } } } },
      "/openapi.json": { get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } } },
    },
  };
}
