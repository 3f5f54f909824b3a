// Reads the live points of a collection written by the earlier embedded store: a directory
// dim-<n> of append-only point logs (points-<generation>.log, format in point-log.ts), which that
// store replayed into memory. Replay rules, the same as it applied: the newest version of a point
// wins, whatever order its records are read in, and a book deletion removes the book's points
// older than it. Two passes over the files, so memory holds one small entry per point id, never
// the vectors: the first finds each point's winning version, the second hands those records out.
import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { DELETE_BOOK, UPSERT, readRecords } from "./point-log.js";
import type { ChunkPayload, VectorPoint } from "./vector-store.js";

const GENERATION_FILE = /^points-(\d+)\.log$/;

/** The log files of a legacy collection directory, oldest generation first. */
export async function legacyLogFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  return names
    .map((n) => GENERATION_FILE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => join(dir, m[0]));
}

const WINDOW_BYTES = 16 * 1024 * 1024;

type OnRecord = Parameters<typeof readRecords>[3];

/**
 * Reads every file window by window, handing each whole record to `onRecord`, and yields after
 * each window, so a caller acts on what one window produced before the next is read.
 */
async function* windows(files: string[], onRecord: OnRecord): AsyncGenerator<void> {
  for (const path of files) {
    const fh = await open(path, "r");
    try {
      const { size } = await fh.stat();
      let offset = 0;
      while (offset < size) {
        const to = Math.min(size, offset + WINDOW_BYTES);
        let r = await readRecords(fh, offset, to, onRecord);
        if (r.offset === offset && to < size) r = await readRecords(fh, offset, size, onRecord); // a record larger than a window
        yield;
        // Nothing more read: a torn record ends the file (a crash mid-write; the old store stopped
        // there too). Otherwise a record cut by the window is read whole by the next one.
        if (r.offset === offset) break;
        offset = r.offset;
      }
    } finally {
      await fh.close();
    }
  }
}

/** Yields the live points of the legacy collection in `dir`, `batchSize` at a time. */
export async function* readLegacyPoints(dir: string, dimensions: number, batchSize: number): AsyncGenerator<VectorPoint[]> {
  const files = await legacyLogFiles(dir);
  const newest = new Map<string, { version: number; bookId: string }>();
  const deletions = new Map<string, number>();
  for await (const _ of windows(files, (r) => {
    if (r.kind === DELETE_BOOK) {
      deletions.set(r.bookId, Math.max(deletions.get(r.bookId) ?? 0, r.version));
    } else if (r.kind === UPSERT) {
      const seen = newest.get(r.id);
      if (!seen || seen.version < r.version) newest.set(r.id, { version: r.version, bookId: r.bookId });
    }
  }));
  for (const [id, { version, bookId }] of newest) {
    if (version < (deletions.get(bookId) ?? 0)) newest.delete(id);
  }

  const ready: VectorPoint[] = [];
  const collect: OnRecord = (r) => {
    if (r.kind !== UPSERT || r.vector.length !== dimensions * 4) return;
    const live = newest.get(r.id);
    if (!live || live.version !== r.version) return;
    newest.delete(r.id); // a record carried forward by a compaction appears twice: hand it out once
    const vector = new Float32Array(dimensions);
    new Uint8Array(vector.buffer).set(r.vector); // the record's buffer is reused after this call
    ready.push({ id: r.id, vector, payload: JSON.parse(r.payload) as ChunkPayload });
  };
  for await (const _ of windows(files, collect)) {
    while (ready.length >= batchSize) yield ready.splice(0, batchSize);
  }
  if (ready.length) yield ready.splice(0);
}
