// The embedded vector store at library scale: N synthetic chunks of D dimensions, then what a
// platform of that size sees. Synthetic data is clustered, not uniform noise: Gaussian blobs
// around --centres random centres (unit vectors; each point = centre + σ·N(0,1) per dimension,
// normalised), which is how real embeddings of many books on a few thousand topics spread, and
// what an IVF index is built for. Queries are fresh draws from the same blobs.
//
//   node --import tsx bench/vector-store-scale.ts [--points 1000000] [--dims 512] [--centres 2000]
//        [--sigma 0.03] [--queries 200] [--k 10] [--per-book 100] [--dir /tmp/x] [--keep]
//        [--store library/vectors/local-vector-store.ts] [--bits 1]
//
// Measures, printed and written to bench/results/vector-store-scale-<points>.json:
//   load      upserting the N points, 5,000 per call (mergeInsert by point id), no ANN index yet
//   index     building the ANN index over them (store.maintain(); the store does it in the
//             background after writes otherwise)
//   append    upserting 1,000 more points 64 per call (JETQ_EMBED_BATCH's default), each checked
//             searchable right after its upsert returns; then folding them into the index
//   search    in a fresh reader process (as the API is): open time, search p50/p99 k=10 without
//             and with a bookId filter, over --queries queries after 20 warm-up ones; its RSS
//             after them; then the unfiltered queries again with the --sweep settings
//   recall    recall@k of both against an exact scan over every point, computed here
//   disk      bytes under the store's directory, as left and once replaced versions are pruned
// --store points at another LocalVectorStore module (e.g. a worktree of the previous version) to
// measure it the same way; stores without maintain() skip the index step.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { VectorPoint, VectorStore } from "../library/vectors/vector-store.js";
import { VectorMatrix } from "./exact-scan/vector-matrix.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    points: { type: "string", default: "1000000" },
    dims: { type: "string", default: "512" },
    centres: { type: "string", default: "2000" },
    sigma: { type: "string", default: "0.03" },
    queries: { type: "string", default: "200" },
    k: { type: "string", default: "10" },
    "per-book": { type: "string", default: "100" },
    dir: { type: "string" },
    keep: { type: "boolean", default: false },
    store: { type: "string", default: "library/vectors/local-vector-store.ts" },
    bits: { type: "string", default: "1" }, // the index's RaBitQ bits per dimension (JETQ_VECTOR_INDEX_BITS)
    sweep: { type: "string", default: "10x10,20x10,20x20,40x20" }, // nprobes×refineFactor settings searched besides the defaults
    reader: { type: "boolean", default: false }, // internal: the search process
  },
});
const N = Number(args.points);
const DIMS = Number(args.dims);
const CENTRES = Number(args.centres);
const SIGMA = Number(args.sigma);
const QUERIES = Number(args.queries);
const K = Number(args.k);
const PER_BOOK = Number(args["per-book"]);
const APPEND = 1_000;
const WARMUP = 20;
const STORE_MODULE = pathToFileURL(resolve(REPO, args.store!)).href;
const log = (msg: string) => process.stderr.write(`[bench:vectors] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);

type StoreCtor = new (dir: string, options?: object) => VectorStore & { maintain?: () => Promise<void> };
const loadStore = async () => (await import(STORE_MODULE)).LocalVectorStore as StoreCtor;

// ——— data ———

/** xorshift32 + Box–Muller: the same points on every run. */
function gaussians(seed: number) {
  let s = seed >>> 0 || 1;
  const uniform = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 2 ** 32;
  };
  return { uniform, normal: () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) };
}

function unit(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
  const inv = 1 / Math.sqrt(n);
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
  return v;
}

const centreRng = gaussians(42);
const centres = Array.from({ length: CENTRES }, () => unit(Float32Array.from({ length: DIMS }, centreRng.normal)));

/** Point i: near a centre picked by its own generator, so any range can be made on its own. */
function pointVector(i: number, salt = 0): Float32Array {
  const g = gaussians(i * 2654435761 + salt * 97 + 7);
  const c = centres[Math.floor(g.uniform() * CENTRES)]!;
  const v = new Float32Array(DIMS);
  for (let d = 0; d < DIMS; d++) v[d] = c[d]! + SIGMA * g.normal();
  return unit(v);
}

const WORDS = "the a brass astrolabe measured stars over harbour ledger merchant river of tide chart pilot and compass bearing".split(" ");
function chunkText(i: number): string {
  const words: string[] = [];
  for (let w = 0, len = 0; len < 1_000; w++) {
    const word = WORDS[(i * 7 + w * 13 + (w >> 3)) % WORDS.length]!;
    words.push(word);
    len += word.length + 1;
  }
  return words.join(" ");
}

const bookOf = (i: number) => `book-${Math.floor(i / PER_BOOK)}`;
const point = (i: number, vector: Float32Array): VectorPoint => ({
  id: `00000000-0000-5000-8000-${i.toString(16).padStart(12, "0")}`,
  vector,
  payload: { bookId: bookOf(i), chunkId: `c${i}`, page: 1 + (i % PER_BOOK), text: chunkText(i), title: `Book ${Math.floor(i / PER_BOOK)}` },
});

// ——— measuring ———

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const summary = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: pct(s, 50), p99: pct(s, 99), max: s.at(-1)! };
};

interface Searched {
  ms: number[];
  chunkIds: string[][];
}
interface ReaderResult {
  openMs: number;
  unfiltered: Searched;
  filtered: Searched;
  /** The same unfiltered queries with other nprobes × refineFactor settings. */
  sweep: Record<string, Searched>;
  rssMiB: number;
}

/** The search process: opens the store fresh, runs the queries, says what it found and how fast. */
async function reader(): Promise<void> {
  const input = JSON.parse(await readFile(join(args.dir!, "queries.json"), "utf8")) as { queries: number[][]; books: string[] };
  const Store = await loadStore();
  let t = performance.now();
  const store = new Store(join(args.dir!, "store"));
  await store.count();
  const openMs = performance.now() - t;
  const queries = input.queries.map((q) => Float32Array.from(q));
  const run = async (filtered: boolean, searcher: VectorStore = store) => {
    const ms: number[] = [];
    const chunkIds: string[][] = [];
    for (let i = 0; i < WARMUP; i++) await searcher.search(queries[i % queries.length]!, K, filtered ? { bookId: input.books[i % queries.length]! } : {});
    for (let i = 0; i < queries.length; i++) {
      t = performance.now();
      const hits = await searcher.search(queries[i]!, K, filtered ? { bookId: input.books[i]! } : {});
      ms.push(performance.now() - t);
      chunkIds.push(hits.map((h) => h.payload.chunkId));
    }
    return { ms, chunkIds };
  };
  const unfiltered = await run(false);
  const filtered = await run(true);
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  const sweep: Record<string, Searched> = {};
  for (const setting of args.sweep!.split(",").filter(Boolean)) {
    const [nprobes, refineFactor] = setting.split("x").map(Number);
    const other = new Store(join(args.dir!, "store"), { index: { nprobes, refineFactor } });
    sweep[setting] = await run(false, other);
    await other.close();
  }
  const result: ReaderResult = { openMs, unfiltered, filtered, sweep, rssMiB };
  await store.close();
  process.stdout.write(JSON.stringify(result));
}

function runReader(dir: string): Promise<ReaderResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--reader", "--dir", dir, "--store", args.store!, "--sweep", args.sweep!, "--dims", String(DIMS), "--k", String(K)], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => (code === 0 ? done(JSON.parse(out) as ReaderResult) : fail(new Error(`reader exited ${code}`))));
  });
}

/** Keeps the k best (score, i) pairs seen. */
class Best {
  readonly items: { score: number; i: number }[] = [];
  threshold = -Infinity;
  offer(score: number, i: number): void {
    if (this.items.length >= K && score <= this.threshold) return;
    this.items.push({ score, i });
    this.items.sort((a, b) => b.score - a.score);
    if (this.items.length > K) this.items.pop();
    if (this.items.length >= K) this.threshold = this.items[K - 1]!.score;
  }
  chunkIds(): string[] {
    return this.items.map((b) => `c${b.i}`);
  }
}

/** Exact top-k chunk ids of every query over every row of `matrix`: the old store's SIMD scan. */
function exactTopK(queries: Float32Array[], matrix: VectorMatrix, count: number): string[][] {
  return queries.map((query, q) => {
    const best = new Best();
    matrix.scan(query, count, (scores, base, n) => {
      for (let r = 0; r < n; r++) if (scores[r]! > best.threshold || best.items.length < K) best.offer(scores[r]!, base + r);
    });
    if (q % 50 === 49) log(`exact scan: ${q + 1} queries`);
    return best.chunkIds();
  });
}

/** Exact top-k within each query's book (its rows are `bookRows(book)`). */
function exactTopKInBook(queries: Float32Array[], books: string[], vectorAt: (i: number) => Float32Array, bookRows: (book: string) => number[]): string[][] {
  return queries.map((query, q) => {
    const best = new Best();
    for (const i of bookRows(books[q]!)) {
      const v = vectorAt(i);
      let s = 0;
      for (let d = 0; d < DIMS; d++) s += query[d]! * v[d]!;
      best.offer(s, i);
    }
    return best.chunkIds();
  });
}

const recall = (found: string[][], exact: string[][]) => {
  let hit = 0;
  let want = 0;
  found.forEach((f, i) => {
    const truth = new Set(exact[i]);
    want += truth.size;
    hit += f.filter((id) => truth.has(id)).length;
  });
  return hit / want;
};

async function main(): Promise<void> {
  const dir = args.dir ?? (await mkdtemp(join(tmpdir(), "jetq-vector-scale-")));
  const storeDir = join(dir, "store");
  const Store = await loadStore();
  log(`${N} points × ${DIMS} dims, ${CENTRES} centres, σ ${SIGMA}, store ${args.store}, dir ${dir}`);

  // Every vector is kept here too, for the exact scan that recall is measured against.
  const matrix = new VectorMatrix(DIMS);
  matrix.reserve(N + APPEND);
  const vectorAt = (i: number) => matrix.row(i);
  const remember = (i: number, v: Float32Array) => matrix.setRowBytes(i, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));

  // load: no ANN index yet (built in one go below), as a bulk import would do it
  const bulk = new Store(storeDir, { index: { indexMinRows: Number.MAX_SAFE_INTEGER } });
  let t = performance.now();
  let generateMs = 0;
  for (let from = 0; from < N; from += 5_000) {
    const g = performance.now();
    const batch: VectorPoint[] = [];
    for (let i = from; i < Math.min(N, from + 5_000); i++) {
      const v = pointVector(i);
      remember(i, v);
      batch.push(point(i, v));
    }
    generateMs += performance.now() - g;
    await bulk.upsert(batch);
    if (from % 100_000 === 0) log(`loaded ${from + batch.length}`);
  }
  const loadMs = performance.now() - t - generateMs;
  await bulk.maintain?.();
  await bulk.close();
  log(`load ${(loadMs / 1000).toFixed(1)} s`);

  const store = new Store(storeDir, { index: { indexBits: Number(args.bits) } });
  t = performance.now();
  await store.maintain?.();
  const indexMs = performance.now() - t;
  log(`index ${(indexMs / 1000).toFixed(1)} s`);

  // append: 1,000 more, 64 per upsert, each batch searched for right after
  let appendMs = 0;
  let missedRightAfter = 0;
  for (let from = N; from < N + APPEND; from += 64) {
    const batch: VectorPoint[] = [];
    for (let i = from; i < Math.min(N + APPEND, from + 64); i++) {
      const v = pointVector(i);
      remember(i, v);
      batch.push(point(i, v));
    }
    t = performance.now();
    await store.upsert(batch);
    appendMs += performance.now() - t;
    const last = batch.at(-1)!;
    const [hit] = await store.search(last.vector, 1);
    if (hit?.payload.chunkId !== last.payload.chunkId) missedRightAfter++;
  }
  t = performance.now();
  await store.maintain?.();
  const foldMs = performance.now() - t;
  const total = N + APPEND;
  const count = await store.count();
  await store.close();
  log(`append ${appendMs.toFixed(0)} ms per ${APPEND}, fold ${foldMs.toFixed(0)} ms, count ${count}`);

  // search, in a fresh process
  const qRng = gaussians(4242);
  const queries = Array.from({ length: QUERIES }, (_, q) => pointVector(10_000_000 + q, 1));
  const books = queries.map(() => bookOf(Math.floor(qRng.uniform() * total)));
  await writeFile(join(dir, "queries.json"), JSON.stringify({ queries: queries.map((q) => Array.from(q)), books }));
  const found = await runReader(dir);
  log("exact scan for recall…");
  const exact = exactTopK(queries, matrix, total);
  const bookRows = (book: string) => {
    const from = Number(book.slice(5)) * PER_BOOK;
    return Array.from({ length: PER_BOOK }, (_, j) => from + j).filter((i) => i < total);
  };
  const exactFiltered = exactTopKInBook(queries, books, vectorAt, bookRows);
  const du = () => Number(execFileSync("du", ["-sb", storeDir]).toString().split("\t")[0]);
  const diskBytes = du();
  // Versions and files that writes and maintenance replaced are kept for the retention (1 min by
  // default) for readers still on them: what remains once they are pruned is the steady size.
  const pruning = new Store(storeDir, { index: { versionRetentionMs: 0 } });
  await pruning.maintain?.();
  await pruning.close();
  const prunedBytes = du();

  const result = {
    points: N,
    dims: DIMS,
    centres: CENTRES,
    sigma: SIGMA,
    store: args.store,
    machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
    loadSeconds: loadMs / 1000,
    loadPointsPerSecond: N / (loadMs / 1000),
    indexSeconds: indexMs / 1000,
    appendMsPer1000: (appendMs / APPEND) * 1000,
    foldIntoIndexMs: foldMs,
    missedRightAfterUpsert: missedRightAfter,
    count,
    reader: {
      openMs: found.openMs,
      rssMiB: found.rssMiB,
      unfiltered: { ...summary(found.unfiltered.ms), recallAtK: recall(found.unfiltered.chunkIds, exact) },
      filtered: { ...summary(found.filtered.ms), recallAtK: recall(found.filtered.chunkIds, exactFiltered) },
      sweep: Object.fromEntries(Object.entries(found.sweep).map(([setting, r]) => [setting, { ...summary(r.ms), recallAtK: recall(r.chunkIds, exact) }])),
    },
    loadAverage: loadavg(),
    diskMiB: diskBytes / 2 ** 20,
    diskMiBPruned: prunedBytes / 2 ** 20,
  };
  console.log(JSON.stringify(result, null, 2));
  const out = join(REPO, "bench", "results", `vector-store-scale-${N}${args.store === "library/vectors/local-vector-store.ts" ? "" : "-other"}${args.bits === "1" ? "" : `-bits${args.bits}`}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  if (!args.keep && !args.dir) await rm(dir, { recursive: true, force: true });
}

await (args.reader ? reader() : main());
