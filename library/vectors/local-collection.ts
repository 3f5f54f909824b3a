// One collection of the local vector store: every point of one vector size, held in memory for
// exact (brute-force) cosine search and kept durable in an append-only log on disk.
//
// Files in the collection's directory:
//   points-<generation>.log   the log (see point-log.ts); appends go to the highest generation
//   compact.lock              held while one process compacts (best effort; see below)
//
// Several processes may share the directory (the local worker pool and the API do): every write is
// one O_APPEND write of whole records followed by fsync, and every operation first reads what other
// processes appended since. Each record carries a version (a hybrid clock: wall time in µs, never
// below the highest version seen), and the newest version of a point wins, whatever the order the
// records are read in; a book deletion removes the book's points older than it and keeps later
// stale upserts out. So replaying the log, or two logs, in any order gives the same state.
//
// Compaction, when the log outgrows ~2× its live records: write a snapshot of the live points as
// the next generation, hard-link it into place (only one process can win that name), copy over what
// others appended to the old generation meanwhile, delete the old one. A writer that appended to
// the old generation after that copy sees the new generation exists and writes its records again
// there (versions make the duplicate harmless). The lock only keeps two processes from doing the
// same compaction twice; correctness does not rest on it.
//
// Limits: one machine (a local disk with POSIX append semantics; not NFS), little-endian.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";
import { link, mkdir, open, readdir, stat, unlink, type FileHandle } from "node:fs/promises";
import type { ChunkPayload, SearchHit, VectorPoint } from "./vector-store.js";
import { DELETE_BOOK, encodeDeleteBook, encodeUpsert, readRecords, type LogRecord } from "./point-log.js";
import { TopK } from "./top-k.js";
import { VectorMatrix } from "./vector-matrix.js";
import { normaliseL2 } from "./l2-normalise.js";

const GENERATION_FILE = /^points-(\d+)\.log$/;
const SNAPSHOT_WRITE_BYTES = 4 * 1024 * 1024;

export interface LocalCollectionOptions {
  /** fsync after every write; on by default (off only for throwaway data and benchmarks). */
  fsync?: boolean;
  /** Compact when the log is larger than this many times its live records; 2 by default. */
  compactRatio?: number;
  /** …and larger than this; 8 MiB by default. */
  compactMinBytes?: number;
  /** A compaction lock older than this is abandoned; 10 minutes by default. */
  lockStaleMs?: number;
}

interface LogFile {
  generation: number;
  path: string;
  fh: FileHandle;
  /** End of the last whole record read from it. */
  offset: number;
}

export class LocalCollection {
  private readonly fsync: boolean;
  private readonly compactRatio: number;
  private readonly compactMinBytes: number;
  private readonly lockStaleMs: number;

  /** Ascending generations; appends go to the last. */
  private files: LogFile[] = [];

  // The points, slot by slot: vectors in one matrix, the rest in parallel arrays.
  private readonly matrix: VectorMatrix;
  private size = 0;
  private ids: string[] = [];
  private payloads: string[] = []; // JSON, parsed only for search hits
  private versions = new Float64Array(1024);
  private bookOf = new Int32Array(1024);
  private recordBytes = new Int32Array(1024);
  private readonly slotOf = new Map<string, number>();

  private readonly bookIndex = new Map<string, number>();
  private readonly bookNames: string[] = [];
  private readonly bookCounts: number[] = [];
  /** Book id → version of its latest deletion. */
  private readonly deletions = new Map<string, number>();

  private clock = 0;
  private liveBytes = 0;
  /** Bytes of torn records skipped while reading the log. */
  skippedBytes = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly dimensions: number,
    options: LocalCollectionOptions,
  ) {
    this.fsync = options.fsync ?? true;
    this.compactRatio = options.compactRatio ?? 2;
    this.compactMinBytes = options.compactMinBytes ?? 8 * 1024 * 1024;
    this.lockStaleMs = options.lockStaleMs ?? 10 * 60_000;
    this.matrix = new VectorMatrix(dimensions);
  }

  static async open(dir: string, dimensions: number, options: LocalCollectionOptions = {}): Promise<LocalCollection> {
    await mkdir(dir, { recursive: true });
    const c = new LocalCollection(dir, dimensions, options);
    await c.exclusive(async () => {
      await c.discoverGenerations();
      if (c.files.length === 0) {
        await c.track(1);
        await fsyncDir(dir);
      }
      await c.catchUp();
    });
    return c;
  }

  upsert(points: VectorPoint[]): Promise<void> {
    return this.exclusive(async () => {
      if (points.length === 0) return;
      await this.catchUp();
      const frames = points.map((p) => {
        const unit = unitVector(p.vector, this.dimensions);
        return encodeUpsert(this.nextVersion(), p.id, p.payload.bookId, JSON.stringify(p.payload), unit);
      });
      await this.append(Buffer.concat(frames));
      await this.catchUp();
      await this.maybeCompact();
    });
  }

  deleteBook(bookId: string): Promise<void> {
    return this.exclusive(async () => {
      await this.catchUp();
      const b = this.bookIndex.get(bookId);
      if (b === undefined || this.bookCounts[b] === 0) return; // nothing to delete, nothing to log
      await this.append(encodeDeleteBook(this.nextVersion(), bookId));
      await this.catchUp();
      await this.maybeCompact();
    });
  }

  count(bookId?: string): Promise<number> {
    return this.exclusive(async () => {
      await this.catchUp();
      if (bookId === undefined) return this.size;
      const b = this.bookIndex.get(bookId);
      return b === undefined ? 0 : this.bookCounts[b]!;
    });
  }

  search(vector: Float32Array, k: number, bookId?: string): Promise<SearchHit[]> {
    return this.exclusive(async () => {
      await this.catchUp();
      return this.scan(vector, k, bookId);
    });
  }

  /** Compacts now if the log has grown past the threshold (also done after writes). */
  compactIfNeeded(force = false): Promise<boolean> {
    return this.exclusive(async () => {
      await this.catchUp();
      return this.maybeCompact(force);
    });
  }

  /** Bytes in the log files, and the bytes the live points would take. */
  async diskUsage(): Promise<{ logBytes: number; liveBytes: number; generations: number[] }> {
    return this.exclusive(async () => {
      await this.catchUp();
      return { logBytes: this.logBytes(), liveBytes: this.liveBytes, generations: this.files.map((f) => f.generation) };
    });
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      this.closed = true;
      await Promise.all(this.files.map((f) => f.fh.close()));
      this.files = [];
    });
  }

  // ——— serialisation within this process ———

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed) throw new Error(`vector collection ${this.dir} is closed`);
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  // ——— the log ———

  private pathOf(generation: number): string {
    return join(this.dir, `points-${generation}.log`);
  }

  private async track(generation: number): Promise<LogFile> {
    // a+: O_APPEND, so writes from every process land whole at the end; reads are positional.
    const f: LogFile = { generation, path: this.pathOf(generation), fh: await open(this.pathOf(generation), "a+"), offset: 0 };
    this.files.push(f);
    return f;
  }

  /** Opens generations newer than the newest tracked one (a compaction elsewhere made them). */
  private async discoverGenerations(): Promise<boolean> {
    const newest = this.files.at(-1)?.generation ?? 0;
    if (newest > 0 && !(await exists(this.pathOf(newest + 1)))) return false;
    const found = (await readdir(this.dir))
      .map((n) => GENERATION_FILE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .filter((g) => g > newest)
      .sort((a, b) => a - b);
    for (const g of found) {
      try {
        await this.track(g);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err; // compacted away meanwhile
      }
    }
    return found.length > 0;
  }

  /** Applies every record appended (by any process) since the last read. */
  private async catchUp(): Promise<void> {
    await this.discoverGenerations();
    for (const f of [...this.files]) {
      const st = await f.fh.stat();
      if (st.size > f.offset) {
        const r = await readRecords(f.fh, f.offset, st.size, (rec) => this.apply(rec));
        f.offset = r.offset;
        this.skippedBytes += r.skipped;
      }
      // A compactor deleted this generation after copying it forward: nothing more will come here.
      if (st.nlink === 0 && f !== this.files.at(-1)) {
        await f.fh.close();
        this.files = this.files.filter((x) => x !== f);
      }
    }
  }

  private async append(bytes: Buffer): Promise<void> {
    for (;;) {
      const target = this.files.at(-1)!;
      const { bytesWritten } = await target.fh.write(bytes, 0, bytes.length, null);
      if (bytesWritten !== bytes.length) throw new Error(`short write to ${target.path}: ${bytesWritten} of ${bytes.length} bytes`);
      if (this.fsync) await target.fh.datasync();
      // A compaction published a newer generation meanwhile: it may lack these records, so they go
      // there too (replaying a record twice changes nothing).
      if (!(await exists(this.pathOf(target.generation + 1)))) return;
      await this.discoverGenerations();
    }
  }

  private nextVersion(): number {
    // Microseconds, with random sub-millisecond digits so that two processes rarely tie.
    this.clock = Math.max(Date.now() * 1000 + Math.floor(Math.random() * 1000), this.clock + 1);
    return this.clock;
  }

  private logBytes(): number {
    return this.files.reduce((n, f) => n + f.offset, 0);
  }

  // ——— applying records ———

  private apply(r: LogRecord): void {
    if (r.version > this.clock) this.clock = r.version;
    if (r.kind === DELETE_BOOK) return this.applyDeletion(r.bookId, r.version);
    if (r.vector.length !== this.dimensions * 4) {
      this.skippedBytes += r.frame.length;
      return;
    }
    const deletedAt = this.deletions.get(r.bookId);
    if (deletedAt !== undefined && r.version < deletedAt) return;
    const book = this.internBook(r.bookId);
    let slot = this.slotOf.get(r.id);
    if (slot !== undefined) {
      if (this.versions[slot]! >= r.version) return;
      const before = this.bookOf[slot]!;
      if (before !== book) {
        this.bookCounts[before]!--;
        this.bookCounts[book]!++;
      }
    } else {
      slot = this.size++;
      this.reserve(this.size);
      this.ids[slot] = r.id;
      this.slotOf.set(r.id, slot);
      this.bookCounts[book]!++;
      this.recordBytes[slot] = 0;
    }
    this.matrix.setRowBytes(slot, r.vector);
    this.payloads[slot] = r.payload;
    this.versions[slot] = r.version;
    this.bookOf[slot] = book;
    this.liveBytes += r.frame.length - this.recordBytes[slot]!;
    this.recordBytes[slot] = r.frame.length;
  }

  private applyDeletion(bookId: string, version: number): void {
    this.deletions.set(bookId, Math.max(this.deletions.get(bookId) ?? 0, version));
    const book = this.bookIndex.get(bookId);
    if (book === undefined || this.bookCounts[book] === 0) return;
    // From the top down: the point swapped into a freed slot has already been looked at.
    for (let slot = this.size - 1; slot >= 0; slot--) {
      if (this.bookOf[slot] === book && this.versions[slot]! < version) this.removeSlot(slot);
    }
  }

  private removeSlot(slot: number): void {
    const last = this.size - 1;
    this.bookCounts[this.bookOf[slot]!]!--;
    this.liveBytes -= this.recordBytes[slot]!;
    this.slotOf.delete(this.ids[slot]!);
    if (slot !== last) {
      this.matrix.moveRow(last, slot);
      this.ids[slot] = this.ids[last]!;
      this.payloads[slot] = this.payloads[last]!;
      this.versions[slot] = this.versions[last]!;
      this.bookOf[slot] = this.bookOf[last]!;
      this.recordBytes[slot] = this.recordBytes[last]!;
      this.slotOf.set(this.ids[slot]!, slot);
    }
    this.ids.pop();
    this.payloads.pop();
    this.size--;
  }

  private internBook(bookId: string): number {
    let b = this.bookIndex.get(bookId);
    if (b === undefined) {
      b = this.bookNames.length;
      this.bookIndex.set(bookId, b);
      this.bookNames.push(bookId);
      this.bookCounts.push(0);
    }
    return b;
  }

  private reserve(rows: number): void {
    this.matrix.reserve(rows);
    if (rows > this.versions.length) {
      const n = Math.max(rows, this.versions.length * 2);
      const versions = new Float64Array(n);
      versions.set(this.versions);
      this.versions = versions;
      const bookOf = new Int32Array(n);
      bookOf.set(this.bookOf);
      this.bookOf = bookOf;
      const recordBytes = new Int32Array(n);
      recordBytes.set(this.recordBytes);
      this.recordBytes = recordBytes;
    }
  }

  // ——— search ———

  private scan(vector: Float32Array, k: number, bookId?: string): SearchHit[] {
    if (vector.length !== this.dimensions) throw new Error(`query has ${vector.length} dimensions, the collection ${this.dimensions}`);
    if (k <= 0 || this.size === 0) return [];
    let only = -1;
    if (bookId !== undefined) {
      const b = this.bookIndex.get(bookId);
      if (b === undefined || this.bookCounts[b] === 0) return [];
      only = b;
    }
    const q = unitVector(vector, this.dimensions);
    const top = new TopK(Math.min(k, this.size));
    const bookOf = this.bookOf;
    if (only >= 0 && this.bookCounts[only]! * 8 < this.size) {
      // A small book: score just its rows rather than the whole matrix.
      for (let slot = 0; slot < this.size; slot++) {
        if (bookOf[slot] !== only) continue;
        const score = this.matrix.dot(q, slot);
        if (score > top.threshold) top.push(score, slot);
      }
    } else {
      this.matrix.scan(q, this.size, (scores, base, n) => {
        for (let r = 0; r < n; r++) {
          const score = scores[r]!;
          if (score > top.threshold && (only < 0 || bookOf[base + r] === only)) top.push(score, base + r);
        }
      });
    }
    return top.sorted().map(({ score, item }) => ({
      score: Math.max(-1, Math.min(1, score)),
      payload: JSON.parse(this.payloads[item]!) as ChunkPayload,
    }));
  }

  // ——— compaction ———

  private async maybeCompact(force = false): Promise<boolean> {
    const bytes = this.logBytes();
    if (!force && (bytes < this.compactMinBytes || bytes <= this.compactRatio * this.liveBytes)) return false;
    const lock = await this.tryLock();
    if (!lock) return false;
    try {
      await this.catchUp();
      return await this.compact();
    } finally {
      await unlink(lock).catch(() => undefined);
    }
  }

  private async compact(): Promise<boolean> {
    const generation = this.files.at(-1)!.generation + 1;
    const tmp = join(this.dir, `points-${generation}.log.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
    let snapshotBytes = 0;
    const out = await open(tmp, "w");
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (!pendingBytes) return;
        const buf = Buffer.concat(pending);
        await out.write(buf, 0, buf.length, null);
        snapshotBytes += buf.length;
        pending = [];
        pendingBytes = 0;
      };
      for (const [bookId, version] of this.deletions) {
        pending.push(encodeDeleteBook(version, bookId));
        pendingBytes += pending.at(-1)!.length;
      }
      for (let slot = 0; slot < this.size; slot++) {
        const rec = encodeUpsert(this.versions[slot]!, this.ids[slot]!, this.bookNames[this.bookOf[slot]!]!, this.payloads[slot]!, this.matrix.row(slot));
        pending.push(rec);
        pendingBytes += rec.length;
        if (pendingBytes >= SNAPSHOT_WRITE_BYTES) await flush();
      }
      await flush();
      await out.sync();
    } finally {
      await out.close();
    }
    try {
      await link(tmp, this.pathOf(generation)); // fails if another process published this generation first
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    }
    await unlink(tmp);
    await fsyncDir(this.dir);

    const older = this.files;
    const next: LogFile = { generation, path: this.pathOf(generation), fh: await open(this.pathOf(generation), "a+"), offset: 0 };
    // Records others appended to the older generations since our last read: carry them forward.
    const carried: Buffer[] = [];
    for (const f of older) {
      const st = await f.fh.stat();
      const r = await readRecords(f.fh, f.offset, st.size, (rec) => {
        this.apply(rec);
        carried.push(Buffer.from(rec.frame));
      });
      this.skippedBytes += r.skipped;
    }
    if (carried.length) {
      const buf = Buffer.concat(carried);
      await next.fh.write(buf, 0, buf.length, null);
      if (this.fsync) await next.fh.datasync();
    }
    next.offset = snapshotBytes; // what follows the snapshot (carried records, others' appends) is read as usual
    this.files = [next];
    for (const f of older) {
      await f.fh.close();
      await unlink(f.path).catch(() => undefined);
    }
    await fsyncDir(this.dir);
    await this.removeStaleTempFiles();
    return true;
  }

  /** Creates compact.lock, or returns undefined when another live process holds it. */
  private async tryLock(): Promise<string | undefined> {
    const path = join(this.dir, "compact.lock");
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(path, "wx");
        await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }));
        await fh.close();
        return path;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        if (!(await this.lockIsStale(path))) return undefined;
        await unlink(path).catch(() => undefined);
      }
    }
    return undefined;
  }

  private async lockIsStale(path: string): Promise<boolean> {
    try {
      const st = await stat(path);
      if (Date.now() - st.mtimeMs > this.lockStaleMs) return true;
      const fh = await open(path, "r");
      const text = await fh.readFile("utf8").finally(() => fh.close());
      const holder = JSON.parse(text) as { pid?: number; host?: string };
      return holder.host === hostname() && typeof holder.pid === "number" && !processAlive(holder.pid);
    } catch {
      return false; // half-written or just released: try again next time
    }
  }

  private async removeStaleTempFiles(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (!name.includes(".log.tmp-")) continue;
      const path = join(this.dir, name);
      const st = await stat(path).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > this.lockStaleMs) await unlink(path).catch(() => undefined);
    }
  }
}

/** A unit-length copy (the zero vector stays zero); rejects wrong sizes and non-finite values. */
export function unitVector(v: Float32Array, dimensions: number): Float32Array {
  if (v.length !== dimensions) throw new Error(`vector has ${v.length} dimensions, the collection ${dimensions}`);
  const out = new Float32Array(v);
  if (!Number.isFinite(normaliseL2(out))) throw new Error("vector has non-finite components");
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
