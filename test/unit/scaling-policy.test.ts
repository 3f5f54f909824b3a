import { describe, expect, it } from "vitest";
import { desiredReplicas, type ScalingBounds } from "../../kernel/scaling-policy.js";

const bounds: ScalingBounds = { minReplicas: 1, maxReplicas: 10, targetBacklogPerReplica: 10, scaleToZero: false, scaleUpWindowMs: 0, scaleDownWindowMs: 60_000 };

describe("scaling policy", () => {
  it("asks for ceil(depth / target) replicas within the bounds", () => {
    expect(desiredReplicas({ depth: 35, currentReplicas: 1, now: 0, history: [] }, bounds).desiredReplicas).toBe(4);
    expect(desiredReplicas({ depth: 1000, currentReplicas: 1, now: 0, history: [] }, bounds).desiredReplicas).toBe(10);
    expect(desiredReplicas({ depth: 0, currentReplicas: 1, now: 0, history: [] }, bounds).desiredReplicas).toBe(1);
  });

  it("holds a scale-down until the recommendation stayed low for the whole window", () => {
    let history = desiredReplicas({ depth: 80, currentReplicas: 8, now: 0, history: [] }, bounds).history;
    const early = desiredReplicas({ depth: 0, currentReplicas: 8, now: 30_000, history }, bounds);
    expect(early.desiredReplicas).toBe(8);
    expect(early.reason).toMatch(/held/);
    history = early.history;
    const late = desiredReplicas({ depth: 0, currentReplicas: 8, now: 61_000, history }, bounds);
    expect(late.desiredReplicas).toBe(1);
  });

  it("scales to zero only when allowed, and back to one as soon as work arrives", () => {
    const z = { ...bounds, minReplicas: 0, scaleToZero: true, scaleDownWindowMs: 0 };
    expect(desiredReplicas({ depth: 0, currentReplicas: 3, now: 0, history: [] }, z).desiredReplicas).toBe(0);
    expect(desiredReplicas({ depth: 1, currentReplicas: 0, now: 0, history: [] }, z).desiredReplicas).toBe(1);
    expect(desiredReplicas({ depth: 0, currentReplicas: 3, now: 0, history: [] }, { ...bounds, minReplicas: 0, scaleDownWindowMs: 0 }).desiredReplicas).toBe(1);
  });

  it("brings a replica count set by hand back inside the bounds", () => {
    expect(desiredReplicas({ depth: 0, currentReplicas: 50, now: 0, history: [] }, { ...bounds, scaleDownWindowMs: 0 }).desiredReplicas).toBe(1);
    expect(desiredReplicas({ depth: 5, currentReplicas: 0, now: 0, history: [] }, { ...bounds, minReplicas: 2 }).desiredReplicas).toBe(2);
  });
});
