// Metrics as Prometheus (and an autoscaler reading it) sees them: scraped from the API's /metrics
// and a worker's, checked against what the API says about the queue.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { QueueStats } from "../../kernel/queue-stats.js";
import type { Worker } from "../../worker/runtime.js";
import type { TaskHandler } from "../../worker/handler.js";
import { startMetricsServer } from "../../worker/metrics-server.js";
import { samples, sumOf } from "../support/prometheus-text.js";
import { clientOf, createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { testRegistry } from "../support/test-types.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let worker: Worker | undefined;
let workerMetrics: Server | undefined;
let workerMetricsUrl = "";

// `chain` queues a `record` task from its handler, the way pipeline handlers chain their next step.
const registry = testRegistry().register({ name: "chain", description: "enqueues one record task", payload: z.object({ label: z.string() }).strict() });
const chain: TaskHandler = async (ctx) => {
  const child = await ctx.enqueue({ type: "record", payload: { label: (ctx.payload as { label: string }).label }, priority: "low" });
  return { child: child.id };
};

beforeAll(async () => {
  // No worker at first: tasks wait, so depth can be read while nothing moves.
  stack = await startStack({ workers: 0, registry, handlers: { chain } });
});
afterAll(async () => {
  workerMetrics?.close();
  await stack?.stop();
});

const apiMetrics = () => clientOf(stack).metrics();
const workerMetricsText = () => fetch(workerMetricsUrl).then((r) => r.text());
const pool = () => stack.config.topology.pool;
const succeeded = (id: string) => waitFor(`task ${id} to succeed`, async () => {
  const s = await taskStatus(stack, id);
  return s.status === "succeeded" && s;
});

async function startScrapedWorker() {
  worker = await stack.startWorker();
  workerMetrics = await startMetricsServer(worker.metrics, 0, "127.0.0.1");
  workerMetricsUrl = `http://127.0.0.1:${(workerMetrics.address() as AddressInfo).port}/metrics`;
}

describe("queue depth", () => {
  it("exports the depth once, with breakdowns that each sum to it, and the depth of a pool whose workers never ran", async () => {
    await createTask(stack, { type: "echo", payload: {}, priority: "high" });
    await createTask(stack, { type: "echo", payload: {}, priority: "high" });
    await createTask(stack, { type: "record", payload: { label: "waiting" }, priority: "low" });
    await createTask(stack, { type: "sleep", payload: { ms: 10 } });
    await createTask(stack, { type: "sleep", payload: { ms: 10 } });

    const queue = await clientOf(stack).queue();
    expect(queue.depth).toBe(5);
    const text = await apiMetrics();
    // One series for the total: sum() over one API replica is the depth, not a multiple of it.
    expect(samples(text, "jetq_queue_depth")).toHaveLength(1);
    expect(sumOf(text, "jetq_queue_depth")).toBe(queue.depth);
    expect(sumOf(text, "jetq_queue_depth_by_priority")).toBe(queue.depth);
    expect(sumOf(text, "jetq_queue_depth_by_priority", { priority: "high" })).toBe(2);
    expect(sumOf(text, "jetq_queue_depth_by_priority", { priority: "low" })).toBe(1);
    expect(sumOf(text, "jetq_queue_depth_by_type")).toBe(queue.depth);
    expect(sumOf(text, "jetq_queue_depth_by_type", { type: "sleep" })).toBe(2);
    // No worker of this pool has run yet; its consumers (made by ensureTopology) count the lag.
    expect(samples(text, "jetq_pool_depth")).toEqual([{ labels: expect.objectContaining({ pool: pool() }), value: 5 }]);
    expect(samples(text, "jetq_worker_busy")).toEqual([]);
    // The same number for one pool on its own, as the operator reads it; a pool without consumers is 0.
    const stats = new QueueStats(stack.conn);
    expect(await stats.poolDepth(pool())).toBe(5);
    expect(await stats.poolDepth("no-such-pool")).toBe(0);
  });

  it("counts a pool's waiting and in-flight tasks, and each worker's busy slots, while tasks run", async () => {
    await startScrapedWorker();
    await waitFor("the waiting tasks to finish", async () => (await clientOf(stack).queue()).depth === 0);

    // Concurrency 4 (TEST_ENV): four run, two wait.
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await createTask(stack, { type: "sleep", payload: { ms: 60_000 } }));
    const w = worker!;
    try {
      const own = await waitFor("four busy slots on the worker's /metrics", async () => {
        const text = await workerMetricsText();
        return sumOf(text, "jetq_worker_busy_slots", { worker: w.id }) === 4 && text;
      });
      expect(samples(own, "jetq_worker_busy_slots")).toEqual([{ labels: expect.objectContaining({ worker: w.id }), value: 4 }]);
      // The pool's depth is all six, pending plus ack-pending, not just the waiting two. (Polled: the
      // API reuses a scrape's JetStream read for 500 ms.)
      const running = await waitFor("the pool's depth to count running and waiting tasks", async () => {
        const text = await apiMetrics();
        return sumOf(text, "jetq_pool_depth", { pool: pool() }) === 6 && text;
      });
      // In flight: the four running, and at most one an idle long poll took early.
      expect(sumOf(running, "jetq_tasks_in_flight")).toBeGreaterThanOrEqual(4);
      expect(sumOf(running, "jetq_queue_depth")).toBe(6);
      expect(sumOf(own, "jetq_worker_slots", { worker: w.id })).toBe(4);
      // The API reads busy slots from presence records, rewritten within a second of a change (the
      // operator ranks pods for a scale-down by them), not only at the 5 s beat.
      const reported = await waitFor("the presence record to show four busy slots", async () => {
        const text = await apiMetrics();
        return sumOf(text, "jetq_worker_busy", { worker: w.id, pool: pool() }) === 4 && text;
      }, 4_000, 100);
      expect(samples(reported, "jetq_worker_busy")).toHaveLength(1);
      expect(sumOf(reported, "jetq_worker_concurrency", { worker: w.id, pool: pool() })).toBe(4);
    } finally {
      // Cancelled even when an assertion failed, so the next test has a free worker.
      for (const id of ids) await clientOf(stack).cancelTask(id).catch(() => undefined); // one may have ended
    }
    const idle = await waitFor("the worker idle again", async () => {
      const text = await workerMetricsText();
      return sumOf(text, "jetq_worker_busy_slots", { worker: w.id }) === 0 && text;
    });
    expect(samples(idle, "jetq_worker_busy_slots")).toHaveLength(1);
    await waitFor("the presence record to show the worker idle", async () => sumOf(await apiMetrics(), "jetq_worker_busy", { worker: w.id, pool: pool() }) === 0, 4_000, 100);
    await waitFor("the pool drained", async () => sumOf(await apiMetrics(), "jetq_pool_depth", { pool: pool() }) === 0);
  });
});

describe("jetq_tasks_created_total", () => {
  it("counts each task once where it is created: over HTTP, by a handler's ctx.enqueue and by a DLQ replay", async () => {
    const created = async (type: string, priority: string) => ({
      api: sumOf(await apiMetrics(), "jetq_tasks_created_total", { type, priority }),
      worker: sumOf(await workerMetricsText(), "jetq_tasks_created_total", { type, priority }),
    });
    const total = async () => sumOf(await apiMetrics(), "jetq_tasks_created_total") + sumOf(await workerMetricsText(), "jetq_tasks_created_total");
    const before = {
      total: await total(),
      echoHigh: await created("echo", "high"),
      echoNormal: await created("echo", "normal"),
      chain: await created("chain", "normal"),
      record: await created("record", "low"),
      poison: await created("poison", "normal"),
    };

    await succeeded(await createTask(stack, { type: "echo", payload: {}, priority: "high" }));
    // The same idempotency key twice is one task.
    const keyed = await createTask(stack, { type: "echo", payload: {}, idempotencyKey: "metrics-once" });
    expect(await createTask(stack, { type: "echo", payload: {}, idempotencyKey: "metrics-once" })).toBe(keyed);
    await succeeded(keyed);
    const parent = await succeeded(await createTask(stack, { type: "chain", payload: { label: "child" } }));
    await succeeded(parent.result.child);
    const poison = await createTask(stack, { type: "poison", payload: {} });
    const deadLettered = () => waitFor("the poison task dead-lettered", async () => (await taskStatus(stack, poison)).deadLettered === true);
    await deadLettered();
    expect(await clientOf(stack).dlq.retry(poison)).toMatchObject({ id: poison, status: "queued" }); // 202
    await deadLettered();

    const delta = (after: { api: number; worker: number }, was: { api: number; worker: number }) => ({ api: after.api - was.api, worker: after.worker - was.worker });
    // HTTP creates and replays are counted by the API; tasks chained by handlers by the worker.
    expect(delta(await created("echo", "high"), before.echoHigh)).toEqual({ api: 1, worker: 0 });
    expect(delta(await created("echo", "normal"), before.echoNormal)).toEqual({ api: 1, worker: 0 });
    expect(delta(await created("chain", "normal"), before.chain)).toEqual({ api: 1, worker: 0 });
    expect(delta(await created("record", "low"), before.record)).toEqual({ api: 0, worker: 1 });
    expect(delta(await created("poison", "normal"), before.poison)).toEqual({ api: 2, worker: 0 }); // created, then replayed
    expect((await total()) - before.total).toBe(6);
  });
});
