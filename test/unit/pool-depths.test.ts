// A pool's lag is read from the work stream's consumers, named `<pool>-<priority>[-overflow]`.
import { describe, expect, it } from "vitest";
import { poolDepths } from "../../kernel/queue-stats.js";

describe("poolDepths", () => {
  it("adds pending and ack-pending over each pool's priority consumers", () => {
    const depths = poolDepths([
      { name: "default-high", num_pending: 2, num_ack_pending: 1 },
      { name: "default-normal", num_pending: 5, num_ack_pending: 0 },
      { name: "default-low", num_pending: 0, num_ack_pending: 3 },
      { name: "pdf-heavy-high", num_pending: 1, num_ack_pending: 0 },
      { name: "pdf-heavy-normal", num_pending: 0, num_ack_pending: 0 },
      { name: "pdf-heavy-low", num_pending: 0, num_ack_pending: 4 },
    ]);
    expect(depths).toEqual({ default: 11, "pdf-heavy": 5 });
  });

  it("counts a pool's overflow-lane consumers (fair share) with its shared ones", () => {
    const depths = poolDepths([
      { name: "default-normal", num_pending: 5, num_ack_pending: 1 },
      { name: "default-normal-overflow", num_pending: 900, num_ack_pending: 2 },
      { name: "pdf-heavy-low-overflow", num_pending: 7, num_ack_pending: 0 },
    ]);
    expect(depths).toEqual({ default: 908, "pdf-heavy": 7 });
  });

  it("ignores consumers that belong to no pool", () => {
    expect(poolDepths([{ name: "someone-elses-consumer", num_pending: 9, num_ack_pending: 9 }, { name: "-high", num_pending: 1, num_ack_pending: 0 }])).toEqual({});
  });
});
