// What the per-tenant create rate limit costs a request: two APIs on one NATS, one without limits
// (JETQ_RATE_CREATES=0: nothing counted) and one with a limit no run reaches (every create adds to
// the NATS counter). Sequential POST /api/tasks/create on keep-alive connections, alternating blocks
// of the two so drift on a busy machine hits both alike; the difference is the limiter's round trip.
//   npx tsx bench/rate-limit-overhead.ts [requests per API, default 4000]
import type { Server } from "node:http";
import { Agent, request } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp } from "../api/app.js";
import { loadConfig } from "../kit/config.js";
import { startNatsServer } from "../kit/nats-server.js";
import { silentLogger } from "../kernel/logger.js";
import { connectLibrary } from "../library/connection.js";
import { benchRegistry, latencySummary, NOOP_TYPE, now } from "./lib.js";

const total = Number(process.argv[2] ?? 4000);
const BLOCK = 200;
const body = JSON.stringify({ type: NOOP_TYPE, payload: {} });

const nats = await startNatsServer({});
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

async function startApi(env: Record<string, string>) {
  const cfg = loadConfig({ NATS_URL: nats.url, LOG_LEVEL: "error", JETQ_AUTH: "off", ...env });
  const conn = await connectLibrary(cfg.natsUrl, cfg.topology, { name: "bench-api" });
  const app = createApp({ conn, sourcePolicy: cfg.documents.sources, registry: benchRegistry(), config: cfg.api, defaultTimeoutSeconds: 60, log: silentLogger() });
  const server: Server = await new Promise((r) => {
    const s = app.listen(0, "127.0.0.1", () => r(s));
  });
  return { port: (server.address() as AddressInfo).port, stop: async () => (server.closeAllConnections(), server.close(), await conn.close()) };
}

function create(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/api/tasks/create", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const unlimited = await startApi({ JETQ_RATE_CREATES: "0" });
const limited = await startApi({ JETQ_RATE_CREATES: "1000000000" });
const samples: Record<"unlimited" | "limited", number[]> = { unlimited: [], limited: [] };
for (let i = 0; i < 100; i++) await Promise.all([create(unlimited.port), create(limited.port)]); // warm up
for (let done = 0; done < total; done += BLOCK) {
  for (const [name, api] of [["unlimited", unlimited], ["limited", limited]] as const) {
    for (let i = 0; i < BLOCK; i++) {
      const t = now();
      const status = await create(api.port);
      if (status !== 202) throw new Error(`${name}: create answered ${status}`);
      samples[name].push(now() - t);
    }
  }
}
const u = latencySummary(samples.unlimited);
const l = latencySummary(samples.limited);
console.log(JSON.stringify({ requestsPerApi: total, unlimitedMs: u, limitedMs: l, addedMs: { p50: +(l.p50 - u.p50).toFixed(3), mean: +(l.mean - u.mean).toFixed(3), p99: +(l.p99 - u.p99).toFixed(3) } }, null, 2));
await Promise.all([unlimited.stop(), limited.stop()]);
agent.destroy();
await nats.stop();
