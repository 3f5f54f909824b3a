// The answers authentication and authorization give: 401 and 403 in the API's error shape
// ({error:{code,message,details}}), with the WWW-Authenticate challenge of RFC 6750.
import type { Response } from "express";
import { sendError } from "../http.js";
import type { Role } from "./roles.js";

// An error_description may only hold printable ASCII without `"` and `\` (RFC 6750 §3).
const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]|["\\]/g, "'").slice(0, 300);

/** 401. `challengeOnly`: no credentials were sent, so the challenge names no error (RFC 6750 §3.1). */
export function sendUnauthorized(res: Response, code: string, message: string, challengeOnly = false): void {
  res.setHeader("WWW-Authenticate", challengeOnly ? `Bearer realm="jetq"` : `Bearer realm="jetq", error="invalid_token", error_description="${headerSafe(message)}"`);
  sendError(res, 401, code, message);
}

/** 403: the caller is known, but its role may not do this. */
export function sendForbidden(res: Response, role: Role, required: Role, what: string): void {
  const message = `a ${role} key may not ${what}: it needs the ${required} role`;
  res.setHeader("WWW-Authenticate", `Bearer realm="jetq", error="insufficient_scope", error_description="${headerSafe(message)}"`);
  sendError(res, 403, "forbidden", message, { role, required });
}
