// GET /api/whoami: the caller as the server sees it (tenant and role), so a client such as the web
// view can show what the key may do before anyone presses a button. Any authenticated caller.
import { Router } from "express";
import { principalOf } from "../auth/principal.js";
import type { WhoAmI } from "../auth/whoami-schema.js";
import { methodNotAllowed } from "../http.js";

export function whoamiRouter(): Router {
  const r = Router();
  r.route("/api/whoami")
    .get((req, res) => {
      const p = principalOf(req);
      res.json({ via: p.via, id: p.id, tenant: p.tenant, role: p.role } satisfies WhoAmI);
    })
    .all(methodNotAllowed("GET"));
  return r;
}
