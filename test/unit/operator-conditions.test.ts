import { describe, expect, it } from "vitest";
import { conditionUnchanged, findCondition, isConditionTrue, setCondition } from "../../operator/core/conditions.js";
import type { Condition } from "../../operator/core/resources.js";

const t1 = new Date("2026-01-01T10:00:00.250Z");
const t2 = new Date("2026-01-01T11:00:00Z");

describe("operator conditions", () => {
  it("adds a condition with its transition time (RFC 3339, seconds) and observedGeneration", () => {
    const list = setCondition(undefined, { type: "Ready", status: "False", reason: "Queued", message: "waiting" }, 1, t1);
    expect(list).toEqual([{ type: "Ready", status: "False", reason: "Queued", message: "waiting", lastTransitionTime: "2026-01-01T10:00:00Z", observedGeneration: 1 }]);
  });

  it("keeps lastTransitionTime while the status stays, but takes the new reason, message and generation", () => {
    const before = setCondition(undefined, { type: "Ready", status: "False", reason: "Queued", message: "waiting" }, 1, t1);
    const after = setCondition(before, { type: "Ready", status: "False", reason: "Retrying", message: "attempt 2" }, 2, t2);
    expect(after[0]).toMatchObject({ status: "False", reason: "Retrying", message: "attempt 2", observedGeneration: 2, lastTransitionTime: "2026-01-01T10:00:00Z" });
  });

  it("moves lastTransitionTime when the status changes", () => {
    const before = setCondition(undefined, { type: "Ready", status: "False", reason: "Queued", message: "" }, 1, t1);
    const after = setCondition(before, { type: "Ready", status: "True", reason: "Succeeded", message: "" }, 1, t2);
    expect(after[0]!.lastTransitionTime).toBe("2026-01-01T11:00:00Z");
    expect(isConditionTrue(after, "Ready")).toBe(true);
  });

  it("updates one type in place, keeps the others and their order, and does not modify its input", () => {
    const input: Condition[] = [
      { type: "Available", status: "True", reason: "A", message: "", lastTransitionTime: "2025-01-01T00:00:00Z", observedGeneration: 1 },
      { type: "Ready", status: "False", reason: "B", message: "", lastTransitionTime: "2025-01-01T00:00:00Z", observedGeneration: 1 },
    ];
    const frozen = structuredClone(input);
    const out = setCondition(input, { type: "Ready", status: "True", reason: "C", message: "done" }, 3, t2);
    expect(input).toEqual(frozen);
    expect(out.map((c) => c.type)).toEqual(["Available", "Ready"]);
    expect(out[0]).toBe(input[0]);
    expect(findCondition(out, "Ready")).toMatchObject({ status: "True", reason: "C", observedGeneration: 3 });
    const added = setCondition(out, { type: "Degraded", status: "Unknown", reason: "D", message: "" }, 3, t2);
    expect(added.map((c) => c.type)).toEqual(["Available", "Ready", "Degraded"]);
  });

  it("tells when setting a condition would change nothing", () => {
    const list = setCondition(undefined, { type: "Ready", status: "True", reason: "Ok", message: "m" }, 2, t1);
    expect(conditionUnchanged(list, { type: "Ready", status: "True", reason: "Ok", message: "m" }, 2)).toBe(true);
    expect(conditionUnchanged(list, { type: "Ready", status: "True", reason: "Ok", message: "m" }, 3)).toBe(false);
    expect(conditionUnchanged(list, { type: "Ready", status: "True", reason: "Ok", message: "other" }, 2)).toBe(false);
    expect(conditionUnchanged(list, { type: "Synced", status: "True", reason: "Ok", message: "m" }, 2)).toBe(false);
  });
});
