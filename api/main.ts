// The API process: config → NATS (topology ensured) → express → listen; SIGTERM closes cleanly.
import { loadApiProgramConfig } from "./config.js";
import { connectLibrary } from "../library/connection.js";
import { createLogger } from "../kernel/logger.js";
import { documentTaskTypes } from "../library/task-types.js";
import { createApp } from "./app.js";
import { moveLegacyTasks } from "../kernel/legacy-tasks.js";
import { createEmbedder } from "../library/embeddings/index.js";
import { createVectorStore } from "../library/vectors/index.js";

const config = loadApiProgramConfig();
const log = createLogger("jetq-api", config.logLevel);
const conn = await connectLibrary(config.natsUrl, config.topology, { name: "jetq-api", logger: log });
const library = { embedder: createEmbedder(config.documents), vectors: createVectorStore(config.documents) };
const app = createApp({ conn, registry: documentTaskTypes(), config: config.api, defaultTimeoutSeconds: config.defaultTimeoutSeconds, log, library, sourcePolicy: config.documents.sources });
const server = app.listen(config.api.port, config.api.host, () => log.info("api listening", { port: config.api.port, host: config.api.host, nats: config.natsUrl }));
server.keepAliveTimeout = 65_000; // longer than common load-balancer idle timeouts
// Tasks queued by an earlier version: found by id meanwhile (find() reads the old subjects too).
moveLegacyTasks(conn)
  .then((r) => r.moved + r.left > 0 && log.info("legacy task messages moved to the current subjects", { ...r }))
  .catch((err: unknown) => log.error("moving legacy task messages failed; they are still worked off", { error: String(err) }));

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  log.info("api shutting down", { signal });
  server.close();
  server.closeIdleConnections();
  setTimeout(() => server.closeAllConnections(), 5_000).unref(); // SSE streams would hold it open
  await conn.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
