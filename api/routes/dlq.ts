// /api/dlq: inspect, replay and discard dead-lettered tasks, one at a time or in bulk.
import { Router } from "express";
import { z } from "zod";
import { DLQ_OFFSET_MAX, type DeadLetterFilter, type DeadLetterQueue } from "../../kernel/dead-letters.js";
import { InvalidRequestError } from "../../kernel/errors.js";
import { statusView } from "../../kernel/task.js";
import { jsonBody } from "../json-body.js";
import { readScopeOf } from "../tenant-scope.js";
import { TENANT_PATTERN } from "../auth/roles.js";
import { TASK_TYPE_NAME } from "../../kernel/registry.js";
import { idParam, methodNotAllowed, optionalFilter, pagination, parseQuery, queryInt, requireJson } from "../http.js";

// The type goes into a subject filter, so it must be a plain type name; empty or absent: every type.
const typeFilter = optionalFilter(z.string().regex(TASK_TYPE_NAME, "a task type name")).describe("only this task type (empty or absent: every type)");
// Exported for the OpenAPI document, which is generated from them.
// An admin may narrow to one tenant; anyone else always sees only their own tenant's entries.
const tenantFilter = optionalFilter(z.string().regex(TENANT_PATTERN, "a tenant name")).describe("only this tenant's entries (an admin's choice; any other caller sees only its own tenant's)");
export const DlqListQuery = z.object({
  type: typeFilter,
  tenant: tenantFilter,
  limit: pagination.limit,
  offset: queryInt(0, DLQ_OFFSET_MAX, 0).describe(`entries to skip from the newest (at most ${DLQ_OFFSET_MAX}: each is read; go further by cursor)`),
  cursor: z.string().min(1).max(64).optional().describe("`nextCursor` of the previous page: the page after it; wins over offset"),
});
const dryRunDescription = "count what the filter matches now (`matched`) and change nothing";
export const DlqBulkBody = z.object({ type: typeFilter, tenant: tenantFilter, all: z.boolean().optional(), dryRun: z.boolean().optional().describe(dryRunDescription) }).strict();
export const DlqBulkQuery = z.strictObject({ type: typeFilter, tenant: tenantFilter, all: z.enum(["true", "false"]).optional(), dryRun: z.enum(["true", "false"]).optional().describe(dryRunDescription) }); // strict: a misspelt filter (dryrun=true) must not act on its own

/** Bulk operations need a type, a tenant or an explicit all=true, so an empty body never wipes the DLQ. */
function bulkFilter(f: { type?: string; tenant?: string; all?: boolean }): DeadLetterFilter {
  if (!f.type && !f.tenant && !f.all) throw new InvalidRequestError("filter_required", "give a task type, a tenant, or all=true to act on every dead-lettered task");
  return { ...(f.type ? { type: f.type } : {}), ...(f.tenant ? { tenant: f.tenant } : {}) };
}

/** The tenant a DLQ call is limited to: the caller's, or for an admin the one asked for (if any). */
const tenantOfCall = (req: Parameters<typeof readScopeOf>[0], asked: string | undefined) => readScopeOf(req).tenant ?? asked;

export function dlqRouter(dlq: DeadLetterQueue, maxBodyBytes: number): Router {
  const r = Router();
  const json = jsonBody(maxBodyBytes);

  r.route("/api/dlq")
    .get(async (req, res) => {
      const q = parseQuery(DlqListQuery, req);
      const tenant = tenantOfCall(req, q.tenant);
      const offset = q.cursor !== undefined ? 0 : q.offset;
      const page = await dlq.list({ type: q.type, limit: q.limit, offset, ...(q.cursor !== undefined ? { cursor: q.cursor } : {}), ...(tenant ? { tenant } : {}) });
      res.json({ items: page.items, total: page.total, limit: q.limit, offset, nextCursor: page.nextCursor });
    })
    .delete(async (req, res) => {
      const q = parseQuery(DlqBulkQuery, req);
      const filter = bulkFilter({ type: q.type, tenant: tenantOfCall(req, q.tenant), all: q.all === "true" });
      if (q.dryRun === "true") return void res.json({ deleted: 0, dryRun: true, matched: await dlq.count(filter) });
      res.json(await dlq.deleteMany(filter));
    })
    .all(methodNotAllowed("GET", "DELETE"));

  r.route("/api/dlq/retry")
    .post(requireJson, json, async (req, res) => {
      const body = DlqBulkBody.safeParse(req.body ?? {});
      if (!body.success) throw new InvalidRequestError("invalid_request", "the body is not valid", body.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
      const filter = bulkFilter({ ...body.data, tenant: tenantOfCall(req, body.data.tenant) });
      if (body.data.dryRun) return void res.json({ retried: [], errors: [], dryRun: true, matched: await dlq.count(filter) });
      res.json(await dlq.retryMany(filter));
    })
    .all(methodNotAllowed("POST"));

  r.route("/api/dlq/:id")
    .get(async (req, res) => {
      res.json(await dlq.get(idParam(req, "dead-lettered task"), readScopeOf(req)));
    })
    .delete(async (req, res) => {
      await dlq.delete(idParam(req, "dead-lettered task"), readScopeOf(req));
      res.status(204).end();
    })
    .all(methodNotAllowed("GET", "DELETE"));

  r.route("/api/dlq/:id/retry")
    .post(async (req, res) => {
      const record = await dlq.retry(idParam(req, "dead-lettered task"), readScopeOf(req));
      res.status(202).json(statusView(record));
    })
    .all(methodNotAllowed("POST"));
  return r;
}
