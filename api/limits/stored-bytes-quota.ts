// The stored-bytes quota: how many bytes of uploaded books a tenant holds, one NATS counter per
// tenant. An upload reserves its bytes before its tasks are queued (add, and take back at once if
// the sum is over the quota), so two replicas cannot both admit the upload that crosses it; a
// duplicate that stores nothing, a failed upload and a deleted book give their bytes back.
import type { NatsCounters } from "../../kernel/counters.js";
import { subjectToken } from "../../kernel/counters.js";
import { QuotaExceededError } from "./quota-error.js";

export const STORED_BYTES_SETTING = "JETQ_TENANT_MAX_BYTES";

export class StoredBytesQuota {
  constructor(
    private readonly counters: NatsCounters,
    /** 0: unlimited (still counted, so GET /api/limits shows the usage). */
    readonly limit: number,
  ) {}

  private subject(tenant: string) {
    return `jetq.usage.stored-bytes.${subjectToken(tenant)}`;
  }

  async used(tenant: string): Promise<number> {
    return Math.max(0, await this.counters.read(this.subject(tenant)));
  }

  /** Refuses early, from the request's declared size, an upload that cannot fit (no bytes read). */
  async precheck(tenant: string, declaredBytes: number): Promise<void> {
    if (this.limit === 0) return;
    const used = await this.used(tenant);
    // Multipart framing makes Content-Length a little larger than the files: refuse only when even
    // the files already stored are at the quota, or the body alone is far over what is left.
    if (used >= this.limit || declaredBytes > (this.limit - used) * 2 + 64 * 1024) throw new QuotaExceededError(STORED_BYTES_SETTING, tenant, this.limit, used, declaredBytes);
  }

  /** Counts `bytes` for `tenant`, or refuses (413 quota_exceeded) when they do not fit. */
  async reserve(tenant: string, bytes: number): Promise<void> {
    if (bytes <= 0) return;
    const after = await this.counters.add(this.subject(tenant), bytes);
    if (this.limit > 0 && after > this.limit) {
      await this.release(tenant, bytes);
      throw new QuotaExceededError(STORED_BYTES_SETTING, tenant, this.limit, after - bytes, bytes);
    }
  }

  /** Gives bytes back (a duplicate, a failed upload, a deleted book). Never fails the request. */
  async release(tenant: string, bytes: number): Promise<void> {
    if (bytes <= 0) return;
    await this.counters.add(this.subject(tenant), -bytes).catch(() => undefined);
  }
}


