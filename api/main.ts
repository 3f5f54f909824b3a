// The API process: config → NATS (topology ensured) → access control ready → express → listen;
// SIGTERM closes cleanly.
import express from "express";
import type { Server } from "node:http";
import { loadApiProgramConfig } from "./config.js";
import { connectLibrary } from "../library/connection.js";
import { createLogger } from "../kernel/logger.js";
import { createMetrics } from "../kernel/metrics.js";
import { documentTaskTypes } from "../library/task-types.js";
import { createApi } from "./app.js";
import { moveLegacyTasks } from "../kernel/legacy-tasks.js";
import { createEmbedder } from "../library/embeddings/index.js";
import { createVectorStore } from "../library/vectors/index.js";
import { announceAccess } from "./auth/announce.js";
import { describeListenAddress, isLoopbackHost } from "./listen-address.js";
import { sendError } from "./http.js";

const config = loadApiProgramConfig();
const log = createLogger("jetq-api", config.logLevel);
const conn = await connectLibrary(config.natsUrl, config.topology, { name: "jetq-api", logger: log, credentials: config.natsCredentials });
const library = { embedder: createEmbedder(config.documents), vectors: createVectorStore(config.documents) };
const metrics = createMetrics("api");
const { app, probes, access } = createApi({ conn, registry: documentTaskTypes(), config: config.api, defaultTimeoutSeconds: config.defaultTimeoutSeconds, log, library, sourcePolicy: config.documents.sources, metrics });
// Before the first request: JETQ_ADMIN_KEY stored, the first admin key printed, or auth-off said loudly.
await announceAccess({ access, auth: config.api.auth, log, reachableFromOtherHosts: !isLoopbackHost(config.api.host), out: (line) => process.stdout.write(`${line}\n`) });

const servers: Server[] = [];
const server = app.listen(config.api.port, config.api.host, () =>
  log.info(`api listening on ${describeListenAddress(config.api.host, config.api.port)}`, { port: config.api.port, host: config.api.host, nats: config.natsUrl, auth: config.api.auth.enabled ? "on" : "off" }),
);
server.keepAliveTimeout = 65_000; // longer than common load-balancer idle timeouts
servers.push(server);
if (config.api.metricsPort > 0) {
  // Probes and scrapes on a port of their own, e.g. one a NetworkPolicy opens to Prometheus alone.
  const probesApp = express();
  probesApp.disable("x-powered-by");
  probesApp.use(probes);
  probesApp.use((req, res) => sendError(res, 404, "not_found", `no route for ${req.method} ${req.path} on the metrics port (only /metrics, /healthz, /readyz)`));
  const metricsServer = probesApp.listen(config.api.metricsPort, config.api.host, () => log.info(`api metrics and health on ${describeListenAddress(config.api.host, config.api.metricsPort)}`, { port: config.api.metricsPort }));
  servers.push(metricsServer);
}
// Tasks queued by an earlier version: found by id meanwhile (find() reads the old subjects too).
moveLegacyTasks(conn)
  .then((r) => r.moved + r.left > 0 && log.info("legacy task messages moved to the current subjects", { ...r }))
  .catch((err: unknown) => log.error("moving legacy task messages failed; they are still worked off", { error: String(err) }));

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  log.info("api shutting down", { signal });
  for (const s of servers) {
    s.close();
    s.closeIdleConnections();
    setTimeout(() => s.closeAllConnections(), 5_000).unref(); // SSE streams would hold it open
  }
  await conn.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
