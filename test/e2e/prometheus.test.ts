// A real Prometheus scraping a running API's /metrics and a worker's, every second: the queue
// depth a WorkerPool scales on (jetq_pool_depth, jetq_queue_depth) is answerable through its HTTP
// API within a few seconds, targets can change while it runs, and a paused Prometheus answers
// nothing until it is resumed (how the operator's fallback to JetStream is tested).
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../kit/nats-server.js";
import { startMetricsServer } from "../../worker/metrics-server.js";
import { startPrometheus, type PrometheusHandle } from "../support/prometheus.js";
import { createTask, startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let workerMetrics: Server;
let prometheus: PrometheusHandle;
let apiTarget: string;
let workerTarget: string;
let targets: string[];

beforeAll(async () => {
  stack = await startStack({ workers: 1, env: { JETQ_CONCURRENCY: "2" } });
  workerMetrics = await startMetricsServer(stack.workers[0]!.metrics, await freePort(), "127.0.0.1");
  apiTarget = new URL(stack.baseUrl).host;
  workerTarget = `127.0.0.1:${(workerMetrics.address() as AddressInfo).port}`;
  targets = [apiTarget, workerTarget];
  prometheus = await startPrometheus({ targets: () => targets });
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  workerMetrics?.close();
  await stack?.stop();
});

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(promql: string, timeoutMs = 5_000): Promise<Series[]> {
  const res = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.json()) as { status: string; data: { result: Series[] } };
  if (body.status !== "success") throw new Error(`query ${promql}: ${JSON.stringify(body)}`);
  return body.data.result;
}

/** The single value a query answers, or undefined while it answers none. */
async function valueOf(promql: string): Promise<number | undefined> {
  const result = await query(promql);
  return result.length === 1 ? Number(result[0]!.value[1]) : undefined;
}

describe("Prometheus", () => {
  it("scrapes the API and a worker every second: pool and queue depth answerable within seconds", async () => {
    // Two running (concurrency 2), four waiting: the pool's lag is all six.
    for (let i = 0; i < 6; i++) await createTask(stack, { type: "sleep", payload: { ms: 60_000 } });
    const start = Date.now();
    await waitFor("jetq_queue_depth = 6 in Prometheus", async () => (await valueOf("max(jetq_queue_depth)")) === 6, 15_000, 200);
    await waitFor("jetq_pool_depth = 6 in Prometheus", async () => (await valueOf('max by (pool) (jetq_pool_depth{pool="default"})')) === 6, 15_000, 200);
    expect(Date.now() - start).toBeLessThan(10_000);
    // The worker's own series, labelled with its id, come from the worker's endpoint.
    const busy = await waitFor("the worker's busy slots", async () => {
      const r = await query("jetq_worker_busy_slots");
      return r.length === 1 && Number(r[0]!.value[1]) === 2 && r;
    }, 15_000, 200);
    expect(busy[0]!.metric).toMatchObject({ worker: stack.workers[0]!.id, instance: workerTarget, job: "jetq" });
    const up = await query("up");
    expect(up.map((s) => [s.metric.instance, s.value[1]]).sort()).toEqual([[apiTarget, "1"], [workerTarget, "1"]].sort());
  }, 60_000);

  it("takes new targets while running", async () => {
    targets = [apiTarget];
    await prometheus.refreshTargets();
    targets = [apiTarget, workerTarget];
    await prometheus.refreshTargets();
    await waitFor("both targets up again", async () => (await query("up == 1")).length === 2, 15_000, 200);
  }, 60_000);

  it("answers nothing while paused, and again once resumed", async () => {
    await prometheus.pause();
    await expect(query("up", 1_000)).rejects.toThrow();
    await prometheus.resume();
    expect(await valueOf("max(jetq_queue_depth)")).toBe(6);
  }, 60_000);
});
