import { describe, expect, it } from "vitest";
import { silentLogger } from "../../kernel/logger.js";
import { OperatorMetrics } from "../../operator/core/metrics.js";
import { WorkQueue, type ReconcileResult } from "../../operator/core/work-queue.js";
import { waitFor } from "../support/wait.js";

const logger = silentLogger();

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("operator work queue", () => {
  it("reconciles a key added many times before it runs once", async () => {
    const seen: string[] = [];
    const q = new WorkQueue({ name: "t", logger, reconcile: async (key) => void seen.push(key) });
    // Added before start (as an informer's first list is): they wait, deduplicated.
    for (let i = 0; i < 5; i++) q.add("ns/a");
    for (let i = 0; i < 5; i++) q.add("ns/b");
    q.add("ns/a");
    expect(q.length).toBe(2);
    q.start();
    await waitFor("both keys reconciled", () => seen.length >= 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual(["ns/a", "ns/b"]);
    await q.stop();
  });

  it("reconciles a key added while it runs exactly once more, after the running one ends", async () => {
    const gate = deferred();
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const q = new WorkQueue({
      name: "t",
      logger,
      concurrency: 4,
      reconcile: async () => {
        calls++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        if (calls === 1) await gate.promise;
        running--;
      },
    });
    q.start();
    q.add("ns/a");
    await waitFor("first reconcile running", () => calls === 1);
    q.add("ns/a");
    q.add("ns/a");
    q.add("ns/a");
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1); // not started beside the running one, although 3 slots are free
    expect(q.length).toBe(0); // held back, not waiting in the ready list
    gate.resolve();
    await waitFor("second reconcile", () => calls === 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(2);
    expect(maxRunning).toBe(1);
    await q.stop();
  });

  it("never runs one key twice at once, while different keys run in parallel", async () => {
    const inFlight = new Map<string, number>();
    let worstPerKey = 0;
    let running = 0;
    let maxRunning = 0;
    let done = 0;
    const q = new WorkQueue({
      name: "t",
      logger,
      concurrency: 4,
      reconcile: async (key) => {
        inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
        worstPerKey = Math.max(worstPerKey, inFlight.get(key)!);
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
        running--;
        inFlight.set(key, inFlight.get(key)! - 1);
        done++;
      },
    });
    q.start();
    const keys = ["ns/a", "ns/b", "ns/c", "ns/d", "ns/e", "ns/f"];
    const adder = setInterval(() => {
      for (let i = 0; i < 3; i++) q.add(keys[Math.floor(Math.random() * keys.length)]!);
    }, 2);
    await waitFor("many reconciles", () => done >= 120, 20_000);
    clearInterval(adder);
    await q.stop();
    expect(worstPerKey).toBe(1);
    expect(maxRunning).toBeGreaterThan(1);
    expect(maxRunning).toBeLessThanOrEqual(4);
  });

  it("retries a failing key with a delay that doubles each time, up to the cap", async () => {
    const at: number[] = [];
    const q = new WorkQueue({
      name: "t",
      logger,
      baseDelayMs: 40,
      maxDelayMs: 320,
      reconcile: async () => {
        at.push(Date.now());
        throw new Error("boom");
      },
    });
    q.start();
    q.add("ns/a");
    await waitFor("seven attempts", () => at.length >= 7, 20_000);
    await q.stop();
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // 40, 80, 160, 320, 320, 320 (timers fire no earlier than asked; allow slack above)
    const expected = [40, 80, 160, 320, 320, 320];
    gaps.slice(0, 6).forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(expected[i]! - 2);
      expect(gap).toBeLessThan(expected[i]! + 150);
    });
    expect(q.failuresOf("ns/a")).toBe(0); // stop() forgets
  });

  it("forgets a key's failures once it succeeds", async () => {
    const at: number[] = [];
    let outcomes = ["fail", "fail", "fail", "fail", "ok", "fail", "ok"];
    const q = new WorkQueue({
      name: "t",
      logger,
      baseDelayMs: 30,
      reconcile: async () => {
        at.push(Date.now());
        const o = outcomes.shift();
        if (o === "fail") throw new Error("boom");
      },
    });
    q.start();
    q.add("ns/a");
    await waitFor("the success", () => at.length === 5, 10_000);
    expect(q.failuresOf("ns/a")).toBe(0);
    // The fourth failure waited 30 * 2^3 = 240 ms; after the success the next failure waits 30 again.
    expect(at[4]! - at[3]!).toBeGreaterThanOrEqual(238);
    q.add("ns/a");
    await waitFor("fail then succeed again", () => at.length === 7, 10_000);
    expect(at[6]! - at[5]!).toBeGreaterThanOrEqual(28);
    expect(at[6]! - at[5]!).toBeLessThan(200);
    outcomes = [];
    await q.stop();
  });

  it("requeues after requeueAfterMs, and addAfter keeps the earliest deadline", async () => {
    const at: number[] = [];
    const results: Array<ReconcileResult | void> = [{ requeueAfterMs: 150 }, undefined];
    const q = new WorkQueue({
      name: "t",
      logger,
      reconcile: async () => {
        at.push(Date.now());
        return results.shift();
      },
    });
    q.start();
    q.add("ns/a");
    await waitFor("requeued run", () => at.length === 2, 5_000);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(148);

    const t0 = Date.now();
    q.addAfter("ns/b", 1_000);
    q.addAfter("ns/b", 100);
    q.addAfter("ns/b", 2_000);
    await waitFor("delayed key", () => at.length === 3, 5_000);
    expect(Date.now() - t0).toBeLessThan(800);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(at.length).toBe(3); // the later deadlines were dropped, not run as well
    await q.stop();
  });

  it("stop() waits for running reconciles and runs nothing after", async () => {
    const gate = deferred();
    let calls = 0;
    let finished = false;
    const q = new WorkQueue({
      name: "t",
      logger,
      reconcile: async () => {
        calls++;
        await gate.promise;
        finished = true;
      },
    });
    q.start();
    q.add("ns/a");
    await waitFor("running", () => calls === 1);
    q.add("ns/b");
    let stopped = false;
    const stopping = q.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(finished).toBe(true);
    q.add("ns/c");
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1);
  });

  it("counts reconciles and errors in the operator metrics", async () => {
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    let n = 0;
    const q = new WorkQueue({
      name: "demo",
      logger,
      metrics,
      baseDelayMs: 5,
      reconcile: async () => {
        if (++n === 1) throw new Error("first fails");
      },
    });
    q.start();
    q.add("ns/a");
    await waitFor("retried", () => n === 2);
    await q.stop();
    const text = await metrics.metricsText();
    expect(text).toContain('jetq_operator_reconciles_total{controller="demo",result="error"} 1');
    expect(text).toContain('jetq_operator_reconciles_total{controller="demo",result="success"} 1');
    expect(text).toContain('jetq_operator_reconcile_errors_total{controller="demo"} 1');
    expect(text).toContain('jetq_operator_work_queue_depth{controller="demo"} 0');
  });
});
