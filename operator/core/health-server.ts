// The operator's own HTTP endpoints: /healthz (the process is alive), /readyz (this replica is
// ready: connected and, for the leader, its caches synced; a standby is ready too) and /metrics.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { OperatorMetrics } from "./metrics.js";

export interface HealthServerOptions {
  port: number;
  host?: string;
  metrics: OperatorMetrics;
  isReady: () => boolean;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz" || path === "/livez") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const ready = safeReady(opts.isReady);
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ok\n" : "not ready\n");
    } else if (path === "/metrics") {
      opts.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": opts.metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`),
      );
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  // Probes and scrapes are short; do not let idle keep-alive sockets hold close() up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "0.0.0.0", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function safeReady(isReady: () => boolean): boolean {
  try {
    return isReady();
  } catch {
    return false;
  }
}
