// The WorkerPool snapshot the operator publishes and GET /api/pools answers (pool-status.ts). Zod
// only, so the typed client (and the web view that bundles it) can parse answers without NATS.
import { z } from "zod";

export const PoolStatusSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  deployment: z.string(),
  taskTypes: z.array(z.string()),
  minReplicas: z.number().int().min(0),
  maxReplicas: z.number().int().min(0),
  desiredReplicas: z.number().int().min(0),
  currentReplicas: z.number().int().min(0),
  depth: z.number().int().min(0),
  depthSource: z.enum(["prometheus", "jetstream"]),
  updatedAt: z.string(),
});
export type PoolStatus = z.infer<typeof PoolStatusSchema>;

/** `GET /api/pools`. */
export const PoolListSchema = z.object({ items: z.array(PoolStatusSchema) });
