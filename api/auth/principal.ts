// The request context authentication builds and everything after it reads: who is asking (a key
// id or a token subject), for which tenant, with which role. Tenant isolation filters by it.
import type { Request } from "express";
import type { Role } from "./roles.js";

export interface Principal {
  /** How the caller proved who it is; `auth_off` when JETQ_AUTH=off (nobody is asked). */
  via: "api_key" | "jwt" | "auth_off";
  /** The API key's id, the token's subject (`sub`), or "anonymous" with auth off. */
  id: string;
  tenant: string;
  role: Role;
  /** The token's issuer (JWTs only). */
  issuer?: string;
}

const principals = new WeakMap<Request, Principal>();

export function setPrincipal(req: Request, principal: Principal): void {
  principals.set(req, principal);
}

/** The caller of a request that passed authentication; throws for one that did not (a wiring bug). */
export function principalOf(req: Request): Principal {
  const p = principals.get(req);
  if (!p) throw new Error(`no principal for ${req.method} ${req.path}: the route runs before authentication`);
  return p;
}

/** The caller as an audit line names it. */
export function actorOf(p: Principal | undefined): string | { via: Principal["via"]; keyId?: string; subject?: string; issuer?: string; tenant: string; role: Role } {
  if (!p) return "unauthenticated";
  if (p.via === "auth_off") return "anonymous (auth off)";
  if (p.via === "api_key") return { via: p.via, keyId: p.id, tenant: p.tenant, role: p.role };
  return { via: p.via, subject: p.id, ...(p.issuer ? { issuer: p.issuer } : {}), tenant: p.tenant, role: p.role };
}
