// The document pipeline benchmark driver: generates the book, starts its own nats-server, runs the
// measurements of bench/pipeline.ts, prints a table and writes bench/results/pipeline.json.
// `node scripts/bench-pipeline.mjs` installs nats-server, compiles and runs it.
//
//   node --import tsx bench/pipeline-run.ts [--pages 300] [--chunks 100000] [--queries 200] [--repeat 3] [--k 10] [--only book,embed,search]
//
//   book    process_book pages/s on the generated PDF in a worker process, to the end of its
//           chained generate_embeddings; peak RSS of that worker; the unchanged (no-op) re-run
//   embed   LexicalEmbedder chunks/s over the book's chunks
//   search  LocalVectorStore with --chunks points: search p50/p99, reopen time, RSS
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, homedir, platform, release, tmpdir, totalmem, type } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { startNatsServer } from "../kit/nats-server.js";
import { childPid, natsServerVersion, REPO_ROOT, ScenarioRunner } from "./lib.js";
import { buildStore, CHUNKING, EMBED_BATCH, embeddingBench, generateBook, processBookBench, searchInFreshProcess, type BookResult, type BuildResult, type EmbedResult, type SearchResult } from "./pipeline.js";


const { values: args } = parseArgs({
  options: {
    pages: { type: "string", default: "300" },
    chunks: { type: "string", default: "100000" },
    queries: { type: "string", default: "200" },
    repeat: { type: "string", default: "3" },
    k: { type: "string", default: "10" },
    only: { type: "string", default: "book,embed,search" },
  },
});
const PAGES = Number(args.pages);
const CHUNKS = Number(args.chunks);
const QUERIES = Number(args.queries);
const REPEAT = Math.max(1, Number(args.repeat));
const K = Number(args.k);
const ONLY = new Set(args.only!.split(",").map((s) => s.trim()));
const RERUNS = 3;

const log = (msg: string) => process.stderr.write(`[bench:pipeline] ${msg}\n`);

// natsServerVersion() reads NATS_SERVER_BIN (set by scripts/bench-pipeline.mjs); run directly, fall
// back to where scripts/tools.mjs installs it, which is also what kit/nats-server.ts starts.
const cachedNats = join(process.env.JETQ_CACHE_DIR || join(homedir(), ".cache", "jetq"), "bin", "nats-server");
if (!process.env.NATS_SERVER_BIN && existsSync(cachedNats)) process.env.NATS_SERVER_BIN = cachedNats;

/** Which code was measured: the commit, and whether kernel/library/worker/api had uncommitted changes. */
function codeVersion(): { commit: string; dirty: boolean | null } {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "kernel", "library", "worker", "api"], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "ignore"] }).toString().trim() !== "";
    return { commit, dirty };
  } catch {
    return { commit: process.env.JETQ_BENCH_COMMIT ?? "unknown", dirty: null };
  }
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => process.exit(130));

const machine = {
  os: `${type()} ${release()} (${platform()})`,
  cpuModel: cpus()[0]?.model ?? "unknown",
  cpuCount: cpus().length,
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  node: process.version,
  natsServer: natsServerVersion(),
  date: new Date().toISOString(),
  code: codeVersion(),
};
log(`machine: ${JSON.stringify(machine)}`);

// The 1-minute load average includes this benchmark's own earlier work; otherCpuPct (machine CPU
// busy over 2 s while the benchmark idles, % of one core) is the check that nobody else was running.
const runner = new ScenarioRunner(log);
const loadavg = runner.loadavg;
const scenario = <T>(key: string, fn: () => Promise<T>) => runner.run(key, fn);

const results: { book?: BookResult; embed?: EmbedResult; search?: { build: BuildResult; search: SearchResult } } = {};
const work = await mkdtemp(join(tmpdir(), "jetq-bench-pipeline-"));
try {
  log(`generating a ${PAGES}-page PDF`);
  const book = await generateBook(work, PAGES);
  log(`  ${book.bytes} bytes in ${book.generateMs} ms`);

  if (ONLY.has("book")) {
    results.book = await scenario("book", async () => {
      const nats = await startNatsServer();
      try {
        const r = await processBookBench({ natsUrl: nats.url, natsPid: childPid("nats-server"), book, rounds: REPEAT, reruns: RERUNS });
        for (const x of r.rounds) log(`  ${x.bookId}: process_book ${x.processMs} ms (${x.processPagesPerSec} pages/s), with embeddings ${x.endToEndMs} ms; worker RSS ${x.rss.beforeMiB} → peak ${x.rss.peakMiB} MiB`);
        return r;
      } finally {
        await nats.stop();
      }
    });
  }

  if (ONLY.has("embed")) {
    results.embed = await scenario("embed", () => embeddingBench(book, REPEAT));
    log(`  ${results.embed.medianChunksPerSec} chunks/s (${results.embed.rounds.map((r) => r.chunksPerSec).join(" · ")})`);
  }

  if (ONLY.has("search")) {
    results.search = await scenario("search", async () => {
      const dir = join(work, "vectors");
      log(`  embedding and storing ${CHUNKS} chunks`);
      const build = await buildStore(dir, CHUNKS);
      log(`  built in ${build.totalMs} ms (embedding ${build.embedMs} ms, upserts ${build.upsertMs} ms, log ${build.logMiB} MiB)`);
      const search = await searchInFreshProcess(dir, QUERIES, K);
      log(`  opened in ${search.openMs} ms; search p50 ${search.latencyMs.p50} ms, p99 ${search.latencyMs.p99} ms`);
      return { build, search };
    });
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

// --- the table ------------------------------------------------------------------------

const rows: string[] = [];
const n = (x: number | null | undefined, digits = 0) => (x == null || Number.isNaN(x) ? "–" : x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }));
// label, two right-aligned figures, then a free-form note (the rounds) left-aligned.
const row = (label: string, a = "", b = "", note = "") => rows.push(`${label.padEnd(62)}${a.padStart(18)}${b.padStart(16)}   ${note}`.trimEnd());
const busy = (k: string) => {
  const l = loadavg[k];
  return l && (l.otherCpuPctDuring.meanPct ?? 0) > 10 ? " *" : "";
};

if (results.book) {
  const b = results.book;
  const rs = b.rounds;
  const list = (f: (r: (typeof rs)[number]) => number | null) => rs.map((r) => n(f(r))).join(" · ");
  row(`process_book, ${b.book.pages}-page PDF (${n(b.book.bytes / 1024)} KiB), ${rs[0]?.chunks} chunks${busy("book")}`, "median", "pages/s", "rounds (ms)");
  row("  create → process_book succeeded", `${n(b.median.processMs)} ms`, n(b.median.processPagesPerSec, 1), list((r) => r.processMs));
  row("  create → chained generate_embeddings succeeded", `${n(b.median.endToEndMs)} ms`, n(b.median.endToEndPagesPerSec, 1), list((r) => r.endToEndMs));
  row("  process_book handler (startedAt → finishedAt)", `${n(median(rs.map((r) => r.processHandlerMs ?? NaN)))} ms`, "", list((r) => r.processHandlerMs));
  row("  generate_embeddings handler", `${n(median(rs.map((r) => r.embedHandlerMs ?? NaN)))} ms`, "", list((r) => r.embedHandlerMs));
  row("  same book again, unchanged (no-op path)", `${n(b.unchanged.medianMs)} ms`, "", b.unchanged.ms.map((x) => n(x)).join(" · "));
  row("  worker RSS, MiB: idle after start / peak", `${n(b.worker.idleRssMiB, 1)} / ${n(b.median.peakRssMiB, 1)}`, "", `peaks ${list((r) => r.rss.peakMiB)}`);
  row("  worker RSS before each round / kernel VmHWM", "", "", `${list((r) => r.rss.beforeMiB)} / ${list((r) => r.rss.hwmMiB)}`);
  row("  CPU, % of a core (worker / nats-server)", "", "", rs.map((r) => `${n(r.cpuPct.worker)}/${n(r.cpuPct.nats)}`).join(" · "));
}
if (results.embed) {
  const e = results.embed;
  row(`local embedding, ${e.embedder}, batches of ${e.batch}${busy("embed")}`, "median", "", "rounds");
  row(`  ${e.chunks} chunks of the book (mean ${e.meanChunkChars} chars)`, `${n(e.medianChunksPerSec)} chunks/s`, "", e.rounds.map((r) => n(r.chunksPerSec)).join(" · "));
  row(`  readDocument alone, in process (parse + chunk)`, `${n(e.read.ms)} ms`, `${n(e.read.pagesPerSec, 1)} pages/s`, `first ${n(e.read.coldMs)} ms`);
}
if (results.search) {
  const { build: bd, search: s } = results.search;
  row(`search, LocalVectorStore, ${n(s.points)} points × ${bd.dimensions} dims, k=${s.k}${busy("search")}`, "p50", "p99", "max");
  row(`  store.search, ${s.queries} queries, fresh process`, `${n(s.latencyMs.p50, 2)} ms`, `${n(s.latencyMs.p99, 2)} ms`, `${n(s.latencyMs.max, 2)} ms`);
  row(`  store.search with a bookId filter (500 points)`, `${n(s.filteredLatencyMs.p50, 2)} ms`, `${n(s.filteredLatencyMs.p99, 2)} ms`, `${n(s.filteredLatencyMs.max, 2)} ms`);
  row(`  embedding the query text`, `${n(s.embedQueryMs.p50, 3)} ms`, `${n(s.embedQueryMs.p99, 3)} ms`, "");
  row(`  reopen: new store → first count() (log ${n(bd.logMiB)} MiB)`, `${n(s.openMs)} ms`, "", "");
  const grew = s.rss.afterOpenMiB != null && s.rss.startMiB != null ? s.rss.afterOpenMiB - s.rss.startMiB : null;
  row(`  search process RSS, MiB: before open → after open (peak)`, `${n(s.rss.startMiB)} → ${n(s.rss.afterOpenMiB)}`, `(${n(s.rss.peakMiB)})`, `+${n(grew)} MiB`);
  row(`  build: generate ${n(bd.points)} texts (mean ${bd.meanTextChars} chars) and points`, `${n(bd.generateMs)} ms`, "", "");
  row(`  build: embed them, batches of ${bd.batch}`, `${n(bd.embedMs)} ms`, `${n(bd.embedPerSec)}/s`, "");
  row(`  build: upserts of ${bd.batch} (append + fsync)`, `${n(bd.upsertMs)} ms`, `${n(bd.upsertPerSec)}/s`, "");
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
}

console.log(
  `\njetq document pipeline benchmark, ${machine.date}, code ${machine.code.commit}${machine.code.dirty ? " (uncommitted changes)" : ""}, ${machine.cpuCount} x ${machine.cpuModel}, node ${machine.node}, nats-server ${machine.natsServer}`,
);
for (const r of rows) console.log(r);
console.log("");
for (const [k, l] of Object.entries(loadavg)) {
  console.log(
    `loadavg (${k}): before ${l.before.join(" ")}, after ${l.after.join(" ")}; CPU used by other processes (% of one core): ${l.otherCpuPctBefore}% before, during mean ${l.otherCpuPctDuring.meanPct}% / max ${l.otherCpuPctDuring.maxPct}%, ${l.otherCpuPctAfter}% after`,
  );
}

const out = join(REPO_ROOT, "bench", "results", "pipeline.json");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ machine, args: { pages: PAGES, chunks: CHUNKS, queries: QUERIES, repeat: REPEAT, k: K, only: [...ONLY], chunking: CHUNKING, embedBatch: EMBED_BATCH }, loadavg, results }, null, 2)}\n`,
);
log(`wrote ${out}`);
process.exit(0);
