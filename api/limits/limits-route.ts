// GET /api/limits: the caller's tenant's limits and what it has used of them, so a client can slow
// down before it is refused. Any authenticated caller (viewer and up), for its own tenant only.
import { Router } from "express";
import { z } from "zod";
import { principalOf } from "../auth/principal.js";
import { methodNotAllowed } from "../http.js";
import type { Limits } from "./limits.js";
import { RATE_SETTING, type RateVerdict } from "./rate-limiter.js";
import { STORED_BYTES_SETTING } from "./stored-bytes-quota.js";
import { QUEUED_TASKS_SETTING } from "../../kernel/task-queue.js";

const RateView = z.object({
  setting: z.string().describe("the setting that sets this limit"),
  limit: z.number().int().describe("requests per window; 0 = unlimited"),
  used: z.number().int().describe("requests counted in the current window"),
  remaining: z.number().int(),
  windowSeconds: z.number().int(),
  resetsAt: z.string().describe("when the current window ends"),
});

export const LimitsView = z.object({
  tenant: z.string(),
  rates: z.object({ creates: RateView, uploads: RateView }),
  quotas: z.object({
    storedBytes: z.object({ setting: z.string(), limit: z.number().int().describe("bytes; 0 = unlimited"), used: z.number().int() }),
    queuedTasks: z.object({
      setting: z.string(),
      limit: z.number().int().describe("unfinished tasks (waiting, retrying or running) at once; 0 = unlimited"),
      used: z.number().int().describe("unfinished tasks now, as this API replica knows it (may lag other replicas' last moments)"),
    }),
  }),
});

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
