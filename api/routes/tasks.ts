// /api/tasks: create, status, list, queue state, live events, cancel.
import express, { Router } from "express";
import { z } from "zod";
import type { QueueStats } from "../../kernel/queue-stats.js";
import { TaskQueue } from "../../kernel/task-queue.js";
import { PRIORITIES, statusView, TASK_STATUSES, type TaskRecord } from "../../kernel/task.js";
import type { TaskSearch } from "../../kernel/task-listing.js";
import type { TaskEvents } from "../../kernel/task-events.js";
import type { TaskLogs } from "../../kernel/task-logs.js";
import type { TaskStateStore } from "../../kernel/state-store.js";
import { jsonBody } from "../json-body.js";
import { TASK_TYPE_NAME } from "../../kernel/registry.js";
import { idParam, methodNotAllowed, optionalFilter, pagination, parseQuery, queryInt, requireJson } from "../http.js";
import { streamTaskEvents } from "../sse.js";
import { ownerTenantOf, readScopeOf } from "../tenant-scope.js";

export interface TasksRouterDeps {
  queue: TaskQueue;
  stats: QueueStats;
  state: TaskStateStore;
  events: TaskEvents;
  logs: TaskLogs;
  maxBodyBytes: number;
}

/** `GET /api/tasks/{id}/logs`: lines after a sequence, oldest first. */
export const TASK_LOG_PAGE_MAX = 1_000;
export const LogQuery = z.object({
  after: queryInt(0, Number.MAX_SAFE_INTEGER, 0).describe("the `last` of the previous page: only lines after it"),
  limit: queryInt(1, TASK_LOG_PAGE_MAX, 200),
});

export const statusUrl = (id: string) => `/api/tasks/${id}/status`;

/** How far `offset` reaches in the task listing: each skipped task is read, so go further by cursor. */
export const TASK_OFFSET_MAX = 10_000;

// A payload field path (dotted names) and the value it must have.
const PAYLOAD_MATCH = /^[A-Za-z0-9_$-]{1,64}(\.[A-Za-z0-9_$-]{1,64}){0,7}=[\s\S]*$/;
// A time with its offset (or Z) that Date reads: a leap second or a 13th month is refused, not a 500.
const isoTime = z.iso.datetime({ offset: true }).refine((v) => !Number.isNaN(Date.parse(v)), "a real time");

// Filters: `type` empty or absent means every type; a status must be one of the statuses.
export const ListQuery = z.object({
  status: z.enum(TASK_STATUSES).optional(),
  type: optionalFilter(z.string().regex(TASK_TYPE_NAME, "a task type name")),
  limit: pagination.limit,
  offset: queryInt(0, TASK_OFFSET_MAX, 0),
  /** `nextCursor` of the previous page; wins over offset. */
  cursor: z.string().min(1).max(2048).optional(),
  // Search (the web view's): each record read is matched, so a rare match may take several short pages.
  priority: optionalFilter(z.enum(PRIORITIES)).describe("only tasks of this priority"),
  idempotencyKey: optionalFilter(z.string().min(1).max(256)).describe("only the task created with this idempotency key"),
  payload: optionalFilter(z.string().max(1024).regex(PAYLOAD_MATCH, "path=value")).describe("only tasks whose payload field has this value: `path=value`, a dotted path for a nested field, compared as text (`bookId=…`, `options.lang=en`)"),
  createdAfter: optionalFilter(isoTime).describe("only tasks created at or after this time"),
  createdBefore: optionalFilter(isoTime).describe("only tasks created before this time"),
});

/** The listing's search filters from the parsed query; undefined when none is given. */
function searchOf(q: z.infer<typeof ListQuery>): TaskSearch | undefined {
  const search: TaskSearch = {
    ...(q.priority ? { priority: q.priority } : {}),
    ...(q.idempotencyKey ? { idempotencyKey: q.idempotencyKey } : {}),
    ...(q.createdAfter ? { createdAfter: new Date(q.createdAfter).toISOString() } : {}),
    ...(q.createdBefore ? { createdBefore: new Date(q.createdBefore).toISOString() } : {}),
  };
  if (q.payload) {
    const eq = q.payload.indexOf("=");
    search.payload = { path: q.payload.slice(0, eq).split("."), value: q.payload.slice(eq + 1) };
  }
  return Object.keys(search).length ? search : undefined;
}

/** A task as its own page shows it: the status view plus what it was created with. */
const taskDetail = (r: TaskRecord) => ({
  ...statusView(r),
  payload: r.payload,
  ...(r.idempotencyKey ? { idempotencyKey: r.idempotencyKey } : {}),
  ...(r.failedAttempts?.length ? { failedAttempts: r.failedAttempts } : {}),
});

export function tasksRouter(deps: TasksRouterDeps): Router {
  const r = Router();
  const json = jsonBody(deps.maxBodyBytes);

  const create: express.RequestHandler = async (req, res) => {
    const { record, created } = await deps.queue.create(req.body, { tenant: ownerTenantOf(req) });
    if (!created) res.setHeader("Idempotent-Replayed", "true");
    res.status(202).location(statusUrl(record.id)).json({ id: record.id, status: record.status, statusUrl: statusUrl(record.id), created });
  };
  r.route("/api/tasks/create").post(requireJson, json, create).all(methodNotAllowed("POST"));

  r.route("/api/tasks")
    .post(requireJson, json, create)
    .get(async (req, res) => {
      const q = parseQuery(ListQuery, req);
      const tenant = readScopeOf(req).tenant;
      const search = tenant === undefined ? searchOf(q) : { ...searchOf(q), tenant }; // a member's listing holds only its tenant's tasks
      const page = await deps.queue.list({ status: q.status, type: q.type, limit: q.limit, offset: q.offset, cursor: q.cursor, ...(search ? { search } : {}) }); // a cursor it did not give out is a 400 invalid_query
      res.json({ items: page.items.map(statusView), total: page.total, totalExact: page.totalExact, limit: q.limit, offset: page.offset, nextCursor: page.nextCursor });
    })
    .all(methodNotAllowed("GET", "POST"));

  r.route("/api/tasks/queue")
    .get(async (_req, res) => {
      res.json(await deps.stats.snapshot());
    })
    .all(methodNotAllowed("GET"));

  const status: express.RequestHandler = async (req, res) => {
    res.json(taskDetail(await deps.queue.get(idParam(req, "task"), readScopeOf(req))));
  };
  r.route("/api/tasks/:id/status").get(status).all(methodNotAllowed("GET"));
  r.route("/api/tasks/:id").get(status).all(methodNotAllowed("GET"));

  r.route("/api/tasks/:id/events")
    .get(async (req, res) => {
      await streamTaskEvents(req, res, { state: deps.state, events: deps.events, logs: deps.logs }, await deps.queue.get(idParam(req, "task"), readScopeOf(req)));
    })
    .all(methodNotAllowed("GET"));

  r.route("/api/tasks/:id/logs")
    .get(async (req, res) => {
      const q = parseQuery(LogQuery, req);
      const task = await deps.queue.get(idParam(req, "task"), readScopeOf(req)); // 404 for another tenant's task
      const page = await deps.logs.read(task.id, { after: q.after, limit: q.limit });
      res.json({ items: page.items, last: page.last, limit: q.limit });
    })
    .all(methodNotAllowed("GET"));

  r.route("/api/tasks/:id/cancel")
    .post(async (req, res) => {
      const record = await deps.queue.cancel(idParam(req, "task"), readScopeOf(req));
      res.json(statusView(record));
    })
    .all(methodNotAllowed("POST"));

  return r;
}
