// A request over a tenant's quota: 413 with {error:{code:"quota_exceeded", quota, limit, used}},
// the quota named by the setting that sets it, so the tenant (or its operator) knows what to raise.
import type { ErrorRequestHandler, Response } from "express";
import { QuotaExceededError } from "../../kernel/quota-exceeded.js";

export { QuotaExceededError };

export function sendQuotaExceeded(res: Response, err: QuotaExceededError): void {
  res.status(413).json({ error: { code: err.code, message: err.message, quota: err.quota, tenant: err.tenant, limit: err.limit, used: err.used, requested: err.requested, details: err.details } });
}

/** Mounted before the general error handler: a quota refusal gets its documented shape. */
export const quotaErrorAnswer: ErrorRequestHandler = (err, _req, res, next) => {
  if (err instanceof QuotaExceededError && !res.headersSent) return sendQuotaExceeded(res, err);
  next(err);
};
