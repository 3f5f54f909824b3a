// /api/dlq: inspect, replay and discard dead-lettered tasks, one at a time or in bulk.
import { Router } from "express";
import { z } from "zod";
import type { DeadLetterQueue } from "../../kernel/dead-letters.js";
import { InvalidRequestError } from "../../kernel/errors.js";
import { statusView } from "../../kernel/task.js";
import { jsonBody } from "../json-body.js";
import { TASK_TYPE_NAME } from "../../kernel/registry.js";
import { idParam, methodNotAllowed, optionalFilter, pagination, parseQuery, requireJson } from "../http.js";

// The type goes into a subject filter, so it must be a plain type name; empty or absent: every type.
const typeFilter = optionalFilter(z.string().regex(TASK_TYPE_NAME, "a task type name")).describe("only this task type (empty or absent: every type)");
// Exported for the OpenAPI document, which is generated from them.
export const DlqListQuery = z.object({ type: typeFilter, ...pagination });
export const DlqBulkBody = z.object({ type: typeFilter, all: z.boolean().optional() }).strict();
export const DlqBulkQuery = z.object({ type: typeFilter, all: z.enum(["true", "false"]).optional() });

/** Bulk operations need a type or an explicit all=true, so an empty body never wipes the DLQ. */
function bulkFilter(f: { type?: string; all?: boolean }) {
  if (!f.type && !f.all) throw new InvalidRequestError("filter_required", "give a task type, or all=true to act on every dead-lettered task");
  return f.type ? { type: f.type } : {};
}

export function dlqRouter(dlq: DeadLetterQueue, maxBodyBytes: number): Router {
  const r = Router();
  const json = jsonBody(maxBodyBytes);

  r.route("/api/dlq")
    .get(async (req, res) => {
      const q = parseQuery(DlqListQuery, req);
      res.json({ ...(await dlq.list(q)), limit: q.limit, offset: q.offset });
    })
    .delete(async (req, res) => {
      const q = parseQuery(DlqBulkQuery, req);
      res.json(await dlq.deleteMany(bulkFilter({ type: q.type, all: q.all === "true" })));
    })
    .all(methodNotAllowed("GET", "DELETE"));

  r.route("/api/dlq/retry")
    .post(requireJson, json, async (req, res) => {
      const body = DlqBulkBody.safeParse(req.body ?? {});
      if (!body.success) throw new InvalidRequestError("invalid_request", "the body is not valid", body.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
      res.json(await dlq.retryMany(bulkFilter(body.data)));
    })
    .all(methodNotAllowed("POST"));

  r.route("/api/dlq/:id")
    .get(async (req, res) => {
      res.json(await dlq.get(idParam(req, "dead-lettered task")));
    })
    .delete(async (req, res) => {
      await dlq.delete(idParam(req, "dead-lettered task"));
      res.status(204).end();
    })
    .all(methodNotAllowed("GET", "DELETE"));

  r.route("/api/dlq/:id/retry")
    .post(async (req, res) => {
      const record = await dlq.retry(idParam(req, "dead-lettered task"));
      res.status(202).json(statusView(record));
    })
    .all(methodNotAllowed("POST"));
  return r;
}
