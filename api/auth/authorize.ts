// What the caller may do: the role the route policy asks for (admin where it says nothing), 403
// below it. Audited operations get their audit line here, when the answer is done, whatever it
// was: success, a 403, a 404.
import type { RequestHandler } from "express";
import type { Logger } from "../../kernel/logger.js";
import { writeAudit } from "./audit.js";
import { principalOf } from "./principal.js";
import { sendForbidden } from "./refusals.js";
import { roleAllows } from "./roles.js";
import { isPublicPath, policyOf } from "./route-policy.js";

/** Set by a route on `res.locals` to name the audit target once it knows it (a new key's id). */
export const AUDIT_TARGET = "auditTarget";

export function authorize(log: Logger): RequestHandler {
  return (req, res, next) => {
    if (isPublicPath(req.path)) return next();
    const principal = principalOf(req);
    const policy = policyOf(req.method, req.path);
    if (policy.audit) {
      const action = policy.audit;
      res.once("close", () => {
        const named = res.locals[AUDIT_TARGET];
        writeAudit(log, principal, action, typeof named === "string" ? named : policy.target ? policy.target(req) : req.path, res.statusCode);
      });
    }
    if (!roleAllows(principal.role, policy.role)) return sendForbidden(res, principal.role, policy.role, `${req.method} ${policy.pattern ?? req.path}`);
    next();
  };
}
