// The API under test for the HTTP scenario, in its own process (as in production, and so the load
// generator does not share its event loop): createApp + listen on a free port, built-in task types.
// Prints {"port": n} on stdout once listening; exits on SIGTERM.
import { loadConfig } from "../kit/config.js";
import { connectLibrary } from "../library/connection.js";
import { silentLogger } from "../kernel/logger.js";
import { documentTaskTypes } from "../library/task-types.js";
import { createApp } from "../api/app.js";

const natsUrl = process.argv[2];
if (!natsUrl) throw new Error("usage: http-api-server.ts <nats-url>");
// Without credentials: the numbers stay comparable with earlier runs (a cached key costs a SHA-256 and a map lookup).
const cfg = loadConfig({ NATS_URL: natsUrl, LOG_LEVEL: "error", JETQ_AUTH: "off" });
const log = silentLogger();
const conn = await connectLibrary(cfg.natsUrl, cfg.topology, { name: "bench-api" });
const app = createApp({ conn, sourcePolicy: cfg.documents.sources, registry: documentTaskTypes(), config: cfg.api, defaultTimeoutSeconds: cfg.worker.defaultTimeoutSeconds, log });
const server = app.listen(0, "127.0.0.1", () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof addr === "object" && addr ? addr.port : 0 })}\n`);
});
server.keepAliveTimeout = 65_000;
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  void conn.close().finally(() => process.exit(0));
});
