// The audit trail: one structured log line per admin action and per delete, with who did it,
// what, to what, how it ended and when. Written when the answer is sent, so refusals (403, 404)
// are in it too. Never a key or a token: the actor is named by key id or token subject.
import type { Logger } from "../../kernel/logger.js";
import { actorOf, type Principal } from "./principal.js";

export type AuditOutcome = "succeeded" | "denied" | "not_found" | "refused" | "failed";

export interface AuditLine {
  audit: true;
  actor: ReturnType<typeof actorOf>;
  action: string;
  target: string;
  outcome: AuditOutcome;
  status: number;
  at: string;
}

export function outcomeOf(status: number): AuditOutcome {
  if (status < 400) return "succeeded";
  if (status === 403) return "denied";
  if (status === 404) return "not_found";
  return status < 500 ? "refused" : "failed";
}

export function writeAudit(log: Logger, principal: Principal | undefined, action: string, target: string, status: number, at = new Date()): void {
  const line: AuditLine = { audit: true, actor: actorOf(principal), action, target, outcome: outcomeOf(status), status, at: at.toISOString() };
  log.info("audit", line);
}
