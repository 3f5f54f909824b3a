// One contract, every vector store: the embedded on-disk store always, Qdrant when QDRANT_URL
// points at a server. Then what only the local store promises: durability across reopen,
// compaction, and several processes sharing one directory.
import { spawn } from "node:child_process";
import { appendFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { QdrantClient } from "@qdrant/js-client-rest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalVectorStore } from "../../library/vectors/local-vector-store.js";
import { QdrantVectorStore } from "../../library/vectors/qdrant-vector-store.js";
import { pointId, type ChunkPayload, type VectorPoint, type VectorStore } from "../../library/vectors/vector-store.js";

const DIMS = 16;
const QDRANT_URL = process.env.QDRANT_URL;
if (!QDRANT_URL) console.log("Qdrant contract tests skipped: set QDRANT_URL to run them");

/** Deterministic pseudo-random vectors, so failures reproduce. */
function vectorFor(seed: number, dims = DIMS): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const v = new Float32Array(dims);
  for (let i = 0; i < dims; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    v[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return v;
}

function chunk(bookId: string, n: number, text = `text of ${bookId} chunk ${n}`, dims = DIMS): VectorPoint {
  const payload: ChunkPayload = { bookId, chunkId: `c${n}`, page: n + 1, text, title: `Title of ${bookId}`, section: `Section ${n}` };
  const bookSeed = [...bookId].reduce((h, c) => h * 31 + c.charCodeAt(0), 7) % 100_000;
  return { id: pointId(bookId, `c${n}`), vector: vectorFor(bookSeed * 100 + n, dims), payload };
}

/** book-a: chunks 0–5, book-b: chunks 0–3. */
const corpus = (text?: (p: VectorPoint) => string) =>
  [...[0, 1, 2, 3, 4, 5].map((n) => chunk("book-a", n)), ...[0, 1, 2, 3].map((n) => chunk("book-b", n))].map((p) =>
    text ? { ...p, payload: { ...p.payload, text: text(p) } } : p,
  );

const nudged = (v: Float32Array) => v.map((x, i) => x + (i % 2 ? 0.01 : -0.01));

interface Subject {
  name: string;
  skip: boolean;
  open(): Promise<VectorStore>;
  cleanup(): Promise<void>;
}

function localSubject(): Subject {
  let dir = "";
  return {
    name: "local",
    skip: false,
    async open() {
      dir = await mkdtemp(join(tmpdir(), "jetq-vectors-"));
      return new LocalVectorStore(dir);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

function qdrantSubject(): Subject {
  let collection = "";
  return {
    name: "qdrant",
    skip: !QDRANT_URL,
    async open() {
      collection = `jetq_contract_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
      return new QdrantVectorStore({ url: QDRANT_URL!, ...(process.env.QDRANT_API_KEY ? { apiKey: process.env.QDRANT_API_KEY } : {}), collection });
    },
    async cleanup() {
      const client = new QdrantClient({ url: QDRANT_URL!, ...(process.env.QDRANT_API_KEY ? { apiKey: process.env.QDRANT_API_KEY } : {}), checkCompatibility: false });
      await client.deleteCollection(collection).catch(() => undefined);
    },
  };
}

for (const subject of [localSubject(), qdrantSubject()]) {
  describe.skipIf(subject.skip)(`vector store contract: ${subject.name}`, () => {
    let store: VectorStore;
    beforeEach(async () => {
      store = await subject.open();
    });
    afterEach(async () => {
      await store.close();
      await subject.cleanup();
    });

    it("creates the collection once, however often it is ensured, and starts empty", async () => {
      await store.ensureCollection(DIMS);
      await store.ensureCollection(DIMS);
      expect(await store.count()).toBe(0);
      expect(await store.search(vectorFor(1), 5)).toEqual([]);
    });

    it("finds the nearest point first, scores descending, with its payload intact", async () => {
      await store.ensureCollection(DIMS);
      const points = corpus();
      await store.upsert(points);

      const target = points[3]!;
      const hits = await store.search(nudged(target.vector), 5);
      expect(hits).toHaveLength(5);
      expect(hits[0]!.payload).toEqual(target.payload);
      expect(hits[0]!.score).toBeGreaterThan(0.99);
      for (let i = 1; i < hits.length; i++) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
      expect(await store.search(target.vector, 100)).toHaveLength(points.length);
    });

    it("overwrites points upserted again with the same ids instead of adding them", async () => {
      await store.ensureCollection(DIMS);
      await store.upsert(corpus());
      await store.upsert(corpus((p) => `revised ${p.payload.chunkId}`));
      expect(await store.count()).toBe(10);
      const [best] = await store.search(chunk("book-b", 2).vector, 1);
      expect(best!.payload).toMatchObject({ bookId: "book-b", chunkId: "c2", text: "revised c2" });
    });

    it("filters search and count by book", async () => {
      await store.ensureCollection(DIMS);
      await store.upsert(corpus());
      expect(await store.count({ bookId: "book-a" })).toBe(6);
      expect(await store.count({ bookId: "book-b" })).toBe(4);
      expect(await store.count({ bookId: "no-such-book" })).toBe(0);

      // The query is book-a's chunk, yet only book-b answers.
      const hits = await store.search(chunk("book-a", 1).vector, 10, { bookId: "book-b" });
      expect(hits).toHaveLength(4);
      expect(new Set(hits.map((h) => h.payload.bookId))).toEqual(new Set(["book-b"]));
      expect(await store.search(chunk("book-a", 1).vector, 10, { bookId: "no-such-book" })).toEqual([]);
    });

    it("deletes every point of one book and nothing else", async () => {
      await store.ensureCollection(DIMS);
      await store.upsert(corpus());
      await store.deleteBook("book-a");
      await store.deleteBook("no-such-book");
      expect(await store.count()).toBe(4);
      expect(await store.count({ bookId: "book-a" })).toBe(0);
      const hits = await store.search(chunk("book-a", 0).vector, 10);
      expect(hits.map((h) => h.payload.bookId)).toEqual(["book-b", "book-b", "book-b", "book-b"]);
    });
  });
}

describe("local vector store on disk", () => {
  let dir: string;
  const open = (options = {}) => new LocalVectorStore(dir, options);
  const logFiles = async (dims = DIMS) => (await readdir(join(dir, `dim-${dims}`))).filter((n) => /^points-\d+\.log$/.test(n)).sort();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "jetq-vectors-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps its points, overwrites and deletions when reopened", async () => {
    const first = open();
    await first.ensureCollection(DIMS);
    await first.upsert(corpus());
    await first.upsert([{ ...chunk("book-b", 0), payload: { ...chunk("book-b", 0).payload, text: "second version" } }]);
    await first.deleteBook("book-a");
    await first.close();

    const again = open();
    expect(await again.count()).toBe(4);
    expect(await again.count({ bookId: "book-a" })).toBe(0);
    const [best] = await again.search(chunk("book-b", 0).vector, 1);
    expect(best!.payload.text).toBe("second version");
    await again.close();
  });

  it("compacts the log when it outgrows the live points, keeping every live point", async () => {
    const store = open({ compactMinBytes: 0 });
    await store.ensureCollection(DIMS);
    for (let round = 0; round < 4; round++) await store.upsert(corpus((p) => `round ${round} ${p.payload.chunkId}`));
    await store.deleteBook("book-a");
    await store.upsert(corpus((p) => `final ${p.payload.chunkId}`).filter((p) => p.payload.bookId === "book-b"));

    const files = await logFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).not.toBe("points-1.log"); // a newer generation replaced the first log
    expect(await store.count()).toBe(4);
    await store.close();

    const again = open();
    expect(await again.count()).toBe(4);
    expect(await again.count({ bookId: "book-a" })).toBe(0);
    const hits = await again.search(chunk("book-b", 3).vector, 4);
    expect(hits[0]!.payload).toMatchObject({ chunkId: "c3", text: "final c3" });
    // A deleted book's stale points stay out even if an old write for it is replayed after compaction.
    await again.close();
  });

  it("keeps one collection per vector size", async () => {
    const store = open();
    await store.ensureCollection(DIMS);
    await store.ensureCollection(8);
    await store.upsert(corpus());
    await store.upsert([chunk("book-c", 0, "small", 8), chunk("book-c", 1, "small", 8)]);
    expect((await readdir(dir)).sort()).toEqual(["dim-16", "dim-8"]);
    const hits = await store.search(chunk("book-c", 1, "small", 8).vector, 10);
    expect(hits.map((h) => h.payload.bookId)).toEqual(["book-c", "book-c"]);
    expect(await store.count()).toBe(12);
    await store.deleteBook("book-c");
    expect(await store.count()).toBe(10);
    await store.close();
  });

  it("lets two instances share a directory: each sees the other's writes, deletions and compactions", async () => {
    const a = open();
    const b = open();
    await a.ensureCollection(DIMS);
    await b.ensureCollection(DIMS);
    await a.upsert(corpus().filter((p) => p.payload.bookId === "book-a"));
    await b.upsert(corpus().filter((p) => p.payload.bookId === "book-b"));
    expect(await a.count()).toBe(10);
    expect(await b.count()).toBe(10);

    await b.deleteBook("book-a");
    expect(await a.count({ bookId: "book-a" })).toBe(0);

    await a.compact(true);
    await b.upsert([chunk("book-d", 0)]); // b still writes to the old generation's file handle first
    expect(await a.count()).toBe(5);
    expect(await b.count()).toBe(5);
    expect(await logFiles()).toHaveLength(1);
    await a.close();
    await b.close();

    const c = open();
    expect(await c.count()).toBe(5);
    expect(await c.count({ bookId: "book-d" })).toBe(1);
    await c.close();
  });

  it("loses nothing when several processes write and compact at once", async () => {
    const moduleUrl = new URL("../../library/vectors/local-vector-store.ts", import.meta.url).href;
    const writer = (name: string) => `
      const { LocalVectorStore } = await import(${JSON.stringify(moduleUrl)});
      const store = new LocalVectorStore(${JSON.stringify(dir)}, { compactMinBytes: 20000 });
      await store.ensureCollection(${DIMS});
      for (let batch = 0; batch < 20; batch++) {
        const points = [];
        for (let i = 0; i < 10; i++) {
          const n = batch * 10 + i;
          const vector = new Float32Array(${DIMS}).map((_, j) => Math.sin(n * 31 + j + ${JSON.stringify(name)}.length));
          points.push({ id: ${JSON.stringify(name)} + "-" + n, vector, payload: { bookId: ${JSON.stringify(name)}, chunkId: "c" + n, page: 1, text: "x".repeat(200) } });
        }
        // Each batch three times: the overwrites grow the log past 2× the live points, so compactions run.
        for (let copy = 0; copy < 3; copy++) await store.upsert(points);
      }
      await store.close();
    `;
    const run = (name: string) =>
      new Promise<void>((done, fail) => {
        const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", writer(name)], { cwd: resolve(import.meta.dirname, "../.."), stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("exit", (code) => (code === 0 ? done() : fail(new Error(`writer ${name} exited ${code}: ${stderr}`))));
      });
    await Promise.all([run("proc-one"), run("proc-two"), run("proc-three")]);

    const store = open();
    expect(await store.count()).toBe(600);
    for (const name of ["proc-one", "proc-two", "proc-three"]) expect(await store.count({ bookId: name })).toBe(200);
    const files = await logFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).not.toBe("points-1.log"); // compactions ran while the others wrote
    await store.close();
  }, 60_000);

  it("skips a torn write at the end of the log and keeps appending after it", async () => {
    const first = open();
    await first.ensureCollection(DIMS);
    await first.upsert(corpus());
    await first.close();
    const [log] = await logFiles();
    // What a crash in the middle of a write leaves: a record header promising more than follows.
    const torn = Buffer.alloc(40, 7);
    torn.writeUInt32LE(0x3156514a, 0);
    torn.writeUInt32LE(5000, 4);
    await appendFile(join(dir, `dim-${DIMS}`, log!), torn);

    const second = open();
    expect(await second.count()).toBe(10);
    await second.upsert([chunk("book-e", 0)]);
    await second.close();

    const third = open();
    expect(await third.count()).toBe(11);
    const [best] = await third.search(chunk("book-e", 0).vector, 1);
    expect(best!.payload.bookId).toBe("book-e");
    await third.close();
  });
});
