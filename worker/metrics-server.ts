// A worker's /metrics and /healthz on their own small HTTP server (workers have no API).
import { createServer, type Server } from "node:http";
import type { JetqMetrics } from "../kernel/metrics.js";

export function startMetricsServer(metrics: JetqMetrics, port: number, host = "0.0.0.0"): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.url === "/metrics") {
      res.setHeader("Content-Type", metrics.registry.contentType);
      res.end(await metrics.registry.metrics());
    } else if (req.url === "/healthz") {
      res.setHeader("Content-Type", "application/json");
      res.end('{"status":"ok"}');
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
