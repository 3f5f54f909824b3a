// What GET /api/limits answers: one schema for the route, the OpenAPI document and the client
// (which must not pull the route's Express code along).
import { z } from "zod";

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
