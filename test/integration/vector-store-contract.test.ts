// One contract, every vector store: the embedded on-disk store (LanceDB) always, Qdrant when
// QDRANT_URL points at a server. Then what only the local store promises: durability across
// reopen, several processes sharing one directory, an ANN index that never hides a fresh write,
// a small tenant's exact neighbours in a large indexed table, and the migrations of the earlier
// store's point logs and of tables written before tenants.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect, makeArrowTable } from "@lancedb/lancedb";
import { QdrantClient } from "@qdrant/js-client-rest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalVectorStore, type LocalVectorStoreOptions } from "../../library/vectors/local-vector-store.js";
import { QdrantVectorStore } from "../../library/vectors/qdrant-vector-store.js";
import { tenantSearchPlan } from "../../library/vectors/tenant-search-plan.js";
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

/** The corpus with tenants: book-a acme's, book-b globex's, book-c's points from before tenants (none), book-d "default" by name. */
const tenantCorpus = (): VectorPoint[] => [
  ...corpus().map((p) => ({ ...p, payload: { ...p.payload, tenant: p.payload.bookId === "book-a" ? "acme" : "globex" } })),
  chunk("book-c", 0),
  chunk("book-c", 1),
  { ...chunk("book-d", 0), payload: { ...chunk("book-d", 0).payload, tenant: "default" } },
];

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

    it("filters search and count by tenant, alone and with a book; a point without a tenant is the default tenant's", async () => {
      await store.ensureCollection(DIMS);
      await store.upsert(tenantCorpus());
      expect(await store.count({ tenant: "acme" })).toBe(6);
      expect(await store.count({ tenant: "globex" })).toBe(4);
      expect(await store.count({ tenant: "default" })).toBe(3);
      expect(await store.count({ tenant: "nobody" })).toBe(0);
      expect(await store.count({ tenant: "acme", bookId: "book-a" })).toBe(6);
      expect(await store.count({ tenant: "globex", bookId: "book-a" })).toBe(0);

      // The query is acme's chunk, yet only globex's points answer a globex search.
      const globex = await store.search(chunk("book-a", 1).vector, 10, { tenant: "globex" });
      expect(globex.map((h) => h.payload.bookId)).toEqual(["book-b", "book-b", "book-b", "book-b"]);
      const byDefault = await store.search(chunk("book-a", 1).vector, 10, { tenant: "default" });
      expect(byDefault.map((h) => `${h.payload.bookId}/${h.payload.chunkId}`).sort()).toEqual(["book-c/c0", "book-c/c1", "book-d/c0"]);
      const [best] = await store.search(chunk("book-c", 1).vector, 1, { tenant: "default" });
      expect(best!.payload).toEqual(chunk("book-c", 1).payload); // no tenant in it, as it was written
      expect(await store.search(chunk("book-a", 1).vector, 10, { tenant: "nobody" })).toEqual([]);

      const both = await store.search(chunk("book-a", 1).vector, 10, { tenant: "acme", bookId: "book-a" });
      expect(both).toHaveLength(6);
      expect(both[0]!.payload).toEqual({ ...chunk("book-a", 1).payload, tenant: "acme" });
      expect(await store.search(chunk("book-a", 1).vector, 10, { tenant: "globex", bookId: "book-a" })).toEqual([]);
      // No filter: every tenant's points.
      expect(await store.search(chunk("book-a", 1).vector, 100)).toHaveLength(13);
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
  const open = (options: LocalVectorStoreOptions = {}) => new LocalVectorStore(dir, options);

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

  it("keeps one collection per vector size", async () => {
    const store = open();
    await store.ensureCollection(DIMS);
    await store.ensureCollection(8);
    await store.upsert(corpus());
    await store.upsert([chunk("book-c", 0, "small", 8), chunk("book-c", 1, "small", 8)]);
    const hits = await store.search(chunk("book-c", 1, "small", 8).vector, 10);
    expect(hits.map((h) => h.payload.bookId)).toEqual(["book-c", "book-c"]);
    expect(await store.count()).toBe(12);
    await store.deleteBook("book-c");
    expect(await store.count()).toBe(10);
    await store.close();
  });

  it("lets two instances share a directory: each sees the other's writes and deletions at once", async () => {
    const a = open();
    const b = open();
    await a.ensureCollection(DIMS);
    await a.upsert(corpus().filter((p) => p.payload.bookId === "book-a"));
    await b.upsert(corpus().filter((p) => p.payload.bookId === "book-b"));
    expect(await a.count()).toBe(10);
    expect(await b.count()).toBe(10);
    const [fromA] = await a.search(chunk("book-b", 2).vector, 1);
    expect(fromA!.payload).toMatchObject({ bookId: "book-b", chunkId: "c2" });

    await b.deleteBook("book-a");
    expect(await a.count({ bookId: "book-a" })).toBe(0);
    await a.upsert([chunk("book-d", 0)]);
    expect(await b.count()).toBe(5);
    await a.close();
    await b.close();

    const c = open();
    expect(await c.count()).toBe(5);
    expect(await c.count({ bookId: "book-d" })).toBe(1);
    await c.close();
  });

  it("loses nothing when several processes write at once while another reads", async () => {
    const moduleUrl = new URL("../../library/vectors/local-vector-store.ts", import.meta.url).href;
    const writer = (name: string) => `
      const { LocalVectorStore } = await import(${JSON.stringify(moduleUrl)});
      const store = new LocalVectorStore(${JSON.stringify(dir)}, { index: { indexMinRows: 256, indexTailRows: 50 } });
      await store.ensureCollection(${DIMS});
      for (let batch = 0; batch < 20; batch++) {
        const points = [];
        for (let i = 0; i < 10; i++) {
          const n = batch * 10 + i;
          const vector = new Float32Array(${DIMS}).map((_, j) => Math.sin(n * 31 + j + ${JSON.stringify(name)}.length));
          points.push({ id: ${JSON.stringify(name)} + "-" + n, vector, payload: { bookId: ${JSON.stringify(name)}, chunkId: "c" + n, page: 1, text: "x".repeat(200) } });
        }
        // Each batch three times: overwrites race with the other writers' inserts and with maintenance.
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
    const reader = open();
    await reader.ensureCollection(DIMS);
    const writers = Promise.all([run("proc-one"), run("proc-two"), run("proc-three")]);
    // Meanwhile a reader (as the API is) sees the count only grow.
    let seen = 0;
    let finished = false;
    void writers.finally(() => (finished = true)).catch(() => undefined);
    while (!finished) {
      const n = await reader.count();
      expect(n).toBeGreaterThanOrEqual(seen);
      seen = n;
      await new Promise((r) => setTimeout(r, 50));
    }
    await writers;
    expect(await reader.count()).toBe(600);
    await reader.close();

    const store = open();
    expect(await store.count()).toBe(600);
    for (const name of ["proc-one", "proc-two", "proc-three"]) expect(await store.count({ bookId: name })).toBe(200);
    const [best] = await store.search(new Float32Array(DIMS).map((_, j) => Math.sin(7 * 31 + j + "proc-two".length)), 1, { bookId: "proc-two" });
    expect(best!.payload).toMatchObject({ bookId: "proc-two", chunkId: "c7" });
    await store.close();
  }, 120_000);

  it("finds a point the moment its upsert returns, with an ANN index built, and honours overwrites and deletions in it", async () => {
    const store = open({ index: { indexMinRows: 256, indexTailRows: 1_000_000 } });
    const many = Array.from({ length: 600 }, (_, n) => chunk(`book-${n % 6}`, n));
    await store.upsert(many);
    await store.maintain();
    const coverage = await (await store.collectionOf(DIMS))!.indexCoverage();
    expect(coverage).toEqual({ indexedRows: 600, unindexedRows: 0 });

    // Not in the index yet: found by the exact scan of the unindexed rows.
    const fresh = chunk("book-new", 0);
    await store.upsert([fresh]);
    const [hit] = await store.search(fresh.vector, 1);
    expect(hit!.payload).toEqual(fresh.payload);
    expect((await (await store.collectionOf(DIMS))!.indexCoverage())!.unindexedRows).toBe(1);

    // An indexed point overwritten: one point, the new payload.
    const old = many[123]!;
    await store.upsert([{ ...old, payload: { ...old.payload, text: "rewritten" } }]);
    expect(await store.count()).toBe(601);
    const [rewritten] = await store.search(old.vector, 1);
    expect(rewritten!.payload).toMatchObject({ chunkId: old.payload.chunkId, text: "rewritten" });

    await store.deleteBook(old.payload.bookId);
    expect(await store.count({ bookId: old.payload.bookId })).toBe(0);
    const after = await store.search(old.vector, 20);
    expect(after.some((h) => h.payload.bookId === old.payload.bookId)).toBe(false);
    await store.close();
  }, 60_000);

  it("rebuilds an index of an earlier version (1-bit codes, no bits in its note) with the configured bits, and searches it well meanwhile", async () => {
    const many = Array.from({ length: 600 }, (_, n) => chunk(`book-${n % 6}`, n));
    const earlier = open({ index: { indexMinRows: 256, indexTailRows: 1_000_000, indexBits: 1 } });
    await earlier.upsert(many);
    await earlier.maintain();
    await earlier.close();
    const notePath = join(dir, (await readdir(dir)).find((f) => /^index-.*\.json$/.test(f))!);
    const { bits: _bits, ...asEarlierWrote } = JSON.parse(await readFile(notePath, "utf8")) as Record<string, unknown>;
    await writeFile(notePath, JSON.stringify(asEarlierWrote)); // what the version before the setting left

    const store = open({ index: { indexMinRows: 256, indexTailRows: 1_000_000, indexBits: 4 } });
    // Searched before the rebuild: the coarse index still finds each point first.
    for (const p of [many[5]!, many[321]!]) expect((await store.search(p.vector, 1))[0]!.payload).toEqual(p.payload);
    await store.maintain();
    expect(JSON.parse(await readFile(notePath, "utf8"))).toMatchObject({ trainedRows: 600, bits: 4 });
    expect(await (await store.collectionOf(DIMS))!.indexCoverage()).toEqual({ indexedRows: 600, unindexedRows: 0 });
    for (const p of [many[5]!, many[321]!]) expect((await store.search(p.vector, 1))[0]!.payload).toEqual(p.payload);
    await store.maintain(); // the same bits now: nothing to rebuild
    expect(JSON.parse(await readFile(notePath, "utf8"))).toMatchObject({ bits: 4 });
    await store.close();
  }, 120_000);

  it("builds the index and folds new points into it in the background of the writing process", async () => {
    const store = open({ index: { indexMinRows: 300, indexTailRows: 100 } });
    const coverage = async () => (await store.collectionOf(DIMS))?.indexCoverage();
    for (let from = 0; from < 400; from += 50) await store.upsert(Array.from({ length: 50 }, (_, i) => chunk(`book-${i % 4}`, from + i)));
    // Built once 300 points were in; what came after stays below the tail that triggers a fold.
    await until(async () => (await coverage()) !== undefined);
    const built = (await coverage())!;
    expect(built.indexedRows).toBeGreaterThanOrEqual(300);
    expect(built.indexedRows + built.unindexedRows).toBe(400);
    for (let from = 400; from < 550; from += 50) await store.upsert(Array.from({ length: 50 }, (_, i) => chunk(`book-${i % 4}`, from + i)));
    // 150 more: past the tail, so they are folded in (the last ones may arrive while a fold runs).
    await until(async () => {
      const c = (await coverage())!;
      return c.indexedRows > built.indexedRows + 100 && c.unindexedRows < 100;
    });
    expect(await store.count()).toBe(550);
    const [hit] = await store.search(chunk("book-2", 502).vector, 1);
    expect(hit!.payload).toMatchObject({ bookId: "book-2", chunkId: "c502" });
    await store.close();
  }, 60_000);

  it("migrates a directory written by the earlier point-log store once, losing nothing", async () => {
    // test/fixtures/legacy-vectors was written by the point-log store this one replaced (two
    // generations after a compaction, overwrites, a deleted book, a point added after the deletion,
    // a second vector size), then a torn write was appended, as a crash mid-write leaves.
    await copyLegacyFixture(dir);
    const torn = Buffer.alloc(40, 7);
    torn.writeUInt32LE(0x3156514a, 0);
    torn.writeUInt32LE(5000, 4);
    await appendFile(join(dir, "dim-16", "points-2.log"), torn);

    const expectMigrated = async (store: LocalVectorStore) => {
      expect(await store.count()).toBe(13);
      const perBook = Object.fromEntries(await Promise.all(["book-a", "book-b", "book-c", "book-d"].map(async (b) => [b, await store.count({ bookId: b })])));
      expect(perBook).toEqual({ "book-a": 6, "book-b": 4, "book-c": 1, "book-d": 2 });
      const [b0] = await store.search(legacyPoint("book-b", 0).vector, 1);
      expect(b0!.payload).toEqual({ ...legacyPoint("book-b", 0).payload, text: "second version" });
      expect((await store.search(legacyPoint("book-a", 5).vector, 1))[0]!.payload.text).toBe("third version");
      const c = await store.search(legacyPoint("book-c", 0).vector, 10, { bookId: "book-c" });
      expect(c.map((h) => h.payload)).toEqual([{ ...legacyPoint("book-c", 9).payload, text: "after the deletion" }]);
      const [d1] = await store.search(legacyPoint("book-d", 1, 8).vector, 1);
      expect(d1!.payload).toMatchObject({ bookId: "book-d", chunkId: "c1" });
      expect(d1!.score).toBeGreaterThan(0.999);
    };

    const first = open();
    await expectMigrated(first);
    await first.close();
    expect((await readdir(dir)).filter((n) => n.startsWith("dim-"))).toEqual([]); // moved aside…
    expect((await readdir(join(dir, "migrated"))).sort()).toEqual(["dim-16", "dim-8"]); // …and kept

    // A migration cut short before it moved the logs aside runs again: nothing doubles, nothing newer is overwritten.
    await copyLegacyFixture(dir, "dim-16");
    const writer = open();
    await writer.close();
    const again = open();
    await expectMigrated(again);
    await again.close();
  }, 60_000);

  it("finds a small tenant's exact nearest neighbours in a large table with an ANN index, and searches a large tenant through the index", async () => {
    const store = open({ index: { indexMinRows: 256, indexTailRows: 1_000_000 } });
    const tenanted = (tenant: string, n: number): VectorPoint => {
      const p = chunk(`${tenant}-book-${n % 5}`, n);
      return { ...p, payload: { ...p.payload, tenant } };
    };
    const big = Array.from({ length: 3_000 }, (_, n) => tenanted("big", n));
    const small = Array.from({ length: 20 }, (_, n) => tenanted("small", 10_000 + n));
    await store.upsert([...big, ...small]);
    await store.maintain();
    expect(await (await store.collectionOf(DIMS))!.indexCoverage()).toEqual({ indexedRows: 3_020, unindexedRows: 0 });
    expect(await store.count({ tenant: "small" })).toBe(20);

    // An IVF search filtered to 20 rows among 3,020 would meet only those in its probed partitions
    // (measured: 0–2 of them); the small tenant's search must be its exact top 10.
    for (const seed of [11, 22, 33, 44, 55]) {
      const query = vectorFor(900_000 + seed);
      const exact = [...small].sort((a, b) => cosine(query, b.vector) - cosine(query, a.vector)).slice(0, 10);
      const hits = await store.search(query, 10, { tenant: "small" });
      expect(hits.map((h) => h.payload.chunkId)).toEqual(exact.map((p) => p.payload.chunkId));
    }
    // The large tenant goes through the index (tenantSearchPlan below) and still finds each point first.
    for (const p of [big[7]!, big[1_234]!, big[2_999]!]) {
      const hits = await store.search(nudged(p.vector), 10, { tenant: "big" });
      expect(hits).toHaveLength(10);
      expect(hits[0]!.payload).toEqual(p.payload);
      expect(hits.every((h) => h.payload.tenant === "big")).toBe(true);
    }
    await store.close();
  }, 120_000);

  it("plans a tenant's search: exact for few rows, through the index with more probes the smaller its share", () => {
    const plan = (tenantRows: number, totalRows: number, partitions: number) => tenantSearchPlan({ tenantRows, totalRows, partitions, nprobes: 10, indexMinRows: 5_000 });
    expect(plan(20, 3_020, 55)).toEqual({ exact: true }); // fewer rows than an index is built for
    expect(plan(1_000_000, 1_000_000, 1_000)).toEqual({ exact: false, nprobes: 10 }); // the only tenant: as unfiltered
    expect(plan(400_000, 1_000_000, 1_000)).toEqual({ exact: false, nprobes: 25 });
    expect(plan(50_000, 1_000_000, 1_000)).toEqual({ exact: false, nprobes: 200 });
    expect(plan(8_000, 1_000_000, 1_000)).toEqual({ exact: true }); // would probe more than half the partitions
  });

  it("adds the tenant column to a table written before tenants, once, its points the default tenant's", async () => {
    // A table as the store before tenants wrote it: no tenant column, payloads without a tenant.
    const before = corpus();
    const db = await connect(join(dir, "lance"));
    await db.createTable("dim_16", pretenantRows(before), { mode: "create" });
    db.close();

    // Two processes' stores open it at once: both add the column, one finds it there.
    const [a, b] = [open(), open()];
    expect(await Promise.all([a.count({ tenant: "default" }), b.count({ tenant: "default" })])).toEqual([10, 10]);
    expect(await a.count({ tenant: "acme" })).toBe(0);
    const [old] = await a.search(chunk("book-b", 2).vector, 1, { tenant: "default" });
    expect(old!.payload).toEqual(chunk("book-b", 2).payload);

    const acme = { ...chunk("book-e", 0), payload: { ...chunk("book-e", 0).payload, tenant: "acme" } };
    await b.upsert([acme]);
    expect(await a.search(acme.vector, 10, { tenant: "acme" })).toEqual([{ score: expect.closeTo(1, 5), payload: acme.payload }]);
    await a.maintain();
    await a.close();
    await b.close();

    // Reopened: the column is there, so nothing is written (the table stays at its version).
    const tableVersion = async () => {
      const reader = await connect(join(dir, "lance"));
      const version = await (await reader.openTable("dim_16")).version();
      reader.close();
      return version;
    };
    const versionBefore = await tableVersion();
    const again = open();
    expect(await again.count()).toBe(11);
    expect(await tableVersion()).toBe(versionBefore);
    expect(await again.count({ tenant: "default" })).toBe(10);
    expect(await again.count({ tenant: "acme", bookId: "book-e" })).toBe(1);
    expect((await again.search(chunk("book-a", 4).vector, 1, { tenant: "default", bookId: "book-a" }))[0]!.payload).toEqual(chunk("book-a", 4).payload);
    await again.close();
  }, 60_000);

  it("starts empty in a fresh directory and answers searches of an unknown size with nothing", async () => {
    const store = open();
    expect(await store.count()).toBe(0);
    expect(await store.search(vectorFor(3, 24), 5)).toEqual([]);
    expect(await readdir(dir)).toEqual(["lance"]);
    await store.close();
  });
});

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

/**
 * Rows in the table schema of the store before tenants (id, bookId, payload JSON, unit vector; no
 * tenant column), with the CommonJS apache-arrow that LanceDB checks its inputs against.
 */
function pretenantRows(points: VectorPoint[]) {
  const arrow = createRequire(import.meta.url)("apache-arrow") as typeof import("apache-arrow");
  const schema = new arrow.Schema([
    new arrow.Field("id", new arrow.Utf8(), false),
    new arrow.Field("bookId", new arrow.Utf8(), false),
    new arrow.Field("payload", new arrow.Utf8(), false),
    new arrow.Field("vector", new arrow.FixedSizeList(DIMS, new arrow.Field("item", new arrow.Float32(), true)), false),
  ]);
  const unit = (v: Float32Array) => {
    const norm = Math.hypot(...v);
    return Array.from(v, (x) => x / norm);
  };
  const rows = points.map((p) => ({ id: p.id, bookId: p.payload.bookId, payload: JSON.stringify(p.payload), vector: unit(p.vector) }));
  return makeArrowTable(rows, { schema });
}

const LEGACY_FIXTURE = resolve(import.meta.dirname, "../fixtures/legacy-vectors");

/** Copies the fixture's collections into `target`, as the old store named its logs (stored as *.log-fixture: *.log is git-ignored). */
async function copyLegacyFixture(target: string, only?: string): Promise<void> {
  for (const collection of await readdir(LEGACY_FIXTURE)) {
    if (only && collection !== only) continue;
    await mkdir(join(target, collection), { recursive: true });
    for (const file of await readdir(join(LEGACY_FIXTURE, collection))) {
      await cp(join(LEGACY_FIXTURE, collection, file), join(target, collection, file.replace(/\.log-fixture$/, ".log")));
    }
  }
}

/** The points the legacy fixture was written with (same seeds as the script that wrote it). */
function legacyPoint(book: string, n: number, dims = DIMS): VectorPoint {
  return {
    id: pointId(book, `c${n}`),
    vector: vectorFor(book.length * 1000 + book.charCodeAt(5) * 100 + n, dims),
    payload: { bookId: book, chunkId: `c${n}`, page: n + 1, text: `text of ${book} chunk ${n}`, title: `Title of ${book}` },
  };
}

async function until(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}
