// The OpenAPI document, built from the same zod schemas the API validates with and answers in
// (kernel/api-schemas.ts, library/api-schemas.ts), so the two cannot drift: a task type registered
// in the registry appears here with its payload schema, a field added to a response appears here.
// Every operation lists every status it can answer; schemathesis checks that against the running
// API (test/contract/openapi-fuzz.test.ts, `npm run test:contract`).
import { z } from "zod";
import type { TaskTypeRegistry } from "../kernel/registry.js";
import {
  DeadLetterPageSchema,
  DeadLetterSchema,
  DlqDeletedSchema,
  DlqRetriedSchema,
  ErrorBodySchema,
  HealthSchema,
  QueueSnapshotSchema,
  ReadySchema,
  TaskAcceptedSchema,
  TaskPageSchema,
  TaskStatusSchema,
  TaskDetailSchema,
  TaskLogPageSchema,
  TaskStatsSchema,
} from "../kernel/api-schemas.js";
import { TaskSpecSchema } from "../kernel/task-queue.js";
import { PRIORITIES } from "../kernel/task.js";
import {
  BookPageSchema,
  BookSchema,
  LegacyStatusSchema,
  QuizSchema,
  RagAddDocumentSchema,
  RagAddDocumentsBatchSchema,
  SearchResultsSchema,
  SourceDetailSchema,
  SourcePageSchema,
  SourceSchema,
  SourceSyncAcceptedSchema,
  UploadedBooksSchema,
} from "../library/api-schemas.js";
import { SourceCreateSchema } from "../library/sources.js";
import { ProcessBookPayload } from "../library/task-types.js";
import { PagedListQuery } from "./listing.js";
import { DlqBulkBody, DlqBulkQuery, DlqListQuery } from "./routes/dlq.js";
import { ListQuery as TaskListQuery, LogQuery as TaskLogQuery } from "./routes/tasks.js";
import { StatsQuery } from "./routes/stats.js";
import { HAS_TEXT, MAX_K, MAX_QUERY_CHARS } from "./routes/search.js";
import { KeyCreatedSchema, KeyCreateSchema, KeyListSchema } from "./auth/key-schemas.js";
import { WhoAmISchema } from "./auth/whoami-schema.js";
import { LimitsView } from "./limits/limits-schema.js";
import { KeyListQuery } from "./routes/keys.js";
import { PoolListSchema } from "../kernel/pool-status-schema.js";

type Schema = Record<string, unknown>;

const schemaOf = (s: z.ZodType, io: "input" | "output" = "input"): Schema => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Schema;
  return rest;
};
/** What the server answers: a response schema, as it is after the server built it. */
const answer = (s: z.ZodType) => schemaOf(s, "output");

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ content: { "application/json": { schema } } });
const ok = (description: string, schema?: object) => (schema ? { description, ...json(schema) } : { description });
const object = (properties: Record<string, object>, required: string[] = []) => ({ type: "object", required, properties });
const string = { type: "string" };
const integer = { type: "integer" };
// On every rate-limited operation (IETF draft ratelimit-headers): the limit, what is left, seconds to reset.
const RATE_LIMIT_HEADERS = { "RateLimit-Limit": { schema: integer }, "RateLimit-Remaining": { schema: integer }, "RateLimit-Reset": { schema: integer } };

// Why each error status is answered; every one has the body {error:{code,message,details}}.
const ERROR_STATUSES = {
  400: "malformed request: JSON that does not parse or is not UTF-8, a body or query that does not match the schema (details lists each problem)",
  401: "no credentials, or credentials that are malformed, unknown, revoked or expired (header WWW-Authenticate: Bearer)",
  403: "the credentials are good, but their role may not do this (details: role, required)",
  404: "no such resource (ids are UUIDs: anything else names nothing), or no such route",
  409: "the resource is not in a state that allows this",
  413: "the body, a file or the number of files or form fields is over a limit (the message names it); or over one of the tenant's quotas — an upload past its stored bytes (JETQ_TENANT_MAX_BYTES), a create past its waiting tasks (JETQ_TENANT_MAX_QUEUED): code quota_exceeded with quota (the setting), limit and used",
  415: "the body is not in the media type this operation takes",
  429: "the tenant is over a rate limit (JETQ_RATE_CREATES, JETQ_RATE_UPLOADS): error.limit names it, with tenant, windowSeconds and retryAfterSeconds; retry after Retry-After seconds",
  422: "well-formed, but not acceptable: unknown task type, payload that does not match the type's schema, an idempotency key reused for another request, a source that may not be registered…",
  503: "NATS is unreachable or too slow right now; retry after Retry-After seconds (a create answered 503 carries details.taskId when its outcome is unknown)",
} as const;
type ErrorStatus = keyof typeof ERROR_STATUSES;
const errors = (...codes: ErrorStatus[]) => Object.fromEntries(codes.map((c) => [String(c), { $ref: `#/components/responses/E${c}` }]));

/** What every path under /api (but /api/search) and /rag may answer besides its own errors. */
const NATS = [503] as const;

const idParam = (name = "id", what = "resource") => ({ name, in: "path", required: true, description: `the ${what}'s id (a UUID)`, schema: { type: "string", format: "uuid" } });

/**
 * A query field as the route reads it: the parsed value's schema (an integer with its bounds, not
 * the digits it is written in), and where the route takes an empty value as no value
 * (optionalFilter), the empty string as well.
 */
function queryField(field: z.ZodType): Schema {
  const parsed = answer(field);
  const empty = field.safeParse("");
  if (!empty.success || empty.data !== undefined) return parsed;
  const pattern = parsed.pattern;
  // A pattern can say "or empty"; a format (date-time) cannot, so that one takes the anyOf below.
  if (typeof pattern === "string" && pattern.startsWith("^") && pattern.endsWith("$") && !parsed.format) return { ...parsed, pattern: `^(${pattern.slice(1, -1)})?$` };
  const { description, ...rest } = parsed;
  return { ...(description ? { description } : {}), anyOf: [{ const: "" }, rest] };
}

const fieldsOf = (query: z.ZodObject) => Object.entries(query.shape as Record<string, z.ZodType>);
/** Whether the route needs the field: it does not parse without it. */
const isRequired = (field: z.ZodType) => !field.safeParse(undefined).success;

/** A route's query schema as OpenAPI parameters, one per field. */
function queryParameters(query: z.ZodObject): Schema[] {
  return fieldsOf(query).map(([name, field]) => {
    const { description, ...schema } = queryField(field);
    return { name, in: "query", ...(isRequired(field) ? { required: true } : {}), ...(description ? { description } : {}), schema };
  });
}

/**
 * A route's schema as one object (a JSON body, or an exploded query object), its fields read as
 * queryField reads them. `closed`: no other field is taken.
 */
function objectOf(schema: z.ZodObject, closed: boolean): Schema {
  const fields = fieldsOf(schema);
  const required = fields.filter(([, f]) => isRequired(f)).map(([name]) => name);
  return {
    type: "object",
    ...(required.length ? { required } : {}),
    properties: Object.fromEntries(fields.map(([name, f]) => [name, queryField(f)])),
    ...(closed ? { additionalProperties: false } : {}),
  };
}

/**
 * A DLQ bulk filter: its fields from the route's schema, and the rule the route adds to them
 * (bulkFilter in routes/dlq.ts) that no zod schema states: a type, a tenant, or `all` set to `allIs`.
 */
const bulkFilter = (schema: z.ZodObject, allIs: true | "true") => ({
  ...objectOf(schema, true),
  anyOf: [object({ type: { type: "string", minLength: 1 } }, ["type"]), object({ tenant: { type: "string", minLength: 1 } }, ["tenant"]), object({ all: { const: allIs } }, ["all"])],
});

const cursorPage = (schema: z.ZodType) => ({ parameters: queryParameters(PagedListQuery), schema: answer(schema) });
/** A page schema whose items point at a component rather than repeat it. */
const itemsAs = (pageOf: Schema, items: object): Schema => ({ ...pageOf, properties: { ...(pageOf.properties as object), items: { type: "array", items } } });

const uploadFile = { type: "string", format: "binary", minLength: 1, description: "not empty" };

/** The upload form: files (required, at least one) and the fields that shape their process_book tasks. */
function multipart(fileField: string, many: boolean, aliases: string[] = []) {
  const book = schemaOf(ProcessBookPayload) as { properties: Record<string, object> };
  const file = uploadFile;
  return {
    required: true,
    content: {
      "multipart/form-data": {
        schema: {
          type: "object",
          required: [fileField],
          properties: {
            [fileField]: aliases.length ? { ...(many ? ref("UploadFiles") : file), description: `also accepted under the names ${aliases.join(", ")}` } : many ? ref("UploadFiles") : file,
            chunkSize: book.properties.chunkSize,
            chunkOverlap: { ...book.properties.chunkOverlap, description: "must be smaller than chunkSize" },
            priority: { type: "string", enum: [...PRIORITIES], default: "normal" },
            duplicate: { type: "string", enum: ["existing", "new"], default: "existing", description: "a file whose bytes a book already has: answer with that book (existing) or make a new one (new)" },
          },
          // Each field at most once: a repeated field is refused (400), never silently dropped.
          additionalProperties: false,
        },
        encoding: { [fileField]: { contentType: "application/octet-stream" } },
      },
    },
  };
}

export interface ServerLimits {
  /** The consumers' max_deliver (JETQ_MAX_DELIVER): no task can be given more attempts. */
  maxDeliver: number;
  /** Most files per upload request (JETQ_MAX_UPLOAD_FILES); unbounded in the document when not given. */
  maxUploadFiles?: number;
}

/**
 * The document with this server's configured limits in place: `maxAttempts` goes up to the
 * consumers' max_deliver, not just to what the schema alone allows, and an upload takes at most
 * the configured number of files.
 */
export function withServerLimits<D extends ReturnType<typeof buildOpenApi>>(doc: D, limits: ServerLimits): D {
  const { MaxAttempts, UploadFiles } = doc.components.schemas;
  const maximum = Math.min(Number(MaxAttempts.maximum ?? Infinity), limits.maxDeliver);
  const files = limits.maxUploadFiles === undefined ? UploadFiles : { ...UploadFiles, maxItems: limits.maxUploadFiles };
  return { ...doc, components: { ...doc.components, schemas: { ...doc.components.schemas, MaxAttempts: { ...MaxAttempts, maximum }, UploadFiles: files } } };
}

export function buildOpenApi(registry: TaskTypeRegistry, version = "0.1.0") {
  const base = schemaOf(TaskSpecSchema) as { properties: Record<string, Schema> };
  const envelope = { ...base.properties, maxAttempts: ref("MaxAttempts") };
  const createVariants = registry.all().map((def) => ({
    title: def.name,
    description: def.description,
    type: "object",
    // A payload whose fields are all optional may be left out (it means {}); null is refused.
    required: def.payload.safeParse({}).success ? ["type"] : ["type", "payload"],
    properties: { ...envelope, type: { const: def.name }, payload: schemaOf(def.payload) },
    additionalProperties: false,
  }));
  const accepted = answer(TaskAcceptedSchema);
  const createOp = (summary: string) => ({
    summary,
    requestBody: { required: true, ...json(ref("TaskCreate")) },
    responses: {
      "202": {
        description: "accepted; or, for an idempotencyKey seen before with the same request, the task it created (created: false, header Idempotent-Replayed)",
        headers: { Location: { schema: string }, "Idempotent-Replayed": { schema: { type: "string", enum: ["true"] } } },
        ...json(accepted),
      },
      ...errors(400, 413, 415, 422, 429, ...NATS),
    },
  });
  const deadLetter = answer(DeadLetterSchema);
  const source = answer(SourceSchema);
  const books = cursorPage(BookPageSchema);
  const sources = cursorPage(SourcePageSchema);

  return withTransportErrors({
    openapi: "3.1.0",
    info: {
      title: "jetq",
      version,
      description:
        "Asynchronous task processing on NATS JetStream. Errors are always {error:{code,message,details}}. " +
        "A method a path does not list is answered 405 with an Allow header; an unknown path, 404.",
    },
    components: {
      schemas: {
        Error: answer(ErrorBodySchema),
        TaskCreate: { oneOf: createVariants, discriminator: { propertyName: "type" } },
        MaxAttempts: { ...base.properties.maxAttempts, description: "at most the consumers' max_deliver (JETQ_MAX_DELIVER)" } as Schema,
        UploadFiles: { type: "array", items: uploadFile, minItems: 1, description: "at most JETQ_MAX_UPLOAD_FILES files" } as Schema,
        TaskStatus: answer(TaskStatusSchema),
        TaskDetail: answer(TaskDetailSchema),
      },
      responses: Object.fromEntries(
        Object.entries(ERROR_STATUSES).map(([status, description]) => [
          `E${status}`,
          { description, ...(status === "503" ? { headers: { "Retry-After": { schema: integer } } } : status === "429" ? { headers: { "Retry-After": { schema: integer }, ...RATE_LIMIT_HEADERS } } : status === "401" ? { headers: { "WWW-Authenticate": { schema: string } } } : {}), ...json(ref("Error")) },
        ]),
      ),
    },
    paths: {
      "/api/tasks/create": { post: createOp("Create a task") },
      "/api/tasks": {
        post: createOp("Create a task (alias)"),
        get: {
          summary: "List tasks, newest first, by cursor: queued ones by creation, started ones by their last change (a page may be short; follow nextCursor)",
          parameters: queryParameters(TaskListQuery),
          responses: { "200": ok("a page of tasks", itemsAs(answer(TaskPageSchema), ref("TaskStatus"))), ...errors(400, ...NATS) },
        },
      },
      "/api/tasks/queue": {
        get: {
          summary: "Queue depth by priority and type, in flight, dead-lettered, workers",
          responses: {
            "200": ok("queue state", answer(QueueSnapshotSchema)),
            ...errors(...NATS),
          },
        },
      },
      "/api/stats": {
        get: {
          summary: "Arrivals, completions by outcome, p50/p95 completion time (estimated within histogram buckets) and the error rate over the last minutes, and per minute, counted by NATS",
          parameters: queryParameters(StatsQuery),
          responses: { "200": ok("task statistics", answer(TaskStatsSchema)), ...errors(400, ...NATS) },
        },
      },
      "/api/pools": {
        get: {
          summary: "WorkerPools as the operator last reconciled them: desired vs current replicas, the depth read and its source (empty without an operator)",
          responses: { "200": ok("worker pools", answer(PoolListSchema)), ...errors(...NATS) },
        },
      },
      "/api/tasks/{id}/status": { get: { summary: "A task's status, with the payload and idempotency key it was created with", parameters: [idParam("id", "task")], responses: { "200": ok("status", ref("TaskDetail")), ...errors(404, ...NATS) } } },
      "/api/tasks/{id}": { get: { summary: "A task's status (alias of /api/tasks/{id}/status)", parameters: [idParam("id", "task")], responses: { "200": ok("status", ref("TaskDetail")), ...errors(404, ...NATS) } } },
      "/api/tasks/{id}/events": {
        get: {
          summary: "Server-Sent Events (status, progress and log lines, then end with the final state) until the task ends; ids are `<revision>` or `<revision>:<logSeq>`",
          parameters: [idParam("id", "task"), { name: "Last-Event-ID", in: "header", required: false, description: "the id of the last event received: nothing older is sent again", schema: { type: "string" } }],
          responses: {
            "200": { description: "the event stream", content: { "text/event-stream": { schema: string } } },
            "204": { description: "the task had already ended when the client last heard from it (Last-Event-ID): nothing more to send" },
            ...errors(404, ...NATS),
          },
        },
      },
      "/api/tasks/{id}/logs": {
        get: {
          summary: "The task's log lines (what its workers logged about it at info and above), oldest first; continue with after=<last>",
          parameters: [idParam("id", "task"), ...queryParameters(TaskLogQuery)],
          responses: { "200": ok("a page of log lines", answer(TaskLogPageSchema)), ...errors(400, 404, ...NATS) },
        },
      },
      "/api/tasks/{id}/cancel": {
        post: { summary: "Cancel a queued, retrying or running task", parameters: [idParam("id", "task")], responses: { "200": ok("cancelled", ref("TaskStatus")), ...errors(404, 409, ...NATS) } },
      },
      "/api/dlq": {
        get: { summary: "Dead-lettered tasks, most recent first", parameters: queryParameters(DlqListQuery), responses: { "200": ok("a page of entries", answer(DeadLetterPageSchema)), ...errors(400, ...NATS) } },
        delete: {
          summary: "Discard the dead-lettered tasks of a type or tenant, or all of them with all=true; with dryRun=true only count them",
          // One exploded object parameter, so the document can say "type or all=true" (either alone is fine).
          parameters: [{ name: "filter", in: "query", style: "form", explode: true, required: true, schema: bulkFilter(DlqBulkQuery, "true") }],
          responses: { "200": ok("how many were discarded", answer(DlqDeletedSchema)), ...errors(400, ...NATS) },
        },
      },
      "/api/dlq/retry": {
        post: {
          summary: "Replay the dead-lettered tasks of a type or tenant, or all of them with all: true; with dryRun: true only count them",
          requestBody: {
            required: true,
            ...json(bulkFilter(DlqBulkBody, true)),
          },
          responses: { "200": ok("ids replayed", answer(DlqRetriedSchema)), ...errors(400, 413, 415, 429, ...NATS) },
        },
      },
      "/api/dlq/{id}": {
        get: { summary: "A dead-lettered task with its last error", parameters: [idParam("id", "task")], responses: { "200": ok("entry", deadLetter), ...errors(404, ...NATS) } },
        delete: { summary: "Discard a dead-lettered task", parameters: [idParam("id", "task")], responses: { "204": { description: "discarded" }, ...errors(404, ...NATS) } },
      },
      "/api/dlq/{id}/retry": {
        post: { summary: "Replay a dead-lettered task with fresh attempts", parameters: [idParam("id", "task")], responses: { "202": ok("queued again", ref("TaskStatus")), ...errors(404, 409, 429, ...NATS) } },
      },
      "/api/books": {
        get: { summary: "Books, newest first", parameters: books.parameters, responses: { "200": ok("a page of books", books.schema), ...errors(400, ...NATS) } },
        post: {
          summary: "Upload books (streamed to the object store); one process_book task each, or the existing book for a file it already has",
          requestBody: multipart("files", true, ["file", "book", "books"]),
          responses: { "202": ok("queued", answer(UploadedBooksSchema)), ...errors(400, 413, 415, 422, 429, ...NATS) },
        },
      },
      "/api/books/{id}": {
        get: { summary: "A book's record: status, pages, chunks, content hash, embedder", parameters: [idParam("id", "book")], responses: { "200": ok("book", answer(BookSchema)), ...errors(404, ...NATS) } },
        delete: { summary: "Delete a book, its chunks, upload and vectors", parameters: [idParam("id", "book")], responses: { "204": { description: "deleted" }, ...errors(404, ...NATS) } },
      },
      "/api/search": {
        get: {
          summary: "Chunks nearest to a query, best first (answers while NATS is away)",
          parameters: [
            { name: "q", in: "query", required: true, description: "the query: some text that is not only white space", schema: { type: "string", maxLength: MAX_QUERY_CHARS, pattern: HAS_TEXT.source } },
            { name: "k", in: "query", schema: { type: "integer", minimum: 1, maximum: MAX_K, default: 10 } },
            { name: "bookId", in: "query", description: "only this book (empty or absent: every book)", schema: { type: "string", pattern: "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$" } },
          ],
          responses: {
            "200": ok("results", answer(SearchResultsSchema)),
            ...errors(400),
          },
        },
      },
      "/api/sources": {
        post: {
          summary: "Register a source (http URLs or a directory); refused with 422 if it may not be fetched",
          requestBody: { required: true, ...json(schemaOf(SourceCreateSchema)) },
          responses: { "201": { ...ok("registered", source), headers: { Location: { schema: string } } }, ...errors(400, 413, 415, 422, ...NATS) },
        },
        get: { summary: "Registered sources, oldest first", parameters: sources.parameters, responses: { "200": ok("a page of sources", sources.schema), ...errors(400, ...NATS) } },
      },
      "/api/sources/{id}": {
        get: { summary: "A source with its documents and last sync result", parameters: [idParam("id", "source")], responses: { "200": ok("source", answer(SourceDetailSchema)), ...errors(404, ...NATS) } },
        delete: { summary: "Remove a source (its books stay)", parameters: [idParam("id", "source")], responses: { "204": { description: "removed" }, ...errors(404, ...NATS) } },
      },
      "/api/sources/{id}/sync": {
        post: { summary: "Queue sync_sources for this source now", parameters: [idParam("id", "source")], responses: { "202": ok("queued", answer(SourceSyncAcceptedSchema)), ...errors(404, 429, ...NATS) } },
      },
      "/api/keys": {
        post: {
          summary: "Make an API key for a tenant and role; the answer holds the key, this once (only its hash is stored)",
          requestBody: { required: true, ...json(schemaOf(KeyCreateSchema)) },
          responses: { "201": ok("made: the key is in `key`", answer(KeyCreatedSchema)), ...errors(400, 413, 415, 422, ...NATS) },
        },
        get: { summary: "API keys, oldest first: never their secrets or hashes", parameters: queryParameters(KeyListQuery), responses: { "200": ok("the keys", answer(KeyListSchema)), ...errors(400, ...NATS) } },
      },
      "/api/keys/{id}": {
        delete: {
          summary: "Revoke an API key: refused at once by this process, by every other within JETQ_AUTH_CACHE_TTL_MS",
          parameters: [idParam("id", "API key")],
          responses: { "204": { description: "revoked" }, ...errors(404, 409, ...NATS) },
        },
      },
      "/api/whoami": { get: { summary: "The caller: how it signed in, its key id or subject, tenant and role (what the web view may offer)", responses: { "200": ok("the caller", answer(WhoAmISchema)), ...errors(...NATS) } } },
      "/api/limits": { get: { summary: "The caller's tenant's rate limits and quotas, with what it has used of each (0 = unlimited)", responses: { "200": ok("limits and usage", answer(LimitsView)), ...errors(...NATS) } } },
      "/api/quizzes/{id}": { get: { summary: "A generated quiz", parameters: [idParam("id", "quiz")], responses: { "200": ok("quiz", answer(QuizSchema)), ...errors(404, ...NATS) } } },
      "/rag/add-document": {
        post: {
          summary: "Legacy: upload one document",
          requestBody: multipart("file", false),
          responses: {
            "202": ok("queued, or the book that already has this file (duplicate)", answer(RagAddDocumentSchema)),
            ...errors(400, 413, 415, 422, 429, ...NATS),
          },
        },
      },
      "/rag/add-documents-batch": {
        post: {
          summary: "Legacy: upload several documents",
          requestBody: multipart("files", true, ["file"]),
          responses: {
            "202": ok("one entry per file", answer(RagAddDocumentsBatchSchema)),
            ...errors(400, 413, 415, 422, 429, ...NATS),
          },
        },
      },
      "/rag/task/{task_id}": { get: { summary: "Legacy: task status with Celery state names", parameters: [idParam("task_id", "task")], responses: { "200": ok("status", answer(LegacyStatusSchema)), ...errors(404, ...NATS) } } },
      "/metrics": { get: { summary: "Prometheus metrics", responses: { "200": { description: "text exposition format", content: { "text/plain": { schema: string } } } } } },
      "/healthz": { get: { summary: "Liveness", responses: { "200": ok("alive", answer(HealthSchema)) } } },
      "/readyz": {
        get: {
          summary: "Readiness: NATS reachable and topology in place",
          responses: { "200": ok("ready", answer(ReadySchema)), "503": { description: "not ready", ...json(ref("Error")) } },
        },
      },
      "/openapi.json": { get: { summary: "This document", responses: { "200": ok("OpenAPI 3.1", { type: "object" }) } } },
    },
  });
}

/**
 * Answers Node's HTTP server gives before any route runs, so every operation can get them: 431
 * when the request line and headers are over its limit (16 KiB by default), with an empty body.
 */
function withTransportErrors<D extends { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>(doc: D): D {
  for (const ops of Object.values(doc.paths)) {
    for (const op of Object.values(ops)) op.responses["431"] = { description: "the URL and headers are larger than the HTTP server accepts (16 KiB by default); the body is empty" };
  }
  return doc;
}
