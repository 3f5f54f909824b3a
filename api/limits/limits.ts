// The per-tenant limits of one API process: rate limits on creates and uploads, the stored-bytes
// quota, and the middleware that applies them to the routes they cover. Counters live in NATS, so
// every replica on one NATS shares them.
import type { Request, RequestHandler } from "express";
import type { JetqConnection } from "../../kernel/connection.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import type { ObjectStore } from "@nats-io/obj";
import { bookObjectName } from "../../library/books.js";
import { principalOf } from "../auth/principal.js";
import { policyOf } from "../auth/route-policy.js";
import type { LimitsConfig } from "../config.js";
import { NatsCounters } from "../../kernel/counters.js";
import { BOOK_DELETE, RATE_LIMITED, UPLOAD_OPERATIONS } from "./limited-routes.js";
import { QuotaExceededError, sendQuotaExceeded } from "./quota-error.js";
import { RATE_SETTING, RateLimiter, type RateVerdict } from "./rate-limiter.js";
import { StoredBytesQuota } from "./stored-bytes-quota.js";

/** What an upload route calls to count its bytes against the caller's tenant (api/routes/books.ts). */
export interface UploadAccounting {
  reserve(req: Request, bytes: number): Promise<void>;
  release(req: Request, bytes: number): Promise<void>;
}

export interface Limits {
  rates: RateLimiter;
  storedBytes: StoredBytesQuota;
  /** The queued-tasks quota: the kernel refuses creates over it (kernel/task-queue.ts); shown here. */
  queuedTasks: { limit: number; used(tenant: string): Promise<number> };
  uploads: UploadAccounting;
  /** Mounted after authorization, before the routers. */
  middleware: RequestHandler;
}

function setRateHeaders(res: Parameters<RequestHandler>[1], v: RateVerdict) {
  // IETF draft (ratelimit-headers) names: the limit, what is left of it, seconds until it resets.
  res.setHeader("RateLimit-Limit", String(v.limit));
  res.setHeader("RateLimit-Remaining", String(v.remaining));
  res.setHeader("RateLimit-Reset", String(v.resetSeconds));
}

export function createLimits(conn: Pick<JetqConnection, "nc" | "jsm" | "backlog" | "topology">, config: LimitsConfig, uploads: ObjectStore): Limits {
  const rates = new RateLimiter(new NatsCounters(conn.nc, conn.jsm, TOPOLOGY.ratesStream), { creates: config.createsPerWindow, uploads: config.uploadsPerWindow }, config.windowSeconds);
  const storedBytes = new StoredBytesQuota(new NatsCounters(conn.nc, conn.jsm, TOPOLOGY.usageStream), config.maxStoredBytes);
  const tenantOf = (req: Request) => principalOf(req).tenant;

  const middleware: RequestHandler = async (req, res, next) => {
    const { pattern } = policyOf(req.method, req.path);
    if (!pattern) return next();
    const op = `${req.method.toUpperCase()} ${pattern}`;
    try {
      const kind = RATE_LIMITED[op];
      if (kind) {
        const tenant = tenantOf(req);
        const v = await rates.hit(kind, tenant);
        if (v.limit > 0) setRateHeaders(res, v);
        if (!v.allowed) {
          res.setHeader("Retry-After", String(v.resetSeconds));
          return sendRateLimited(res, v, tenant);
        }
      }
      if (UPLOAD_OPERATIONS.has(op)) await storedBytes.precheck(tenantOf(req), Number(req.headers["content-length"] ?? 0) || 0);
      if (op === BOOK_DELETE) giveBackOnDelete(req, res);
      next();
    } catch (err) {
      if (err instanceof QuotaExceededError) return sendQuotaExceeded(res, err);
      next(err);
    }
  };

  /** A deleted book's bytes leave its tenant's quota: read its size first, count it once the delete answered 204. */
  function giveBackOnDelete(req: Request, res: Parameters<RequestHandler>[1]) {
    const id = String(req.path.split("/").pop() ?? "").toLowerCase();
    const size = uploads.info(bookObjectName(id)).then((info) => (info && !info.deleted ? info.size : 0), () => 0);
    res.on("finish", () => {
      if (res.statusCode === 204) void size.then((bytes) => storedBytes.release(tenantOf(req), bytes));
    });
  }

  return {
    rates,
    storedBytes,
    queuedTasks: { limit: conn.topology.maxQueuedPerTenant ?? 0, used: (tenant) => conn.backlog.estimate(tenant) },
    uploads: { reserve: (req, bytes) => storedBytes.reserve(tenantOf(req), bytes), release: (req, bytes) => storedBytes.release(tenantOf(req), bytes) },
    middleware,
  };
}

function sendRateLimited(res: Parameters<RequestHandler>[1], v: RateVerdict, tenant: string) {
  const setting = RATE_SETTING[v.kind];
  res.status(429).json({
    error: {
      code: "rate_limited",
      message: `tenant ${tenant} is over its rate limit ${setting}: ${v.limit} ${v.kind} per ${v.windowSeconds} s; retry in ${v.resetSeconds} s`,
      limit: setting,
      tenant,
      max: v.limit,
      windowSeconds: v.windowSeconds,
      retryAfterSeconds: v.resetSeconds,
      resetsAt: v.resetsAt,
      details: { limit: setting, tenant, max: v.limit, windowSeconds: v.windowSeconds, retryAfterSeconds: v.resetSeconds, resetsAt: v.resetsAt },
    },
  });
}

