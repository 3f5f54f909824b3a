// Kept for the benchmark from the point-log store this one replaced: its exact scan is the
// reference the ANN index's recall is measured against (bench/vector-store-scale.ts).
// The vectors of a collection as one row-major float32 matrix in a WebAssembly memory, so the SIMD
// kernel (dot-kernel.ts) can scan it in place. Rows are padded with zeros to a multiple of 8 floats.
// Layout: [query row][scores of one scan chunk][row 0][row 1]…
// A WebAssembly memory grows but never shrinks (so deleted rows' space is reused, not returned),
// and holds at most 4 GiB: ~2 million rows of 512 dimensions, ~700,000 of 1536.
import { createDotKernel, type DotKernel } from "./dot-kernel.js";

const PAGE = 65536;
const MAX_PAGES = 65536;
/** Rows scored per kernel call; their scores sit in the memory between calls. */
export const SCAN_CHUNK = 4096;

export class VectorMatrix {
  readonly stride: number; // floats per row
  private readonly memory: WebAssembly.Memory;
  private readonly kernel?: DotKernel;
  private readonly queryPtr = 0;
  private readonly scoresPtr: number;
  private readonly rowsPtr: number;
  private f32: Float32Array;
  private rowCapacity: number;

  constructor(readonly dimensions: number) {
    this.stride = Math.ceil(dimensions / 8) * 8;
    this.scoresPtr = this.stride * 4;
    this.rowsPtr = this.scoresPtr + SCAN_CHUNK * 4;
    const pages = Math.ceil((this.rowsPtr + 1024 * this.stride * 4) / PAGE);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES });
    this.kernel = createDotKernel(this.memory);
    this.f32 = new Float32Array(this.memory.buffer);
    this.rowCapacity = this.capacityFor(pages);
  }

  /** Whether scans use the SIMD kernel (false: the plain JavaScript loop). */
  get simd(): boolean {
    return this.kernel !== undefined;
  }

  /** Makes room for `rows` rows, growing by at least a quarter to keep growth rare. */
  reserve(rows: number): void {
    if (rows <= this.rowCapacity) return;
    const current = this.memory.buffer.byteLength / PAGE;
    const needed = Math.ceil((this.rowsPtr + rows * this.stride * 4) / PAGE);
    const target = Math.min(MAX_PAGES, Math.max(needed, Math.ceil(current * 1.25)));
    if (needed > MAX_PAGES) throw new RangeError(`the local vector store holds at most 4 GiB of vectors per collection (${this.rowCapacity} rows of ${this.dimensions}); use Qdrant beyond that`);
    this.memory.grow(target - current);
    this.f32 = new Float32Array(this.memory.buffer); // growing detached the old view
    this.rowCapacity = this.capacityFor(target);
  }

  /** A view of one row (its real dimensions, without padding); valid until the next reserve(). */
  row(slot: number): Float32Array {
    const start = (this.rowsPtr >> 2) + slot * this.stride;
    return this.f32.subarray(start, start + this.dimensions);
  }

  /** Fills a row from little-endian float32 bytes (the log's encoding). */
  setRowBytes(slot: number, bytes: Uint8Array): void {
    new Uint8Array(this.memory.buffer, this.rowsPtr + slot * this.stride * 4, bytes.length).set(bytes);
  }

  moveRow(from: number, to: number): void {
    const base = this.rowsPtr >> 2;
    this.f32.copyWithin(base + to * this.stride, base + from * this.stride, base + (from + 1) * this.stride);
  }

  /** Dot product of a unit query with one row (for scans of a few rows). */
  dot(query: Float32Array, slot: number): number {
    const m = this.f32;
    const at = (this.rowsPtr >> 2) + slot * this.stride;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let j = 0;
    const d = this.dimensions;
    for (; j + 3 < d; j += 4) {
      s0 += query[j]! * m[at + j]!;
      s1 += query[j + 1]! * m[at + j + 1]!;
      s2 += query[j + 2]! * m[at + j + 2]!;
      s3 += query[j + 3]! * m[at + j + 3]!;
    }
    for (; j < d; j++) s0 += query[j]! * m[at + j]!;
    return s0 + s1 + s2 + s3;
  }

  /** Scores rows 0..count-1 against the query, handing over chunk by chunk (scores valid during the call). */
  scan(query: Float32Array, count: number, visit: (scores: Float32Array, base: number, n: number) => void): void {
    const q = this.f32.subarray(this.queryPtr >> 2, (this.queryPtr >> 2) + this.stride);
    q.fill(0);
    q.set(query);
    const scores = this.f32.subarray(this.scoresPtr >> 2, (this.scoresPtr >> 2) + SCAN_CHUNK);
    for (let base = 0; base < count; base += SCAN_CHUNK) {
      const n = Math.min(SCAN_CHUNK, count - base);
      if (this.kernel) this.kernel(this.queryPtr, this.rowsPtr + base * this.stride * 4, n, this.stride * 4, this.scoresPtr);
      else for (let r = 0; r < n; r++) scores[r] = this.dot(query, base + r);
      visit(scores, base, n);
    }
  }

  private capacityFor(pages: number): number {
    return Math.floor((pages * PAGE - this.rowsPtr) / (this.stride * 4));
  }
}
