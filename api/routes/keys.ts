// /api/keys: an admin makes (the key is answered once), lists (never a secret or a hash) and
// revokes API keys. A revoke takes effect at once on this process and within the verified-key
// cache's TTL (JETQ_AUTH_CACHE_TTL_MS) on every other.
import { Router } from "express";
import { z } from "zod";
import { ConflictError, InvalidError, InvalidRequestError, notFound } from "../../kernel/errors.js";
import { AUDIT_TARGET } from "../auth/authorize.js";
import type { Access } from "../auth/access.js";
import { KeyCreateSchema, parseDateTime } from "../auth/key-schemas.js";
import { keyView } from "../auth/key-store.js";
import { principalOf, type Principal } from "../auth/principal.js";
import { TENANT_PATTERN } from "../auth/roles.js";
import { idParam, methodNotAllowed, optionalFilter, parseQuery, requireJson } from "../http.js";
import { jsonBody } from "../json-body.js";

/** `GET /api/keys?tenant=`; exported for the OpenAPI document. */
export const KeyListQuery = z.object({
  tenant: optionalFilter(z.string().regex(TENANT_PATTERN, "a tenant name")).describe("only this tenant's keys (empty or absent: every tenant)"),
});

const creatorOf = (p: Principal) => (p.via === "api_key" ? p.id : p.via === "jwt" ? `jwt:${p.id}` : "anonymous (auth off)");

export function keysRouter(access: Access, maxBodyBytes: number): Router {
  const r = Router();
  const json = jsonBody(maxBodyBytes);

  r.route("/api/keys")
    .post(requireJson, json, async (req, res) => {
      const parsed = KeyCreateSchema.safeParse(req.body ?? {});
      if (!parsed.success) throw new InvalidRequestError("invalid_request", "the body is not valid", parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
      const { tenant, role, name, expiresAt } = parsed.data;
      const expiresAtMs = expiresAt === undefined ? null : parseDateTime(expiresAt)!;
      if (expiresAtMs !== null && expiresAtMs <= Date.now()) throw new InvalidError("expiry_in_past", "expiresAt must be in the future", [{ path: "expiresAt", message: "in the past" }]);
      const { record, key } = await access.store.create({
        tenant,
        role,
        name: name ?? null,
        expiresAt: expiresAtMs === null ? null : new Date(expiresAtMs).toISOString(),
        createdBy: creatorOf(principalOf(req)),
        origin: "api",
      });
      res.locals[AUDIT_TARGET] = `key ${record.id} (tenant ${tenant}, role ${role})`;
      // The one answer that holds the key: no cache may keep it.
      res.status(201).set("Cache-Control", "no-store").json({ ...keyView(record), key });
    })
    .get(async (req, res) => {
      const q = parseQuery(KeyListQuery, req);
      const items = (await access.store.list()).filter((k) => !q.tenant || k.tenant === q.tenant).map((k) => keyView(k));
      res.set("Cache-Control", "no-store").json({ items, total: items.length });
    })
    .all(methodNotAllowed("GET", "POST"));

  r.route("/api/keys/:id")
    .delete(async (req, res) => {
      const id = idParam(req, "API key");
      res.locals[AUDIT_TARGET] = `key ${id}`;
      // It would be stored again at the next start: change the setting to retire it.
      if (id === access.settingKeyId) throw new ConflictError("key_managed_by_setting", "this is the key JETQ_ADMIN_KEY sets: change or remove that setting (and restart) to retire it");
      if (!(await access.store.revoke(id))) throw notFound("API key", id);
      access.cache.forget(id);
      res.status(204).end();
    })
    .all(methodNotAllowed("DELETE"));
  return r;
}
