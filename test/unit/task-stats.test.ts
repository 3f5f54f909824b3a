import { describe, expect, it } from "vitest";
import { quantileMs, STATS_BUCKETS_S } from "../../kernel/task-stats.js";

const counts = (byBucket: Record<number, number>) => Array.from({ length: STATS_BUCKETS_S.length + 1 }, (_, i) => byBucket[i] ?? 0);

describe("completion-time quantiles from buckets", () => {
  it("interpolates inside the bucket the rank falls in, as histogram_quantile does", () => {
    expect(quantileMs(counts({}), 0.5)).toBeNull();
    expect(quantileMs(counts({ 0: 10 }), 0.5)).toBe(500); // half of (0, 1 s]
    expect(quantileMs(counts({ 0: 10, 1: 10 }), 0.75)).toBe(3_000); // halfway through (1, 5 s]
    expect(quantileMs(counts({ 0: 99, 7: 1 }), 0.95)).toBeLessThanOrEqual(1_000); // the one slow task does not move p95
    expect(quantileMs(counts({ 0: 90, 7: 10 }), 0.95)).toBe(450_000); // half of the 10 in (300, 600 s]
  });

  it("gives the open bucket's lower bound for ranks past the last bound", () => {
    expect(quantileMs(counts({ [STATS_BUCKETS_S.length]: 3 }), 0.5)).toBe(3_600_000);
  });
});
