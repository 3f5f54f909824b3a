// Who is asking: reads `Authorization: Bearer …` on every request but the public ones (health,
// readiness, metrics, the document), checks it, and records the caller for what follows (roles,
// audit, tenants). No or bad credentials: 401. With JETQ_AUTH=off every caller is an anonymous
// admin of the default tenant.
import type { RequestHandler } from "express";
import { setPrincipal, type Principal } from "./principal.js";
import { sendUnauthorized } from "./refusals.js";
import { DEFAULT_TENANT } from "./roles.js";
import { isPublicPath } from "./route-policy.js";
import type { Verdict } from "./verdict.js";

export const AUTH_OFF_PRINCIPAL: Principal = Object.freeze({ via: "auth_off", id: "anonymous", tenant: DEFAULT_TENANT, role: "admin" });

const BEARER = /^Bearer +([^\s]+) *$/i;

export interface Authenticator {
  enabled: boolean;
  /** Checks a bearer token (an API key or a JWT). Throws only when it cannot tell (NATS away: 503). */
  verify(token: string): Promise<Verdict>;
}

export function authenticate(auth: Authenticator): RequestHandler {
  return async (req, res, next) => {
    if (isPublicPath(req.path)) return next();
    if (!auth.enabled) {
      setPrincipal(req, AUTH_OFF_PRINCIPAL);
      return next();
    }
    const header = req.headers.authorization;
    if (!header) return sendUnauthorized(res, "unauthenticated", "this endpoint needs credentials: send Authorization: Bearer <API key>", true);
    const token = BEARER.exec(header)?.[1];
    if (!token) return sendUnauthorized(res, "invalid_credentials", "send credentials as Authorization: Bearer <API key>");
    let verdict: Verdict;
    try {
      verdict = await auth.verify(token);
    } catch (err) {
      return next(err);
    }
    if ("refusal" in verdict) return sendUnauthorized(res, verdict.refusal.code, verdict.refusal.message);
    setPrincipal(req, verdict.principal);
    next();
  };
}
