// A request over one of a tenant's quotas (stored bytes, queued tasks): 413 with
// {error:{code:"quota_exceeded", quota, limit, used}}, the quota named by the setting that sets it,
// so the tenant (or its operator) knows what to raise. The kernel throws it for the queued-tasks
// quota (task-queue.ts); the API answers it (api/limits/quota-error.ts).
import { TooLargeError } from "./errors.js";

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
