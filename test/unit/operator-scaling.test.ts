// The WorkerPool's scaling: the kernel's policy with the pool's maxStep and activationBacklog, the
// spec read as policy bounds, and the conditions a reconcile reports.
import { describe, expect, it } from "vitest";
import { desiredReplicas, type Recommendation, type ScalingBounds } from "../../kernel/scaling-policy.js";
import type { WorkerPoolSpec } from "../../operator/core/resources.js";
import { depthSourceCondition, historyOrSeed, scalingBounds, scalingLimitedCondition } from "../../operator/pools/pool-scaling.js";

const zeroable: ScalingBounds = { minReplicas: 0, maxReplicas: 20, targetBacklogPerReplica: 10, scaleToZero: true, scaleUpWindowMs: 0, scaleDownWindowMs: 0 };

/** Runs the policy over a series of (time, depth) readings, applying each decision as the actuator would. */
function run(bounds: ScalingBounds, readings: [number, number][], start = 0): number[] {
  let current = start;
  let history: Recommendation[] = [];
  return readings.map(([now, depth]) => {
    const d = desiredReplicas({ depth, currentReplicas: current, now, history }, bounds);
    history = d.history;
    current = d.desiredReplicas;
    return current;
  });
}

describe("scaling policy: maxStep", () => {
  it("goes from 0 to N in one step when there is no maxStep", () => {
    expect(run(zeroable, [[0, 2000]])).toEqual([20]);
  });

  it("adds at most maxStep replicas per period, however many decisions the period holds", () => {
    const stepped = { ...zeroable, maxStep: 4, maxStepPeriodMs: 5000 };
    // Decisions every second (a burst reacts between polls): 4 in the first period, 4 more in the next.
    expect(run(stepped, [[0, 2000], [1000, 2000], [4000, 2000], [5500, 2000], [9000, 2000], [11_000, 2000]])).toEqual([4, 4, 4, 8, 8, 12]);
  });

  it("does not hold back a scale-down or the bounds", () => {
    const stepped = { ...zeroable, maxStep: 1, maxStepPeriodMs: 5000 };
    expect(run(stepped, [[0, 0]], 10)).toEqual([0]);
    expect(run({ ...stepped, minReplicas: 3, scaleToZero: false }, [[0, 0]], 0)).toEqual([3]);
  });
});

describe("scaling policy: activation", () => {
  const activated = { ...zeroable, activationBacklog: 5 };

  it("starts a pool at zero only when the depth exceeds activationBacklog", () => {
    expect(run(activated, [[0, 3], [1000, 5], [2000, 6]])).toEqual([0, 0, 1]);
  });

  it("keeps a running pool going below the threshold while work waits, and stops it when the queue is empty", () => {
    expect(run(activated, [[0, 6], [1000, 2], [2000, 0]])).toEqual([1, 1, 0]);
  });

  it("leaves the local pool's behaviour alone (no activation, no step limit)", () => {
    const local: ScalingBounds = { minReplicas: 1, maxReplicas: 4, targetBacklogPerReplica: 20, scaleToZero: false, scaleUpWindowMs: 0, scaleDownWindowMs: 60_000 };
    expect(run(local, [[0, 1000], [1000, 0], [62_000, 0]], 1)).toEqual([4, 4, 1]);
  });
});

describe("a controller that starts without history (restart, new leader)", () => {
  it("waits a whole scale-down window before removing replicas it found running", () => {
    const bounds = { ...zeroable, scaleDownWindowMs: 60_000 };
    const at = (now: number, history: Recommendation[]) => desiredReplicas({ depth: 0, currentReplicas: 4, now, history: historyOrSeed(history, now, 4) }, bounds);
    const first = at(0, []);
    expect(first.desiredReplicas).toBe(4);
    expect(at(59_000, first.history).desiredReplicas).toBe(4);
    expect(at(61_000, at(59_000, first.history).history).desiredReplicas).toBe(0);
    // Without the seed, the first reading alone would empty the pool at once.
    expect(desiredReplicas({ depth: 0, currentReplicas: 4, now: 0, history: [] }, bounds).desiredReplicas).toBe(0);
  });
});

describe("WorkerPool spec as policy bounds", () => {
  const spec: WorkerPoolSpec = { deploymentName: "d", taskTypes: ["sync_sources"], minReplicas: 0, maxReplicas: 8, targetBacklogPerReplica: 25, pollingIntervalSeconds: 2, scaleUp: { stabilizationWindowSeconds: 0, maxStep: 3 }, scaleDown: { stabilizationWindowSeconds: 30 }, activationBacklog: 4 };

  it("maps every field, maxStep per polling interval", () => {
    expect(scalingBounds(spec)).toEqual({ minReplicas: 0, maxReplicas: 8, targetBacklogPerReplica: 25, scaleToZero: true, scaleUpWindowMs: 0, scaleDownWindowMs: 30_000, activationBacklog: 4, maxStep: 3, maxStepPeriodMs: 2000 });
    expect(scalingBounds({ ...spec, scaleUp: {} })).not.toHaveProperty("maxStep");
    expect(scalingBounds({ ...spec, minReplicas: 2 }).scaleToZero).toBe(false);
  });

  it("says when the backlog wants more than maxReplicas, or more than maxStep allows now", () => {
    expect(scalingLimitedCondition(spec, 1000, 8, 8, "steady")).toMatchObject({ status: "True", reason: "TooManyReplicas", message: "backlog 1000 wants 40 replicas; maxReplicas is 8" });
    expect(scalingLimitedCondition(spec, 100, 3, 0, "backlog 100 wants 4, limited by maxStep 3")).toMatchObject({ status: "True", reason: "ScaleUpLimited" });
    expect(scalingLimitedCondition(spec, 100, 4, 2, "backlog 100 wants 4")).toMatchObject({ status: "False", reason: "DesiredWithinRange" });
  });

  it("reports the depth source's health: Prometheus, the fallback, JetStream only; a burst reading says nothing", () => {
    const base = { depth: 1, prometheusConfigured: true, burst: false } as const;
    expect(depthSourceCondition({ ...base, source: "prometheus" }, "http://p:9090")).toMatchObject({ status: "True", reason: "PrometheusHealthy" });
    expect(depthSourceCondition({ ...base, source: "jetstream", prometheusError: "no answer within 2000 ms" }, "http://p:9090")).toMatchObject({
      status: "False",
      reason: "PrometheusUnavailable",
      message: "Prometheus at http://p:9090: no answer within 2000 ms; depth read from JetStream instead",
    });
    expect(depthSourceCondition({ ...base, source: "jetstream", prometheusConfigured: false }, undefined)).toMatchObject({ status: "True", reason: "JetStreamOnly" });
    expect(depthSourceCondition({ ...base, source: "jetstream", burst: true }, "http://p:9090")).toBeUndefined();
  });
});
