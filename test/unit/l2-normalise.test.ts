// The one L2 normalisation that embedders and the local vector store share.
import { describe, expect, it } from "vitest";
import { normaliseL2 } from "../../library/vectors/l2-normalise.js";
import { unitVector } from "../../library/vectors/chunk-table-rows.js";

describe("L2 normalisation", () => {
  it("scales to unit length in place and says the squared length it had", () => {
    const v = Float32Array.from([3, 0, 4]);
    expect(normaliseL2(v)).toBe(25);
    expect(Array.from(v)).toEqual([Math.fround(0.6), 0, Math.fround(0.8)]);
  });

  it("leaves the zero vector zero, without NaN", () => {
    const v = new Float32Array(4);
    expect(normaliseL2(v)).toBe(0);
    expect(Array.from(v)).toEqual([0, 0, 0, 0]);
  });

  it("is what the local store keeps: a unit copy, refusing non-finite vectors", () => {
    const v = Float32Array.from([0, 2]);
    expect(Array.from(unitVector(v, 2))).toEqual([0, 1]);
    expect(Array.from(v)).toEqual([0, 2]);
    expect(() => unitVector(Float32Array.from([Infinity, 1]), 2)).toThrow(/non-finite/);
  });
});
