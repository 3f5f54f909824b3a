import { afterEach, describe, expect, it } from "vitest";
import { startHealthServer } from "../../operator/core/health-server.js";
import { OperatorMetrics } from "../../operator/core/metrics.js";

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe("operator health server", () => {
  it("answers /healthz always, /readyz by isReady, and /metrics with the operator's metrics", async () => {
    const metrics = new OperatorMetrics();
    let ready = false;
    const server = await startHealthServer({ port: 0, host: "127.0.0.1", metrics, isReady: () => ready });
    close = server.close;
    const base = `http://127.0.0.1:${server.port}`;

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);

    metrics.setLeader(true);
    metrics.scaleDecision("jobs/pool", "up", 4, 37);
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toMatch(/^jetq_operator_leader 1$/m);
    expect(text).toContain('jetq_operator_scale_decisions_total{pool="jobs/pool",direction="up"} 1');
    expect(text).toContain('jetq_operator_desired_replicas{pool="jobs/pool"} 4');
    expect(text).toContain('jetq_operator_pool_depth_observed{pool="jobs/pool"} 37');
    expect(text).toContain("jetq_operator_process_resident_memory_bytes");
  });

  it("closes promptly even with a keep-alive client connected", async () => {
    const server = await startHealthServer({ port: 0, host: "127.0.0.1", metrics: new OperatorMetrics({ defaultMetrics: false }), isReady: () => true });
    await fetch(`http://127.0.0.1:${server.port}/healthz`);
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(1_000);
  });
});
