// The inner loop of exact search: dot products of one query with many rows, as a tiny WebAssembly
// module using 128-bit SIMD (f32x4). Plain JavaScript manages ~1 multiply-add per nanosecond, which
// is ~50 ms for 100,000 × 512; this kernel reads the rows at memory speed (~20 ms on the same
// machine). The module is assembled here, byte by byte, so there is no build step and no binary
// file; it is under 200 bytes.
//
//   scores(query, rows, count, strideBytes, out)   (all byte addresses in the shared memory)
//     for r in 0..count: out[r] = Σ query[j] · row_r[j], two f32x4 accumulators, 32 bytes a step
//   strideBytes must be a multiple of 32: rows are padded with zeros to a multiple of 8 floats.

export type DotKernel = (queryPtr: number, rowsPtr: number, count: number, strideBytes: number, outPtr: number) => void;

const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const section = (id: number, bytes: number[]) => [id, ...leb(bytes.length), ...bytes];
const name = (s: string) => [...leb(s.length), ...Buffer.from(s, "ascii")];

// Opcodes used below.
const I32 = 0x7f;
const V128 = 0x7b;
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = 0x0b;
const BR = 0x0c;
const BR_IF = 0x0d;
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_GE_U = 0x4f;
const I32_SHL = 0x74;
const F32_ADD = 0x92;
const F32_STORE = [0x38, 2, 0]; // align 4, offset 0
const simd = (op: number, ...immediates: number[]) => [0xfd, ...leb(op), ...immediates];
const V128_LOAD = (offset: number) => simd(0x00, 2, offset); // align hint 4 bytes
const V128_ZERO = simd(0x0c, ...new Array<number>(16).fill(0));
const F32X4_EXTRACT = (lane: number) => simd(0x1f, lane);
const F32X4_ADD = simd(0xe4);
const F32X4_MUL = simd(0xe6);

// Params 0–4; locals 5–7 (i32) and 8–9 (v128).
const P = { query: 0, rows: 1, count: 2, stride: 3, out: 4 };
const V = { r: 5, j: 6, row: 7, acc0: 8, acc1: 9 };

const accumulate = (acc: number, offset: number) => [
  ...get(acc),
  ...get(P.query), ...get(V.j), I32_ADD, ...V128_LOAD(offset),
  ...get(V.row), ...get(V.j), I32_ADD, ...V128_LOAD(offset),
  ...F32X4_MUL, ...F32X4_ADD,
  ...set(acc),
];

const body = [
  ...leb(2), 3, I32, 2, V128,
  ...get(P.rows), ...set(V.row),
  ...BLOCK, ...LOOP,
  ...get(V.r), ...get(P.count), I32_GE_U, BR_IF, 1,
  ...V128_ZERO, ...set(V.acc0),
  ...V128_ZERO, ...set(V.acc1),
  I32_CONST, 0, ...set(V.j),
  ...BLOCK, ...LOOP,
  ...get(V.j), ...get(P.stride), I32_GE_U, BR_IF, 1,
  ...accumulate(V.acc0, 0),
  ...accumulate(V.acc1, 16),
  ...get(V.j), I32_CONST, 32, I32_ADD, ...set(V.j),
  BR, 0,
  END, END,
  ...get(V.acc0), ...get(V.acc1), ...F32X4_ADD, ...set(V.acc0),
  ...get(P.out), ...get(V.r), I32_CONST, 2, I32_SHL, I32_ADD,
  ...get(V.acc0), ...F32X4_EXTRACT(0),
  ...get(V.acc0), ...F32X4_EXTRACT(1), F32_ADD,
  ...get(V.acc0), ...F32X4_EXTRACT(2), F32_ADD,
  ...get(V.acc0), ...F32X4_EXTRACT(3), F32_ADD,
  ...F32_STORE,
  ...get(V.row), ...get(P.stride), I32_ADD, ...set(V.row),
  ...get(V.r), I32_CONST, 1, I32_ADD, ...set(V.r),
  BR, 0,
  END, END,
  END,
];

const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 5, I32, I32, I32, I32, I32, 0]), // type: (i32 ×5) → ()
  ...section(2, [1, ...name("env"), ...name("memory"), 0x02, 0x00, 1]), // import env.memory, min 1 page
  ...section(3, [1, 0]),
  ...section(7, [1, ...name("scores"), 0x00, 0]),
  ...section(10, [1, ...leb(body.length), ...body]),
]);

const supported = (() => {
  try {
    return WebAssembly.validate(MODULE);
  } catch {
    return false;
  }
})();
const compiled = supported ? new WebAssembly.Module(MODULE) : undefined;

/** The SIMD kernel bound to this memory, or undefined where WebAssembly SIMD is unavailable. */
export function createDotKernel(memory: WebAssembly.Memory): DotKernel | undefined {
  if (!compiled) return undefined;
  const instance = new WebAssembly.Instance(compiled, { env: { memory } });
  return instance.exports["scores"] as DotKernel;
}
