// GET /api/limits: the caller's tenant's limits and what it has used of them, so a client can slow
// down before it is refused. Any authenticated caller (viewer and up), for its own tenant only.
import { Router } from "express";
import type { z } from "zod";
import { principalOf } from "../auth/principal.js";
import { methodNotAllowed } from "../http.js";
import type { Limits } from "./limits.js";
import { LimitsView } from "./limits-schema.js";
import { RATE_SETTING, type RateVerdict } from "./rate-limiter.js";
import { STORED_BYTES_SETTING } from "./stored-bytes-quota.js";
import { QUEUED_TASKS_SETTING } from "../../kernel/task-queue.js";

export function limitsRouter(limits: Limits): Router {
  const r = Router();
  r.route("/api/limits")
    .get(async (req, res) => {
      const tenant = principalOf(req).tenant;
      const [creates, uploads, storedBytes, queuedTasks] = await Promise.all([
        limits.rates.peek("creates", tenant),
        limits.rates.peek("uploads", tenant),
        limits.storedBytes.used(tenant),
        limits.queuedTasks.used(tenant),
      ]);
      const rate = (v: RateVerdict) => ({ setting: RATE_SETTING[v.kind], limit: v.limit, used: v.used, remaining: v.remaining, windowSeconds: v.windowSeconds, resetsAt: v.resetsAt });
      res.json({
        tenant,
        rates: { creates: rate(creates), uploads: rate(uploads) },
        quotas: {
          storedBytes: { setting: STORED_BYTES_SETTING, limit: limits.storedBytes.limit, used: storedBytes },
          queuedTasks: { setting: QUEUED_TASKS_SETTING, limit: limits.queuedTasks.limit, used: queuedTasks },
        },
      } satisfies z.infer<typeof LimitsView>);
    })
    .all(methodNotAllowed("GET"));
  return r;
}
