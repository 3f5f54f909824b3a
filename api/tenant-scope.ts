// Which tenant a request acts for (issue #11): what it creates belongs to the caller's tenant, and
// what it reads is limited to that tenant, except for an admin, who sees every tenant's. With
// JETQ_AUTH=off every caller is an admin of the default tenant, so nothing is hidden.
import type { Request } from "express";
import { principalOf } from "./auth/principal.js";

/** The tenant that owns what this request creates. */
export const ownerTenantOf = (req: Request): string => principalOf(req).tenant;

/** What this request may read: its tenant's objects, or (admin) everyone's. */
export function readScopeOf(req: Request): { tenant?: string } {
  const p = principalOf(req);
  return p.role === "admin" ? {} : { tenant: p.tenant };
}
