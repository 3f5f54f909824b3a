// Operations endpoints: metrics, liveness, readiness (the probes, which JETQ_METRICS_PORT also
// serves on a port of their own) and the OpenAPI document. All answer without credentials.
import { Router } from "express";
import type { JetqConnection } from "../../kernel/connection.js";
import { registerQueueGauges, type JetqMetrics } from "../../kernel/metrics.js";
import type { QueueStats } from "../../kernel/queue-stats.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { methodNotAllowed, sendError } from "../http.js";
import { withServerLimits, type buildOpenApi } from "../openapi.js";
import { withAccess } from "../auth/openapi-access.js";

export interface OpsRouterDeps {
  conn: JetqConnection;
  metrics: JetqMetrics;
  stats: QueueStats;
  openapi: ReturnType<typeof buildOpenApi>;
  /** Settings the document states besides those of the connection (JETQ_MAX_UPLOAD_FILES). */
  limits?: { maxUploadFiles?: number };
  /** Whether credentials are asked for (JETQ_AUTH): the document states it. */
  authEnabled: boolean;
}

/** /metrics, /healthz, /readyz. Registers the queue gauges: one per metrics registry. */
export function probesRouter(deps: Pick<OpsRouterDeps, "conn" | "metrics" | "stats">): Router {
  const r = Router();
  registerQueueGauges(deps.metrics, deps.stats);
  r.route("/metrics")
    .get(async (_req, res) => {
      res.set("Content-Type", deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    })
    .all(methodNotAllowed("GET"));
  r.route("/healthz")
    .get((_req, res) => {
      res.json({ status: "ok" });
    })
    .all(methodNotAllowed("GET"));
  r.route("/readyz")
    .get(async (_req, res) => {
      // Answered at once while NATS is away: probes time out in about a second, and a request sent
      // now would wait for the reconnect.
      if (!deps.conn.connected) return sendError(res, 503, "not_ready", "not connected to NATS (reconnecting)");
      let timer: NodeJS.Timeout | undefined;
      try {
        const streams = Promise.all([deps.conn.jsm.streams.info(TOPOLOGY.tasksStream), deps.conn.jsm.streams.info(TOPOLOGY.dlqStream)]);
        const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("no answer within 2 s")), 2_000)));
        await Promise.race([streams, late]);
        res.json({ status: "ready" });
      } catch (err) {
        sendError(res, 503, "not_ready", `JetStream not ready: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    })
    .all(methodNotAllowed("GET"));
  return r;
}

export function openApiRouter(deps: Pick<OpsRouterDeps, "conn" | "openapi" | "limits" | "authEnabled">): Router {
  const r = Router();
  // The document says what this server accepts, so its configured limits and its access rules go in.
  const openapi = withAccess(withServerLimits(deps.openapi, { maxDeliver: deps.conn.topology.maxDeliver, ...deps.limits }), deps.authEnabled);
  r.route("/openapi.json")
    .get((_req, res) => {
      res.json(openapi);
    })
    .all(methodNotAllowed("GET"));
  return r;
}
