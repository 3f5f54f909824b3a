// /api/sources: register, list, inspect, sync now, and remove external sources.
import express, { Router } from "express";
import { InvalidError, notFound } from "../../kernel/errors.js";
import { sourceRefusals, type SourcePolicy } from "../../library/source-safety.js";
import { SourceCreateSchema, type SourceRegistry } from "../../library/sources.js";
import type { TaskQueue } from "../../kernel/task-queue.js";
import { jsonBody } from "../json-body.js";
import { idParam, methodNotAllowed, requireJson } from "../http.js";
import { listPage } from "../listing.js";
import { statusUrl } from "./tasks.js";
import { ownerTenantOf, readScopeOf } from "../tenant-scope.js";
import { DEFAULT_TENANT } from "../../kernel/task.js";

export function sourcesRouter(deps: { sources: SourceRegistry; queue: TaskQueue; maxBodyBytes: number; policy: SourcePolicy }): Router {
  const r = Router();
  const json = jsonBody(deps.maxBodyBytes);
  // Another tenant's source is a 404 like a missing one: its existence is not revealed.
  const find = async (req: express.Request, id: string) => {
    const source = await deps.sources.get(id);
    const tenant = readScopeOf(req).tenant;
    if (!source || (tenant !== undefined && (source.tenant ?? DEFAULT_TENANT) !== tenant)) throw notFound("source", id);
    return source;
  };

  r.route("/api/sources")
    .post(requireJson, json, async (req, res) => {
      const parsed = SourceCreateSchema.safeParse(req.body);
      if (!parsed.success) {
        const details = parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
        const first = details[0]!;
        throw new InvalidError("invalid_source", `the source is not valid: ${first.path ? `${first.path}: ` : ""}${first.message}`, details);
      }
      // Refused now rather than accepted and failed at every sync. Without DNS: literal addresses,
      // local names and directory paths; the worker's fetch-time guard still checks every address.
      const refusals = sourceRefusals(parsed.data, deps.policy);
      if (refusals.length > 0) {
        const first = refusals[0]!;
        const more = refusals.length > 1 ? ` (and ${refusals.length - 1} more)` : "";
        throw new InvalidError("source_not_allowed", `${first.message}${more}`, refusals);
      }
      const source = await deps.sources.create(parsed.data, ownerTenantOf(req));
      res.status(201).location(`/api/sources/${source.id}`).json(source);
    })
    .get(async (req, res) => {
      res.json(await listPage(req, (q) => deps.sources.page(q, readScopeOf(req))));
    })
    .all(methodNotAllowed("GET", "POST"));

  r.route("/api/sources/:id")
    .get(async (req, res) => {
      const source = await find(req, idParam(req, "source"));
      res.json({ ...source, documents: Object.values(await deps.sources.documents(source.id)) });
    })
    .delete(async (req, res) => {
      const source = await find(req, idParam(req, "source"));
      await deps.sources.delete(source.id);
      res.status(204).end();
    })
    .all(methodNotAllowed("GET", "DELETE"));

  r.route("/api/sources/:id/sync")
    .post(async (req, res) => {
      const source = await find(req, idParam(req, "source"));
      // The sync, and the books it makes, belong to the source's tenant (an admin may sync anyone's).
      const { record } = await deps.queue.create({ type: "sync_sources", payload: { sourceId: source.id } }, { tenant: source.tenant ?? DEFAULT_TENANT });
      res.status(202).json({ id: record.id, status: record.status, statusUrl: statusUrl(record.id) });
    })
    .all(methodNotAllowed("POST"));
  return r;
}
