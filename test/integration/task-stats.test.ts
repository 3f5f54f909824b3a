// GET /api/stats as the overview reads it: arrivals, completions by outcome, the error rate and
// completion-time percentiles, per minute and in all, counted by NATS from what the API queued and
// cancelled and what the workers ended: exact, and the same whichever program asks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetqClient } from "../../client/index.js";
import { createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let client: JetqClient;
beforeAll(async () => {
  stack = await startStack({ workers: 2, env: { JETQ_CONCURRENCY: "8" } });
  client = new JetqClient({ baseUrl: stack.baseUrl });
});
afterAll(async () => stack?.stop());

describe("task statistics", () => {
  it("starts at zero, with no percentile or error rate to show", async () => {
    const s = await client.stats();
    expect(s).toMatchObject({ arrivals: 0, completions: 0, succeeded: 0, failed: 0, cancelled: 0, p50Ms: null, p95Ms: null, errorRate: null });
    expect(s.perMinute).toHaveLength(5);
    expect(s.windowMs).toBeGreaterThan(4 * 60_000);
    expect(s.windowMs).toBeLessThanOrEqual(5 * 60_000);
  });

  it("counts every task that arrived and ended, by outcome, with the error rate and percentiles", async () => {
    const ok = await Promise.all(Array.from({ length: 40 }, (_, i) => createTask(stack, { type: "echo", payload: { value: i } })));
    const bad = await Promise.all(Array.from({ length: 5 }, () => createTask(stack, { type: "poison", payload: {} })));
    const slow = await Promise.all(Array.from({ length: 2 }, () => createTask(stack, { type: "sleep", payload: { ms: 60_000 } })));
    await waitFor("the sleepers running", async () => (await Promise.all(slow.map((id) => taskStatus(stack, id)))).every((t) => t.status === "running"), 30_000);
    for (const id of slow) await client.cancelTask(id);
    await waitFor("every task ended", async () => (await Promise.all([...ok, ...bad].map((id) => taskStatus(stack, id)))).every((t) => ["succeeded", "failed"].includes(t.status)), 60_000);

    const s = await waitFor("the counters to catch up", async () => {
      const now = await client.stats();
      return now.succeeded === 40 && now.failed === 5 && now.cancelled === 2 && now;
    }, 30_000, 250);
    expect(s).toMatchObject({ arrivals: 47, completions: 47, errorRate: 5 / 45 });
    // Sub-second tasks: both percentiles inside the first bucket (up to 1 s).
    expect(s.p50Ms).toBeGreaterThan(0);
    expect(s.p50Ms!).toBeLessThanOrEqual(s.p95Ms!);
    expect(s.p95Ms!).toBeLessThanOrEqual(1_000);
    expect(s.buckets.at(-1)).toEqual({ leSeconds: null, count: 45 }); // cumulative: every succeeded and failed one
    const perMinute = s.perMinute.reduce((a, m) => ({ arrivals: a.arrivals + m.arrivals, succeeded: a.succeeded + m.succeeded, failed: a.failed + m.failed, cancelled: a.cancelled + m.cancelled }), { arrivals: 0, succeeded: 0, failed: 0, cancelled: 0 });
    expect(perMinute).toEqual({ arrivals: 47, succeeded: 40, failed: 5, cancelled: 2 });
    // A longer window holds the same tasks.
    expect(await client.stats({ minutes: 60 })).toMatchObject({ arrivals: 47, succeeded: 40, failed: 5, cancelled: 2 });
  });

  it("refuses a window it does not keep", async () => {
    for (const q of ["minutes=0", "minutes=61", "minutes=x"]) expect((await stack.api("GET", `/api/stats?${q}`)).status, q).toBe(400);
  });
});
