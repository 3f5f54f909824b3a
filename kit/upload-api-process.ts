// A jetq API alone in its own process, so a test can measure its memory (RSS) without the test
// runner's. Reads NATS_URL (and any JETQ_* setting) from the environment, listens on a free port
// on 127.0.0.1, and prints one JSON line `{"port":N,"pid":P}` on stdout once it accepts requests.
// Run it with: node --import tsx kit/upload-api-process.ts
import type { AddressInfo } from "node:net";
import { createApp } from "../api/app.js";
import { loadConfig } from "./config.js";
import { connectLibrary } from "../library/connection.js";
import { createLogger } from "../kernel/logger.js";
import { documentTaskTypes } from "../library/task-types.js";

// Without credentials (JETQ_AUTH=off) unless the environment says otherwise: it measures uploads, not access.
const config = loadConfig({ JETQ_AUTH: "off", ...process.env, PORT: "0", HOST: "127.0.0.1" });
const log = createLogger("upload-api-process", "error"); // errors go to stderr, stdout stays JSON
const conn = await connectLibrary(config.natsUrl, config.topology, { name: "upload-api-process" });
const app = createApp({ conn, sourcePolicy: config.documents.sources, registry: documentTaskTypes(), config: config.api, defaultTimeoutSeconds: config.worker.defaultTimeoutSeconds, log });
const server = app.listen(config.api.port, config.api.host, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);
});

async function shutdown() {
  server.closeAllConnections();
  server.close();
  await conn.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
