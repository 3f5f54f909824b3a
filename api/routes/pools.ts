// GET /api/pools: the WorkerPools as the operator last reconciled them (desired vs current
// replicas, the depth it read and from where). The operator publishes them to NATS
// (kernel/pool-status.ts), so the API needs no Kubernetes credentials; with no operator running
// the list is empty.
import { Router } from "express";
import { z } from "zod";
import type { JetqConnection } from "../../kernel/connection.js";
import { readPoolStatuses } from "../../kernel/pool-status.js";
import { PoolListSchema } from "../../kernel/pool-status-schema.js";
import { methodNotAllowed } from "../http.js";

export function poolsRouter(conn: JetqConnection): Router {
  const r = Router();
  r.route("/api/pools")
    .get(async (_req, res) => {
      res.json({ items: await readPoolStatuses(conn) } satisfies z.infer<typeof PoolListSchema>);
    })
    .all(methodNotAllowed("GET"));
  return r;
}
