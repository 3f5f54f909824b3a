// Operations endpoints: metrics, liveness, readiness, the OpenAPI document.
import { Router } from "express";
import { Gauge } from "prom-client";
import type { JetqConnection } from "../../kernel/connection.js";
import type { JetqMetrics } from "../../kernel/metrics.js";
import type { QueueSnapshot, QueueStats } from "../../kernel/queue-stats.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { PRIORITIES } from "../../kernel/task.js";
import { methodNotAllowed, sendError } from "../http.js";
import { withServerLimits, type buildOpenApi } from "../openapi.js";

/** Queue gauges read JetStream once per scrape (shared by all gauges of that scrape). */
function registerQueueGauges(metrics: JetqMetrics, stats: QueueStats) {
  let pending: Promise<QueueSnapshot> | null = null;
  const snapshot = () => (pending ??= stats.snapshot().finally(() => setTimeout(() => (pending = null), 500)));
  const registers = [metrics.registry];
  new Gauge({
    name: "jetq_queue_depth",
    help: "Tasks on the work stream (waiting + in flight) by priority and type",
    labelNames: ["priority", "type"],
    registers,
    async collect() {
      const s = await snapshot();
      this.reset();
      // Priority totals and type totals are separate series: subjects give both without a cross product.
      for (const p of PRIORITIES) this.set({ priority: p, type: "" }, s.byPriority[p]);
      for (const [t, n] of Object.entries(s.byType)) this.set({ priority: "", type: t }, n);
      this.set({ priority: "", type: "" }, s.depth);
    },
  });
  new Gauge({ name: "jetq_tasks_in_flight", help: "Tasks held by workers (ack pending)", registers, async collect() { this.set((await snapshot()).inFlight); } });
  new Gauge({ name: "jetq_dlq_depth", help: "Dead-lettered tasks", registers, async collect() { this.set((await snapshot()).deadLettered); } });
  new Gauge({ name: "jetq_workers", help: "Workers reporting presence", registers, async collect() { this.set((await snapshot()).workers.count); } });
  new Gauge({ name: "jetq_workers_utilisation", help: "Busy slots / slots over all workers", registers, async collect() { this.set((await snapshot()).workers.utilisation); } });
}

export interface OpsRouterDeps {
  conn: JetqConnection;
  metrics: JetqMetrics;
  stats: QueueStats;
  openapi: ReturnType<typeof buildOpenApi>;
  /** Settings the document states besides those of the connection (JETQ_MAX_UPLOAD_FILES). */
  limits?: { maxUploadFiles?: number };
}

export function opsRouter(deps: OpsRouterDeps): Router {
  const r = Router();
  // The document says what this server accepts, so its configured limits go in.
  const openapi = withServerLimits(deps.openapi, { maxDeliver: deps.conn.topology.maxDeliver, ...deps.limits });
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
  r.route("/openapi.json")
    .get((_req, res) => {
      res.json(openapi);
    })
    .all(methodNotAllowed("GET"));
  return r;
}
