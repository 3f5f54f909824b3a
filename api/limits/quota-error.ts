// A request over a tenant's quota: 413 with {error:{code:"quota_exceeded", quota, limit, used}},
// the quota named by the setting that sets it, so the tenant (or its operator) knows what to raise.
import type { ErrorRequestHandler, Response } from "express";
import { TooLargeError } from "../../kernel/errors.js";

export class QuotaExceededError extends TooLargeError {
  constructor(
    readonly quota: string,
    readonly tenant: string,
    readonly limit: number,
    readonly used: number,
    readonly requested: number,
  ) {
    super("quota_exceeded", `tenant ${tenant} is over its quota ${quota}: ${used} of ${limit} used, this request needs ${requested} more`, { quota, tenant, limit, used, requested });
  }
}

export function sendQuotaExceeded(res: Response, err: QuotaExceededError): void {
  res.status(413).json({ error: { code: err.code, message: err.message, quota: err.quota, tenant: err.tenant, limit: err.limit, used: err.used, requested: err.requested, details: err.details } });
}

/** Mounted before the general error handler: a quota refusal gets its documented shape. */
export const quotaErrorAnswer: ErrorRequestHandler = (err, _req, res, next) => {
  if (err instanceof QuotaExceededError && !res.headersSent) return sendQuotaExceeded(res, err);
  next(err);
};
