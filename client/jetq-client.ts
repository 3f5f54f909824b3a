// A typed client of jetq's HTTP API: one method per operation, each answer parsed with the same
// zod schema the OpenAPI document is generated from, every failure one JetqClientError, and a
// task's Server-Sent Events as an async iterator. Needs only `fetch` (Node 20, browsers).
import type { z } from "zod";
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
  TaskGoneSchema,
  TaskLogLineSchema,
  TaskStatsSchema,
  TaskLogPageSchema,
  type TaskLogLineView,
  TaskDetailSchema,
  TaskPageSchema,
  TaskStatusSchema,
  type TaskStatusView,
} from "../kernel/api-schemas.js";
import type { Priority, TaskSpec, TaskStatus } from "../kernel/task.js";
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
import type { SourceCreate } from "../library/sources.js";
import { KeyCreatedSchema, KeyListSchema, type KeyCreate } from "../api/auth/key-schemas.js";
import { WhoAmISchema } from "../api/auth/whoami-schema.js";
import { LimitsView } from "../api/limits/limits-schema.js";
import { PoolListSchema } from "../kernel/pool-status-schema.js";
import { JetqClientError } from "./errors.js";
import { readSse } from "./sse.js";

export interface JetqClientOptions {
  /** Where the API listens, e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` when given. */
  apiKey?: string;
  /** A fetch to use instead of the global one (tests, proxies, retries). */
  fetch?: typeof fetch;
}

export interface PageOptions {
  limit?: number;
  offset?: number;
}
export interface CursorPageOptions extends PageOptions {
  /** `nextCursor` of the previous page (wins over offset). */
  cursor?: string;
}
export interface TaskListOptions extends CursorPageOptions {
  status?: TaskStatus;
  type?: string;
  priority?: Priority;
  /** The task created with this idempotency key. */
  idempotencyKey?: string;
  /** `path=value`: a payload field (dotted path) with this value, compared as text. */
  payload?: string;
  /** ISO times (with Z or an offset): created at or after, before. */
  createdAfter?: string;
  createdBefore?: string;
}
/** Which dead-lettered tasks a bulk operation takes: one type, or explicitly all of them. */
/** Which entries a bulk call acts on: a type, a tenant (admins), both, or all of them. */
export type DlqBulkFilter = ({ type: string; tenant?: string } | { tenant: string } | { all: true }) & {
  /** Only count what the filter matches now (`matched`); change nothing. */
  dryRun?: boolean;
};
export interface DlqListOptions extends CursorPageOptions {
  type?: string;
  /** An admin's choice of tenant; any other caller sees only its own. */
  tenant?: string;
}

/** A file to upload: its name, its bytes, and optionally its media type. */
export interface UploadFile {
  name: string;
  data: Blob | Uint8Array | string;
  contentType?: string;
}
export interface UploadOptions {
  priority?: Priority;
  chunkSize?: number;
  chunkOverlap?: number;
  /** A file whose bytes a book already has: answer with that book (existing, the default) or make a new one. */
  duplicate?: "existing" | "new";
}

/** One Server-Sent Event of a task: its status view at a change, or `gone` if its record disappeared. */
export type TaskEvent = { event: "status" | "progress" | "end"; id?: string; data: TaskStatusView } | { event: "gone"; id?: string; data: { id: string } };
/** With `logs: true`, the task's log lines come too, in order with its states. */
export type TaskEventWithLogs = TaskEvent | { event: "log"; id?: string; data: TaskLogLineView };

export interface WatchOptions {
  /** The id of the last event already seen: nothing older is sent again. */
  lastEventId?: string;
  signal?: AbortSignal;
  /** Yield the task's log lines (`log` events) as well. */
  logs?: boolean;
}

type Query = Record<string, string | number | boolean | undefined>;

export class JetqClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly apiKey: string | undefined;

  constructor(options: JetqClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    // Bound: a bare `fetch` called as a method of another object throws "Illegal invocation" in browsers.
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  // --- tasks ---

  /** Queues a task; for an idempotencyKey seen before with the same request, the task it made (created: false). */
  createTask(spec: TaskSpec | (Omit<TaskSpec, "payload"> & { payload?: unknown })) {
    return this.json(TaskAcceptedSchema, "POST", "/api/tasks", { body: spec });
  }
  /** The task's status with the payload and idempotency key it was created with. */
  getTask(id: string) {
    return this.json(TaskDetailSchema, "GET", `/api/tasks/${enc(id)}/status`);
  }
  listTasks(options: TaskListOptions = {}) {
    return this.json(TaskPageSchema, "GET", "/api/tasks", { query: { ...options } });
  }
  cancelTask(id: string) {
    return this.json(TaskStatusSchema, "POST", `/api/tasks/${enc(id)}/cancel`);
  }
  /** Queue depth by priority and type, in flight, dead-lettered, workers. */
  queue() {
    return this.json(QueueSnapshotSchema, "GET", "/api/tasks/queue");
  }

  /**
   * The task's events until it ends: `status` when its status changes, `progress` when only its
   * progress does, then `end` with the final state (or `gone` if its record disappeared). Ends at
   * once if the task had already ended when `lastEventId` was received.
   */
  watchTask(id: string, options: WatchOptions & { logs: true }): AsyncGenerator<TaskEventWithLogs>;
  watchTask(id: string, options?: WatchOptions): AsyncGenerator<TaskEvent>;
  async *watchTask(id: string, options: WatchOptions = {}): AsyncGenerator<TaskEventWithLogs> {
    const res = await this.send("GET", `/api/tasks/${enc(id)}/events`, {
      headers: { accept: "text/event-stream", ...(options.lastEventId ? { "last-event-id": options.lastEventId } : {}) },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (res.status === 204 || !res.body) return;
    for await (const m of readSse(res.body)) {
      const data = parseJson(m.data, res.status);
      const id = m.id !== undefined ? { id: m.id } : {};
      if (m.event === "gone") {
        yield { event: "gone", ...id, data: check(TaskGoneSchema, data, res.status) };
        return;
      }
      if (m.event === "log") {
        if (options.logs) yield { event: "log", ...id, data: check(TaskLogLineSchema, data, res.status) };
        continue;
      }
      if (m.event !== "status" && m.event !== "progress" && m.event !== "end") continue; // events added later
      yield { event: m.event, ...id, data: check(TaskStatusSchema, data, res.status) };
      if (m.event === "end") return;
    }
  }

  /** A task's log lines after `after` (the previous page's `last`), oldest first. */
  taskLogs(id: string, options: { after?: number; limit?: number } = {}) {
    return this.json(TaskLogPageSchema, "GET", `/api/tasks/${enc(id)}/logs`, { query: { ...options } });
  }

  // --- dead letters ---

  readonly dlq = {
    /** One page, most recently dead first; pass `nextCursor` back as `cursor` for the next. */
    list: (options: DlqListOptions = {}) => this.json(DeadLetterPageSchema, "GET", "/api/dlq", { query: { ...options } }),
    get: (id: string) => this.json(DeadLetterSchema, "GET", `/api/dlq/${enc(id)}`),
    /** Replays one dead-lettered task with fresh attempts. */
    retry: (id: string) => this.json(TaskStatusSchema, "POST", `/api/dlq/${enc(id)}/retry`),
    delete: (id: string) => this.empty("DELETE", `/api/dlq/${enc(id)}`),
    retryMany: (filter: DlqBulkFilter) => this.json(DlqRetriedSchema, "POST", "/api/dlq/retry", { body: filter }),
    deleteMany: (filter: DlqBulkFilter) => this.json(DlqDeletedSchema, "DELETE", "/api/dlq", { query: { ...filter } }),
  };

  // --- library ---

  readonly books = {
    /** Uploads files as books: one process_book task each, or the existing book for bytes it already has. */
    upload: (files: UploadFile[], options: UploadOptions = {}) => this.json(UploadedBooksSchema, "POST", "/api/books", { form: uploadForm("files", files, options) }),
    list: (options: CursorPageOptions = {}) => this.json(BookPageSchema, "GET", "/api/books", { query: { ...options } }),
    get: (id: string) => this.json(BookSchema, "GET", `/api/books/${enc(id)}`),
    /** Deletes the book, its chunks, upload and vectors. */
    delete: (id: string) => this.empty("DELETE", `/api/books/${enc(id)}`),
  };

  search(q: string, options: { k?: number; bookId?: string } = {}) {
    return this.json(SearchResultsSchema, "GET", "/api/search", { query: { q, ...options } });
  }

  readonly sources = {
    create: (source: SourceCreate) => this.json(SourceSchema, "POST", "/api/sources", { body: source }),
    list: (options: CursorPageOptions = {}) => this.json(SourcePageSchema, "GET", "/api/sources", { query: { ...options } }),
    get: (id: string) => this.json(SourceDetailSchema, "GET", `/api/sources/${enc(id)}`),
    delete: (id: string) => this.empty("DELETE", `/api/sources/${enc(id)}`),
    /** Queues sync_sources for this source now. */
    sync: (id: string) => this.json(SourceSyncAcceptedSchema, "POST", `/api/sources/${enc(id)}/sync`),
  };

  readonly quizzes = {
    get: (id: string) => this.json(QuizSchema, "GET", `/api/quizzes/${enc(id)}`),
  };

  // --- API keys (admin only; added for the CLI's `jetq keys`) ---

  readonly keys = {
    /** Makes a key; the answer carries the key itself, the only time it is ever shown. */
    create: (spec: KeyCreate) => this.json(KeyCreatedSchema, "POST", "/api/keys", { body: spec }),
    list: () => this.json(KeyListSchema, "GET", "/api/keys"),
    /** Revokes a key: requests with it are refused from then on. */
    revoke: (id: string) => this.empty("DELETE", `/api/keys/${enc(id)}`),
  };

  /** The earlier Python service's endpoints, with its field and state names. */
  readonly rag = {
    addDocument: (file: UploadFile, options: UploadOptions = {}) => this.json(RagAddDocumentSchema, "POST", "/rag/add-document", { form: uploadForm("file", [file], options) }),
    addDocuments: (files: UploadFile[], options: UploadOptions = {}) => this.json(RagAddDocumentsBatchSchema, "POST", "/rag/add-documents-batch", { form: uploadForm("files", files, options) }),
    task: (id: string) => this.json(LegacyStatusSchema, "GET", `/rag/task/${enc(id)}`),
  };

  // --- operations ---

  /** Who the server takes the caller for: tenant and role (what it may do). */
  whoami() {
    return this.json(WhoAmISchema, "GET", "/api/whoami");
  }

  /** The caller's tenant's rate limits and quotas, and what it has used of them (any role). */
  limits() {
    return this.json(LimitsView, "GET", "/api/limits");
  }

  /** Arrivals, completions, p50/p95 completion time and the error rate over the last `minutes` (admin). */
  stats(options: { minutes?: number } = {}) {
    return this.json(TaskStatsSchema, "GET", "/api/stats", { query: { ...options } });
  }

  /** WorkerPools as the operator last reconciled them (admin); empty when no operator runs. */
  pools() {
    return this.json(PoolListSchema, "GET", "/api/pools");
  }

  health() {
    return this.json(HealthSchema, "GET", "/healthz");
  }
  /** Ready: NATS reachable and topology in place; a JetqClientError (503, not_ready) otherwise. */
  ready() {
    return this.json(ReadySchema, "GET", "/readyz");
  }
  /** The OpenAPI document. */
  async openapi(): Promise<Record<string, unknown>> {
    const res = await this.send("GET", "/openapi.json");
    return parseJson(await res.text(), res.status) as Record<string, unknown>;
  }
  /** Prometheus metrics, in the text exposition format. */
  async metrics(): Promise<string> {
    return (await this.send("GET", "/metrics")).text();
  }

  // --- transport ---

  private async json<S extends z.ZodType>(schema: S, method: string, path: string, request: { body?: unknown; query?: Query; form?: FormData } = {}): Promise<z.infer<S>> {
    const res = await this.send(method, path, request);
    return check(schema, parseJson(await res.text(), res.status), res.status);
  }

  /** An operation that answers 204 with no body. */
  private async empty(method: string, path: string): Promise<void> {
    await (await this.send(method, path)).arrayBuffer();
  }

  /** Sends the request; any answer but 2xx becomes a JetqClientError. */
  private async send(method: string, path: string, request: { body?: unknown; query?: Query; form?: FormData; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...request.headers };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let body: BodyInit | undefined;
    if (request.form) body = request.form; // fetch sets the multipart boundary itself
    else if (request.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(request.body);
    }
    let res: Response;
    try {
      res = await this.fetchImpl(this.baseUrl + path + queryString(request.query), { method, headers, ...(body !== undefined ? { body } : {}), ...(request.signal ? { signal: request.signal } : {}) });
    } catch (err) {
      throw new JetqClientError(0, "network_error", `${method} ${path}: ${(err as Error).message}`, null);
    }
    if (res.ok) return res;
    throw await errorOf(res);
  }
}

const enc = encodeURIComponent;

function queryString(query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : "";
}

function uploadForm(fileField: string, files: UploadFile[], options: UploadOptions): FormData {
  const form = new FormData();
  // Fields before files: the server reads the form as a stream.
  for (const [k, v] of Object.entries(options)) if (v !== undefined) form.append(k, String(v));
  for (const f of files) {
    const blob = f.data instanceof Blob ? f.data : new Blob([f.data as BlobPart], f.contentType ? { type: f.contentType } : {});
    form.append(fileField, blob, f.name);
  }
  return form;
}

function parseJson(text: string, status: number): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new JetqClientError(status, "invalid_response", `the answer is not JSON: ${text.slice(0, 200)}`);
  }
}

/** The answer in its documented shape, or an invalid_response error naming what differs. */
function check<S extends z.ZodType>(schema: S, value: unknown, status: number): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
  throw new JetqClientError(status, "invalid_response", "the answer does not have the documented shape", issues);
}

async function errorOf(res: Response): Promise<JetqClientError> {
  const text = await res.text().catch(() => "");
  const retryAfter = Number(res.headers.get("retry-after") ?? NaN);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const parsed = ErrorBodySchema.safeParse(body);
  const wait = Number.isFinite(retryAfter) ? retryAfter : undefined;
  if (parsed.success) return new JetqClientError(res.status, parsed.data.error.code, parsed.data.error.message, parsed.data.error.details ?? null, wait);
  // Not jetq's error body (431 from Node's HTTP server, a proxy's page…): the status says it all.
  return new JetqClientError(res.status, `http_${res.status}`, `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`, null, wait);
}
