// The document pipeline benchmarks; bench/pipeline-run.ts runs them and prints the table.
//
//   book    process_book on a generated PDF, in a real worker process (bench/pipeline-worker.ts,
//           concurrency 1, its own local vector store): create → succeeded, and on to its chained
//           generate_embeddings; the worker's RSS from /proc every 50 ms. Then the same book again
//           (unchanged: the no-op path).
//   embed   LexicalEmbedder (512 dimensions) over the book's real chunks, in batches of 64.
//   search  a LocalVectorStore of N points (lexical vectors of generated chunk-like texts), then in a
//           fresh process (as the API would): open it from disk, and time store.search for k = 10.
//
// Run as a script (`pipeline.js search-child <dir> <queries> <k>`), this file is that fresh process.
import { randomUUID } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { createReadStream, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { storeUpload } from "../library/books.js";
import { connectLibrary, type LibraryConnection } from "../library/connection.js";
import { LexicalEmbedder } from "../library/embeddings/lexical-embedder.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import type { TaskRecord } from "../kernel/task.js";
import { documentTaskTypes } from "../library/task-types.js";
import { LocalVectorStore } from "../library/vectors/local-vector-store.js";
import { pointId, type VectorPoint } from "../library/vectors/vector-store.js";
import { readDocument } from "../worker/documents/read-document.js";
import { bigPdf, proseForPage } from "../kit/document-fixtures.js";
import { benchConfig, cpuMsOf, latencySummary, now, sleep, type LatencySummary } from "./lib.js";

/** Chunking as the worker's defaults (JETQ_CHUNK_SIZE, JETQ_CHUNK_OVERLAP). */
export const CHUNKING = { chunkSize: 1200, chunkOverlap: 200 };
export const EMBED_BATCH = 64;

const round1 = (n: number) => Math.round(n * 10) / 10;
const round3 = (n: number) => Math.round(n * 1000) / 1000;
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

// --- memory, from /proc (Linux; null elsewhere) ------------------------------------

/** A field of /proc/<pid>/status in KiB: VmRSS (resident now) or VmHWM (peak resident). */
export function procKiB(pid: number, field: "VmRSS" | "VmHWM"): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
export const mib = (kib: number | null | undefined) => (kib == null ? null : round1(kib / 1024));

/** Resets the kernel's peak-RSS mark (VmHWM) of a process we own; false where not allowed. */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Samples a process's VmRSS every `everyMs`. */
class RssSampler {
  private readonly samples: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  constructor(private readonly pid: number) {}

  start(everyMs = 50): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    return this;
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const s = this.samples;
    return { samples: s.length, firstMiB: mib(s[0]), peakMiB: mib(s.length ? Math.max(...s) : null), lastMiB: mib(s.at(-1)) };
  }

  private sample() {
    const v = procKiB(this.pid, "VmRSS");
    if (v !== null) this.samples.push(v);
  }
}

// --- child processes ---------------------------------------------------------------

/** Node with this file's sibling `name`: compiled (dist-bench) or through tsx from source. */
function spawnSibling(name: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const fromSource = import.meta.url.endsWith(".ts"); // compiled by the bench script, or run through tsx
  const script = fileURLToPath(new URL(`./${name}${fromSource ? ".ts" : ".js"}`, import.meta.url));
  const child = spawn(process.execPath, [...(fromSource ? ["--import", "tsx"] : []), script, ...args], { stdio: ["ignore", "pipe", "inherit"], env });
  const kill = () => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL");
  process.on("exit", kill);
  child.once("exit", () => process.off("exit", kill));
  return child;
}

/** The first stdout line of a child that parses as JSON; rejects if the child exits first. */
function firstJsonLine<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null) => reject(new Error(`${what} exited (${code ?? signal}) before reporting`));
    child.once("exit", onExit);
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      if (!line.startsWith("{")) return;
      child.off("exit", onExit);
      lines.close();
      resolve(JSON.parse(line) as T);
    });
  });
}

interface WorkerHandle {
  pid: number;
  startMs: number;
  stop(): Promise<void>;
}

async function startPipelineWorker(env: Record<string, string>): Promise<WorkerHandle> {
  const t0 = now();
  const child = spawnSibling("pipeline-worker", [], { ...process.env, ...env });
  const ready = await firstJsonLine<{ ready: boolean; pid: number }>(child, "pipeline worker");
  return {
    pid: ready.pid,
    startMs: Math.round(now() - t0),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// --- the book ----------------------------------------------------------------------

export interface GeneratedBook {
  path: string;
  pages: number;
  bytes: number;
  generateMs: number;
}

export async function generateBook(dir: string, pages: number): Promise<GeneratedBook> {
  const path = join(dir, `book-${pages}.pdf`);
  const t0 = now();
  await bigPdf(path, pages);
  return { path, pages, bytes: (await stat(path)).size, generateMs: Math.round(now() - t0) };
}

async function uploadBook(conn: LibraryConnection, bookId: string, path: string): Promise<void> {
  await storeUpload(conn.uploads, { bookId, filename: "book.pdf", contentType: "application/pdf" }, createReadStream(path));
}

/** Polls the task's state record every 20 ms until it succeeded; throws if it failed. */
async function waitForSuccess(conn: LibraryConnection, id: string, timeoutMs = 30 * 60_000): Promise<TaskRecord> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const r = (await conn.state.get(id))?.record;
    if (r?.status === "succeeded") return r;
    if (r && (r.status === "failed" || r.status === "cancelled")) throw new Error(`task ${id} (${r.type}) ${r.status}: ${JSON.stringify(r.error ?? null)}`);
    if (now() > deadline) throw new Error(`task ${id} not done after ${timeoutMs} ms (${r?.status ?? "no record"})`);
    await sleep(20);
  }
}

/** Time the handler ran, from the record's own timestamps (ms resolution). */
const handlerMs = (r: TaskRecord) => (r.startedAt && r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : null);

// --- 1. process_book in a worker process ---------------------------------------------

export interface BookOptions {
  natsUrl: string;
  natsPid?: number;
  book: GeneratedBook;
  rounds: number;
  /** Re-runs of the last book, unchanged. */
  reruns: number;
}

export interface BookRound {
  bookId: string;
  pages: number;
  chunks: number;
  /** create → process_book succeeded (as the client sees it, polling every 20 ms). */
  processMs: number;
  processPagesPerSec: number;
  /** create → the chained generate_embeddings succeeded. */
  endToEndMs: number;
  endToEndPagesPerSec: number;
  /** startedAt → finishedAt of each task's record: the handlers alone, without queueing. */
  processHandlerMs: number | null;
  embedHandlerMs: number | null;
  embedded: number;
  /** Worker RSS: idle just before create, sampled peak, kernel peak (VmHWM, reset before create), at the end. */
  rss: { beforeMiB: number | null; peakMiB: number | null; hwmMiB: number | null; endMiB: number | null; samples: number };
  /** CPU over create → embeddings succeeded, % of one core. */
  cpuPct: { worker: number | null; nats: number | null };
}

export interface BookResult {
  book: Omit<GeneratedBook, "path">;
  worker: { startMs: number; idleRssMiB: number | null; hwmResettable: boolean; endRssMiB: number | null };
  rounds: BookRound[];
  median: { processMs: number; processPagesPerSec: number; endToEndMs: number; endToEndPagesPerSec: number; peakRssMiB: number };
  unchanged: { ms: number[]; medianMs: number; handlerMs: (number | null)[]; result: unknown };
  /** Points the worker's vector store holds per book afterwards (read from its directory). */
  storedPoints: Record<string, number>;
}

export async function processBookBench(o: BookOptions): Promise<BookResult> {
  const dataDir = await mkdtemp(join(tmpdir(), "jetq-bench-data-"));
  const cfg = benchConfig(o.natsUrl, 1);
  const conn = await connectLibrary(cfg.natsUrl, cfg.topology, { name: "bench-pipeline" });
  const queue = taskQueueFor(conn, documentTaskTypes(), { defaultTimeoutSeconds: cfg.worker.defaultTimeoutSeconds });
  let worker: WorkerHandle | undefined;
  try {
    worker = await startPipelineWorker({
      NATS_URL: o.natsUrl,
      JETQ_DATA_DIR: dataDir,
      JETQ_CONCURRENCY: "1",
      JETQ_WORKER_METRICS_PORT: "0",
      LOG_LEVEL: "error",
    });
    const pid = worker.pid;
    await sleep(1_000); // let start-up settle before calling it idle
    const idleRss = procKiB(pid, "VmRSS");
    const hwmResettable = resetPeakRss(pid);
    const pids = { worker: pid, nats: o.natsPid };
    const cpuOf = () => ({ worker: cpuMsOf(pids.worker), nats: cpuMsOf(pids.nats) });
    const pct = (a: number | null, b: number | null, ms: number) => (a === null || b === null ? null : Math.round(((b - a) / ms) * 100));

    const rounds: BookRound[] = [];
    let bookId = "";
    for (let i = 1; i <= o.rounds; i++) {
      bookId = randomUUID();
      await uploadBook(conn, bookId, o.book.path); // not timed: the API's part
      await sleep(300);
      const before = procKiB(pid, "VmRSS");
      resetPeakRss(pid);
      const sampler = new RssSampler(pid).start(50);
      const cpu0 = cpuOf();
      const t0 = now();
      const created = await queue.create({ type: "process_book", payload: { bookId, filename: "book.pdf", contentType: "application/pdf" } });
      const processed = await waitForSuccess(conn, created.record.id);
      const processMs = now() - t0;
      const result = processed.result as { pages: number; chunks: number; embeddingTaskId?: string };
      if (!result.embeddingTaskId) throw new Error(`process_book of ${bookId} chained no generate_embeddings: ${JSON.stringify(result)}`);
      const embedded = await waitForSuccess(conn, result.embeddingTaskId);
      const endToEndMs = now() - t0;
      const cpu1 = cpuOf();
      const rss = sampler.stop();
      const embeddedCount = (embedded.result as { embedded: number }).embedded;
      if (result.pages !== o.book.pages || embeddedCount !== result.chunks) {
        throw new Error(`book ${bookId}: ${result.pages} pages (expected ${o.book.pages}), ${result.chunks} chunks, ${embeddedCount} embedded`);
      }
      rounds.push({
        bookId,
        pages: result.pages,
        chunks: result.chunks,
        processMs: Math.round(processMs),
        processPagesPerSec: round1((result.pages / processMs) * 1000),
        endToEndMs: Math.round(endToEndMs),
        endToEndPagesPerSec: round1((result.pages / endToEndMs) * 1000),
        processHandlerMs: handlerMs(processed),
        embedHandlerMs: handlerMs(embedded),
        embedded: embeddedCount,
        rss: { beforeMiB: mib(before), peakMiB: rss.peakMiB, hwmMiB: hwmResettable ? mib(procKiB(pid, "VmHWM")) : null, endMiB: rss.lastMiB, samples: rss.samples },
        cpuPct: { worker: pct(cpu0.worker, cpu1.worker, endToEndMs), nats: pct(cpu0.nats, cpu1.nats, endToEndMs) },
      });
    }

    // The same bytes again: downloaded and hashed, found unchanged and already embedded, no chain.
    const unchangedMs: number[] = [];
    const unchangedHandlerMs: (number | null)[] = [];
    let unchangedResult: unknown = null;
    for (let i = 0; i < o.reruns; i++) {
      await sleep(200);
      const t0 = now();
      const created = await queue.create({ type: "process_book", payload: { bookId, filename: "book.pdf", contentType: "application/pdf" } });
      const done = await waitForSuccess(conn, created.record.id);
      unchangedMs.push(Math.round(now() - t0));
      unchangedHandlerMs.push(handlerMs(done));
      unchangedResult = done.result;
      const r = done.result as { unchanged?: boolean; embeddingTaskId?: string };
      if (!r.unchanged || r.embeddingTaskId) throw new Error(`re-run of ${bookId} was not the no-op path: ${JSON.stringify(r)}`);
    }
    const endRss = procKiB(pid, "VmRSS");

    // What the worker stored, read from its directory by a second process (allowed: see lance-collection.ts).
    const store = new LocalVectorStore(join(dataDir, "vectors"));
    const storedPoints: Record<string, number> = {};
    for (const r of rounds) storedPoints[r.bookId] = await store.count({ bookId: r.bookId });
    await store.close();
    for (const r of rounds) if (storedPoints[r.bookId] !== r.chunks) throw new Error(`store holds ${storedPoints[r.bookId]} points of ${r.bookId}, expected ${r.chunks}`);

    const { path: _path, ...book } = o.book;
    return {
      book,
      worker: { startMs: worker.startMs, idleRssMiB: mib(idleRss), hwmResettable, endRssMiB: mib(endRss) },
      rounds,
      median: {
        processMs: median(rounds.map((r) => r.processMs)),
        processPagesPerSec: median(rounds.map((r) => r.processPagesPerSec)),
        endToEndMs: median(rounds.map((r) => r.endToEndMs)),
        endToEndPagesPerSec: median(rounds.map((r) => r.endToEndPagesPerSec)),
        peakRssMiB: median(rounds.map((r) => r.rss.peakMiB ?? NaN)),
      },
      unchanged: { ms: unchangedMs, medianMs: median(unchangedMs), handlerMs: unchangedHandlerMs, result: unchangedResult },
      storedPoints,
    };
  } finally {
    await worker?.stop();
    await conn.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

// --- 2. local embedding ----------------------------------------------------------------

export interface EmbedResult {
  embedder: string;
  chunks: number;
  meanChunkChars: number;
  batch: number;
  /** readDocument alone, in this process: parse, normalise, chunk; first (cold) and second reading. */
  read: { coldMs: number; ms: number; pages: number; pagesPerSec: number };
  rounds: { ms: number; chunksPerSec: number }[];
  medianChunksPerSec: number;
}

export async function embeddingBench(book: GeneratedBook, rounds: number): Promise<EmbedResult> {
  const read = async () => {
    const t0 = now();
    const doc = await readDocument(book.path, { filename: "book.pdf", contentType: "application/pdf" }, CHUNKING);
    const texts: string[] = [];
    for await (const c of doc.chunks) texts.push(c.text);
    return { ms: now() - t0, texts, pages: doc.stats().parts };
  };
  const coldMs = (await read()).ms; // loads the PDF parser, compiles its code
  const { ms: readMs, texts, pages } = await read();

  const embedder = new LexicalEmbedder();
  const out: EmbedResult["rounds"] = [];
  for (let r = 0; r < rounds; r++) {
    const t = now();
    let n = 0;
    for (let i = 0; i < texts.length; i += EMBED_BATCH) n += (await embedder.embed(texts.slice(i, i + EMBED_BATCH))).length;
    const ms = now() - t;
    out.push({ ms: round3(ms), chunksPerSec: Math.round((n / ms) * 1000) });
  }
  return {
    embedder: embedder.name,
    chunks: texts.length,
    meanChunkChars: Math.round(texts.reduce((a, t) => a + t.length, 0) / texts.length),
    batch: EMBED_BATCH,
    read: { coldMs: Math.round(coldMs), ms: Math.round(readMs), pages, pagesPerSec: round1((pages / readMs) * 1000) },
    rounds: out,
    medianChunksPerSec: median(out.map((r) => r.chunksPerSec)),
  };
}

// --- 3. search over N stored chunks --------------------------------------------------------

/** Chunk-like text number i: ~1,100 characters of the book generator's prose (seeds apart from the book's pages). */
export const chunkText = (i: number) => proseForPage(1_000_000 + i, 1100);
/** Query number i: one sentence (6–19 words) of the same vocabulary, without the "This is page" opener. */
export const queryText = (i: number) => proseForPage(5_000_000 + i, 200).split(/(?<=\.)\s+/)[1]!;

/** Chunks per synthetic book in the store, about what the 300-page book makes. */
const CHUNKS_PER_BOOK = 500;

export interface BuildResult {
  points: number;
  dimensions: number;
  batch: number;
  /** Summed over batches: generating the texts and the points (ids, payloads), embedding, upserting (append + fsync per batch). */
  generateMs: number;
  embedMs: number;
  embedPerSec: number;
  upsertMs: number;
  upsertPerSec: number;
  totalMs: number;
  logMiB: number;
  meanTextChars: number;
}

/** Fills a LocalVectorStore under `dir` with `points` lexical vectors, `batch` points per upsert. */
export async function buildStore(dir: string, points: number, batch = 1_000): Promise<BuildResult> {
  const embedder = new LexicalEmbedder();
  const store = new LocalVectorStore(dir);
  let generateMs = 0;
  let embedMs = 0;
  let upsertMs = 0;
  let chars = 0;
  const t0 = now();
  try {
    await store.ensureCollection(embedder.dimensions);
    for (let start = 0; start < points; start += batch) {
      const ta = now();
      const texts = Array.from({ length: Math.min(batch, points - start) }, (_, j) => chunkText(start + j));
      const tb = now();
      const vectors = await embedder.embed(texts);
      const tc = now();
      const group: VectorPoint[] = texts.map((text, j) => {
        const i = start + j;
        const bookId = `bench-${Math.floor(i / CHUNKS_PER_BOOK)}`;
        const chunkId = `c${String(i % CHUNKS_PER_BOOK).padStart(6, "0")}`;
        chars += text.length;
        return { id: pointId(bookId, chunkId), vector: vectors[j]!, payload: { bookId, chunkId, page: Math.floor((i % CHUNKS_PER_BOOK) / 1.8) + 1, text, title: `Synthetic book ${bookId}` } };
      });
      const td = now();
      await store.upsert(group);
      generateMs += tb - ta + (td - tc);
      embedMs += tc - tb;
      upsertMs += now() - td;
    }
    const count = await store.count();
    if (count !== points) throw new Error(`store holds ${count} points, expected ${points}`);
  } finally {
    await store.close();
  }
  const totalMs = now() - t0;
  let logBytes = 0;
  const collection = join(dir, `dim-${embedder.dimensions}`);
  for (const f of await readdir(collection)) logBytes += (await stat(join(collection, f))).size;
  return {
    points,
    dimensions: embedder.dimensions,
    batch,
    generateMs: Math.round(generateMs),
    embedMs: Math.round(embedMs),
    embedPerSec: Math.round((points / embedMs) * 1000),
    upsertMs: Math.round(upsertMs),
    upsertPerSec: Math.round((points / upsertMs) * 1000),
    totalMs: Math.round(totalMs),
    logMiB: round1(logBytes / 2 ** 20),
    meanTextChars: Math.round(chars / points),
  };
}

export interface SearchResult {
  points: number;
  k: number;
  queries: number;
  warmup: number;
  /** new LocalVectorStore(dir) → first count() returned: opening and replaying the log. */
  openMs: number;
  rss: { startMiB: number | null; afterOpenMiB: number | null; afterQueriesMiB: number | null; peakMiB: number | null };
  heapUsedMiB: number;
  arrayBuffersMiB: number;
  /** store.search(vector, k) alone; the query was embedded beforehand. */
  latencyMs: LatencySummary;
  /** Embedding one query text (LexicalEmbedder.embedOne), for scale. */
  embedQueryMs: LatencySummary;
  /** store.search with a bookId filter (one book of 500 chunks). */
  filteredLatencyMs: LatencySummary;
  medianTopScore: number;
}

/** Opens the store in a fresh process (compiled or tsx, like this file) and times the queries there. */
export async function searchInFreshProcess(dir: string, queries: number, k: number): Promise<SearchResult> {
  const child = spawnSibling("pipeline", ["search-child", dir, String(queries), String(k)]);
  const r = await firstJsonLine<SearchResult & { error?: string }>(child, "search process");
  await new Promise((res) => (child.exitCode !== null ? res(null) : child.once("exit", res)));
  if (r.error) throw new Error(`search process: ${r.error}`);
  return r;
}

const WARMUP_QUERIES = 20;

async function searchChild(dir: string, queries: number, k: number): Promise<SearchResult> {
  const self = process.pid;
  const startRss = procKiB(self, "VmRSS");
  const embedder = new LexicalEmbedder();
  const texts = Array.from({ length: WARMUP_QUERIES + queries }, (_, i) => queryText(i));
  const embedTimes: number[] = [];
  const vectors = texts.map((t) => {
    const t0 = now();
    const v = embedder.embedOne(t);
    embedTimes.push(now() - t0);
    return v;
  });

  const t0 = now();
  const store = new LocalVectorStore(dir);
  const points = await store.count();
  const openMs = now() - t0;
  const afterOpen = procKiB(self, "VmRSS");

  try {
    for (let i = 0; i < WARMUP_QUERIES; i++) await store.search(vectors[i]!, k);
    const samples: number[] = [];
    const topScores: number[] = [];
    for (let i = 0; i < queries; i++) {
      const t = now();
      const hits = await store.search(vectors[WARMUP_QUERIES + i]!, k);
      samples.push(now() - t);
      if (hits.length !== Math.min(k, points)) throw new Error(`query ${i}: ${hits.length} hits, expected ${k}`);
      topScores.push(hits[0]!.score);
    }
    const filtered: number[] = [];
    for (let i = 0; i < queries; i++) {
      const bookId = `bench-${i % Math.max(1, Math.floor(points / CHUNKS_PER_BOOK))}`;
      const t = now();
      await store.search(vectors[WARMUP_QUERIES + i]!, k, { bookId });
      filtered.push(now() - t);
    }
    const mem = process.memoryUsage();
    return {
      points,
      k,
      queries,
      warmup: WARMUP_QUERIES,
      openMs: Math.round(openMs),
      rss: { startMiB: mib(startRss), afterOpenMiB: mib(afterOpen), afterQueriesMiB: mib(procKiB(self, "VmRSS")), peakMiB: mib(procKiB(self, "VmHWM")) },
      heapUsedMiB: round1(mem.heapUsed / 2 ** 20),
      arrayBuffersMiB: round1(mem.arrayBuffers / 2 ** 20),
      latencyMs: latencySummary(samples),
      embedQueryMs: latencySummary(embedTimes.slice(WARMUP_QUERIES)),
      filteredLatencyMs: latencySummary(filtered),
      medianTopScore: round3(median(topScores)),
    };
  } finally {
    await store.close();
  }
}

if (process.argv[2] === "search-child" && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [dir, queries, k] = process.argv.slice(3);
  try {
    const r = await searchChild(dir!, Number(queries), Number(k));
    process.stdout.write(JSON.stringify(r) + "\n");
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: (err as Error).stack ?? String(err) }) + "\n");
    process.exitCode = 1;
  }
}
