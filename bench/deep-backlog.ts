// Issue #9's scenario: how the API's reads and creates cost as the backlog grows. A nats-server (own
// port, own store) and the API alone (api/main in its own process, no workers) are started; then
//   1. optionally F finished tasks: created through the kernel and run by worker processes until
//      they ended (most succeed, --failed-share fail and are dead-lettered); the workers then stop;
//   2. create throughput over HTTP with nothing queued;
//   3. for each depth of --depths: the queue is filled to it from this process through the kernel's
//      TaskQueue.create, ~1,000 in flight (not HTTP one by one), then, each figure over --requests
//      sequential requests after a warm-up: GET /api/tasks/queue, /metrics, the status of random
//      queued tasks, the first page of /api/tasks unfiltered and by status and type; create
//      throughput over HTTP at that depth; the API's and nats-server's memory.
// Tasks are spread over every priority and two types whose admit checks need no book
// (process_book, sync_sources with ids nothing knows, so nothing would run them anyway).
//
//   npm run bench:deep -- --depths 100000,1000000 [--finished 100000] [--requests 200] [--budget-s 0]
//
// --figures picks which reads are measured (default: all, in the order above).
// --budget-s caps the time each figure may take (it then reports how many requests it measured);
// every figure (and create load) first waits, up to --idle-wait-s, until the API and nats-server are
// idle, so the work of a request abandoned at --timeout-s is not charged to the next figure.
//
// Uses only what the kernel has offered from the start (TaskQueue.create, HTTP reads), so the same
// file measures the code before and after issue #9. Prints JSON on stdout (and to --out).
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { cpus, freemem, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { loadKernelConfig } from "../kernel/config.js";
import { connectJetq } from "../kernel/connection.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { documentTaskTypes } from "../library/task-types.js";
import { startNatsServer } from "../kit/nats-server.js";
import { createLoad, HttpProbe, measureFigure, okOnly, type Figure, type FigureOptions, type HttpAnswer } from "./http-probe.js";
import { memoryMiB, startApi, startWorker, type JetqProcess } from "./jetq-processes.js";
import { childPid, cpuMsOf, load, natsServerVersion, now, pipelined, rate, sleep } from "./lib.js";

const { values: args } = parseArgs({
  options: {
    depths: { type: "string", default: "100000" },
    depth: { type: "string" }, // one depth: the same as --depths N
    finished: { type: "string", default: "100000" },
    "failed-share": { type: "string", default: "0.2" },
    workers: { type: "string", default: "2" },
    "worker-concurrency": { type: "string", default: "256" },
    "fill-window": { type: "string", default: "1000" },
    requests: { type: "string", default: "200" },
    warmup: { type: "string", default: "10" },
    "timeout-s": { type: "string", default: "30" },
    "budget-s": { type: "string", default: "0" },
    "idle-wait-s": { type: "string", default: "600" },
    figures: { type: "string", default: "status,queue,metrics,list,listQueued,listType,listSucceeded,listFailed" },
    creates: { type: "string", default: "5000" },
    "create-concurrency": { type: "string", default: "32" },
    out: { type: "string", default: "bench/results/deep-backlog.json" },
  },
});
const DEPTHS = (args.depth ?? args.depths!).split(",").map((s) => Number(s.replace(/_/g, "")));
const FINISHED = Number(args.finished);
const FAILED_SHARE = Number(args["failed-share"]);
const FIGURE: FigureOptions = { requests: Number(args.requests), warmup: Number(args.warmup), timeoutMs: Number(args["timeout-s"]) * 1000, budgetMs: Number(args["budget-s"]) * 1000 };
const CREATES = Number(args.creates);
const CREATE_CONCURRENCY = Number(args["create-concurrency"]);
const FILL_WINDOW = Number(args["fill-window"]);
for (const [name, v] of Object.entries({ depths: Math.min(...DEPTHS), finished: FINISHED, requests: FIGURE.requests, creates: CREATES })) {
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a whole number ≥ 0`);
}

const log = (msg: string) => process.stderr.write(`[deep] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => process.exit(130));

const PRIORITIES = ["high", "normal", "low"] as const;
/** A queued task's body: every priority, two types, ids nothing knows (admitted, never run here). */
const queuedBody = (i: number) => ({
  type: i % 2 === 0 ? "process_book" : "sync_sources",
  payload: i % 2 === 0 ? { bookId: randomUUID() } : { sourceId: randomUUID() },
  priority: PRIORITIES[i % 3],
});
/** A task a worker ends: sync_sources of every source (none: succeeds), or of an unknown one (fails at once). */
const finishedBody = (i: number) => ({ type: "sync_sources", payload: i < FINISHED * FAILED_SHARE ? { sourceId: randomUUID() } : {}, priority: PRIORITIES[i % 3] });

const machine = {
  cpuModel: cpus()[0]?.model ?? "unknown",
  cpuCount: cpus().length,
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
  node: process.version,
  natsServer: natsServerVersion(),
  date: new Date().toISOString(),
};
log(`machine ${JSON.stringify(machine)}`);

const nats = await startNatsServer();
const natsPid = childPid("nats-server");
const dataDir = mkdtempSync(join(tmpdir(), "jetq-deep-"));
const kernel = loadKernelConfig({ NATS_URL: nats.url, LOG_LEVEL: "error" });
const conn = await connectJetq(nats.url, kernel.topology, { name: "bench-deep-backlog" });
// A patient bulk loader: on a busy 2-core machine a confirmation can take longer than the 3 s an
// HTTP caller is given (a variable, not a literal: a kernel without these options ignores them).
const loaderOptions = { defaultTimeoutSeconds: kernel.defaultTimeoutSeconds, publishDeadlineMs: 60_000, publishAttemptMs: 10_000 };
const queue = taskQueueFor(conn, documentTaskTypes(), loaderOptions);
let api = await startApi(nats.url, dataDir);
const apiExits: string[] = [];
const watchApi = () => api.child.once("exit", () => (apiExits.push(`${new Date().toISOString()} ${api.exited()}: ${api.stderrTail().slice(-500)}`), log(`the API exited (${api.exited()})`)));
watchApi();
let probe = new HttpProbe(api.baseUrl);
const results: Record<string, unknown> = { machine, options: { depths: DEPTHS, finished: FINISHED, failedShare: FAILED_SHARE, figure: FIGURE, creates: CREATES, createConcurrency: CREATE_CONCURRENCY, fillWindow: FILL_WINDOW } };
const memory = () => ({ apiMiB: memoryMiB(api.pid), natsMiB: memoryMiB(natsPid) });

const queueSnapshot = async () => (await probe.get("/api/tasks/queue", 120_000)).body as { depth: number; inFlight: number; deadLettered?: number };

/** Creates F tasks and runs them to their end with worker processes, which then stop. */
async function finishTasks() {
  const t0 = now();
  const workers: JetqProcess[] = Array.from({ length: Number(args.workers) }, () => startWorker(nats.url, dataDir, Number(args["worker-concurrency"])));
  const ids: string[] = [];
  let failed = 0; // tasks created that will fail, so must reach the dead-letter queue
  let unconfirmed = 0;
  await pipelined(FINISHED, FILL_WINDOW, async (i) => {
    const body = finishedBody(i);
    const record = await queue.create(body).then((r) => r.record, () => (unconfirmed++, null));
    if (!record) return;
    if (body.payload.sourceId) failed++;
    if (i % 1000 === 0) ids.push(record.id);
  });
  const created = now();
  let last: Awaited<ReturnType<typeof queueSnapshot>> = { depth: -1, inFlight: -1 };
  let lastLog = 0;
  for (;;) {
    for (const w of workers) if (w.exited()) throw new Error(`a worker exited (${w.exited()}):\n${w.stderrTail()}`);
    last = await queueSnapshot();
    // Ended: nothing waits or runs, and every failure has reached the dead-letter queue.
    if (last.depth === 0 && last.inFlight === 0 && (last.deadLettered === undefined || last.deadLettered >= failed)) break;
    if (now() - lastLog > 10_000) (log(`finishing: depth ${last.depth}, in flight ${last.inFlight}, dead-lettered ${last.deadLettered}`), (lastLog = now()));
    await sleep(500);
  }
  const ended = now();
  await Promise.all(workers.map((w) => w.stop()));
  const statuses = await Promise.all(ids.map(async (id) => (await probe.get(`/api/tasks/${id}/status`)).body.status as string));
  const counts = statuses.reduce<Record<string, number>>((c, s) => ((c[s] = (c[s] ?? 0) + 1), c), {});
  const queueAfter = { depth: last.depth, inFlight: last.inFlight, deadLettered: last.deadLettered };
  return { tasks: FINISHED, unconfirmed, failedExpected: failed, createMs: Math.round(created - t0), createRatePerS: rate(FINISHED, created - t0), untilEndedMs: Math.round(ended - t0), sampleStatuses: counts, queueAfter };
}

/** Fills the queue from `from` to `to` tasks through the kernel; keeps a sample of queued ids. */
async function fill(from: number, to: number, sample: string[]) {
  const t0 = now();
  let done = 0;
  let lastLog = now();
  let unconfirmed = 0;
  let firstError: string | undefined;
  await pipelined(to - from, FILL_WINDOW, async (i) => {
    // Not retried (that could queue it twice): counted, and the depth read back below.
    const record = await queue.create(queuedBody(from + i)).then(
      (r) => r.record,
      (err) => (unconfirmed++, (firstError ??= String(err)), null),
    );
    if (!record) return;
    // Reservoir sampling: every queued task equally likely to be looked up.
    const seen = from + ++done;
    if (sample.length < 10_000) sample.push(record.id);
    else if (Math.random() < 10_000 / seen) sample[Math.floor(Math.random() * 10_000)] = record.id;
    if (now() - lastLog > 15_000) {
      lastLog = now();
      log(`filling: ${from + done} queued, ${rate(done, now() - t0)}/s, ${JSON.stringify(memory())}`);
    }
  });
  const ms = now() - t0;
  return { from, to, ms: Math.round(ms), ratePerS: rate(to - from, ms), unconfirmed, ...(firstError ? { firstError } : {}) };
}

/** A new API when the last one died (while the queue filled, say). */
async function ensureApi() {
  if (!api.exited()) return;
  probe.close();
  api = await startApi(nats.url, dataDir);
  watchApi();
  probe = new HttpProbe(api.baseUrl);
}

/** Replaces the API when it died (e.g. out of memory on a read), so the next figures still run. */
async function apiAliveOrRestarted(figure: Figure): Promise<Figure> {
  if (!api.exited()) return figure;
  const crash = { ...figure, error: `${figure.error ?? ""} — the API exited (${api.exited()}): ${api.stderrTail().slice(-500)}` };
  log(`the API exited (${api.exited()}); starting a new one`);
  probe.close();
  api = await startApi(nats.url, dataDir);
  watchApi();
  probe = new HttpProbe(api.baseUrl);
  return crash;
}

/**
 * Waits until the API and nats-server each use under 5 % of a core over a second: a request
 * abandoned at its time limit keeps them busy, and would otherwise be charged to the next figure.
 */
async function apiIdle(maxMs = Number(args["idle-wait-s"]) * 1000): Promise<{ waitedMs: number; idle: boolean }> {
  const t0 = now();
  const cpu = () => [cpuMsOf(api.pid), cpuMsOf(natsPid)];
  let before = cpu();
  while (now() - t0 < maxMs) {
    await sleep(1_000);
    const after = cpu();
    if (before.includes(null) || after.includes(null)) return { waitedMs: Math.round(now() - t0), idle: false };
    if (after.every((ms, i) => ms! - before[i]! < 50)) return { waitedMs: Math.round(now() - t0), idle: true };
    before = after;
  }
  return { waitedMs: Math.round(now() - t0), idle: false };
}

const pageCheck = (a: HttpAnswer) => {
  okOnly(a);
  return { items: a.body.items.length, total: a.body.total, nextCursor: a.body.nextCursor !== undefined && a.body.nextCursor !== null };
};

async function measureReads(sample: string[]) {
  const pick = () => sample[Math.floor(Math.random() * sample.length)]!;
  const figures: Array<[string, () => string, (a: HttpAnswer) => unknown]> = [
    ["status", () => `/api/tasks/${pick()}/status`, (a) => {
      okOnly(a);
      if (a.body.status !== "queued") throw new Error(`a queued task shows ${a.body.status}`);
    }],
    ["queue", () => "/api/tasks/queue", (a) => (okOnly(a), { depth: a.body.depth })],
    ["metrics", () => "/metrics", okOnly],
    ["list", () => "/api/tasks?limit=50", pageCheck],
    ["listQueued", () => "/api/tasks?status=queued&limit=50", pageCheck],
    ["listType", () => "/api/tasks?type=process_book&limit=50", pageCheck],
    ["listSucceeded", () => "/api/tasks?status=succeeded&limit=50", pageCheck],
    ["listFailed", () => "/api/tasks?status=failed&limit=50", pageCheck],
  ];
  const out: Record<string, Figure & { loadavgBefore: number[]; apiIdleBefore: { waitedMs: number; idle: boolean } }> = {};
  const chosen = new Set(args.figures!.split(",").map((f) => f.trim()));
  for (const [name, path, check] of figures.filter(([name]) => chosen.has(name))) {
    const apiIdleBefore = await apiIdle();
    const loadavgBefore = load();
    const f = await apiAliveOrRestarted(await measureFigure(probe, path, FIGURE, check));
    out[name] = { ...f, loadavgBefore, apiIdleBefore };
    if (apiIdleBefore.waitedMs > 1_500) log(`waited ${apiIdleBefore.waitedMs} ms for the API to be idle${apiIdleBefore.idle ? "" : " (it was not)"}`);
    log(`${name}: ${f.latencyMs ? `p50 ${f.latencyMs.p50} ms, p99 ${f.latencyMs.p99} ms, max ${f.latencyMs.max} ms` : "no sample"} (n ${f.n}${f.timedOut ? ", TIMED OUT" : ""}${f.budgetExhausted ? ", budget used up" : ""}${f.error ? `, ${f.error.slice(0, 200)}` : ""}) ${JSON.stringify(f.last ?? "")}`);
  }
  return out;
}

/** Create throughput over HTTP, after a warm-up (a tenth as many, JIT and sockets); all stay queued. */
const CREATE_WARMUP = Math.ceil(CREATES / 10);
async function measureCreates(offset: number) {
  const warm = await createLoad(probe, CREATE_WARMUP, CREATE_CONCURRENCY, (i) => queuedBody(offset + i));
  const apiIdleBefore = await apiIdle();
  const loadavgBefore = load();
  const r = await createLoad(probe, CREATES, CREATE_CONCURRENCY, (i) => queuedBody(offset + CREATE_WARMUP + i));
  log(`create over HTTP: ${r.ratePerS}/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms (${r.failed} failed${r.firstError ? `: ${r.firstError}` : ""})`);
  const { ids, ...summary } = r;
  return { result: { ...summary, warmup: CREATE_WARMUP, loadavgBefore, apiIdleBefore }, ids: [...warm.ids, ...ids], created: warm.ok + r.ok + warm.failed + r.failed };
}

try {
  if (FINISHED > 0) {
    log(`finishing ${FINISHED} tasks with ${args.workers} worker processes (loadavg ${load().join(" ")})`);
    results.finished = await finishTasks();
    log(`finished: ${JSON.stringify(results.finished)}`);
  }
  const sample: string[] = [];
  // Create throughput with nothing queued; these tasks stay queued and count towards the first depth.
  const atZero = await measureCreates(0);
  results.createAtZero = atZero.result;
  let queued = atZero.created; // failed creates may have landed too; the fill counts from here
  for (const id of atZero.ids) if (sample.length < 10_000) sample.push(id);
  const byDepth: Record<string, unknown> = {};
  results.byDepth = byDepth;
  for (const depth of DEPTHS) {
    if (depth < queued) throw new Error(`depth ${depth} is below what is already queued (${queued})`);
    const loadavgBeforeFill = load();
    const filled = await fill(queued, depth, sample);
    queued = depth;
    log(`filled to ${depth} in ${filled.ms} ms (${filled.ratePerS}/s); ${JSON.stringify(memory())}`);
    await ensureApi();
    const snapshot = await queueSnapshot().catch((err) => ({ error: String(err) }));
    const memoryAfterFill = memory();
    const reads = await measureReads(sample);
    const memoryAfterReads = memory();
    const creates = await measureCreates(queued);
    queued += creates.created;
    results.apiExits = apiExits;
    byDepth[depth] = { fill: { ...filled, loadavgBefore: loadavgBeforeFill }, queueAfterFill: snapshot, memoryAfterFill, reads, memoryAfterReads, create: creates.result, memoryAfterCreates: memory() };
    writeResults(false);
  }
  writeResults(true);
} finally {
  probe.close();
  await api.stop();
  await conn.close();
  await nats.stop();
}

/** Written after every depth, so a run stopped later keeps what it measured. */
function writeResults(print: boolean) {
  mkdirSync(dirname(args.out!), { recursive: true });
  writeFileSync(args.out!, JSON.stringify(results, null, 2) + "\n");
  if (print) console.log(JSON.stringify(results, null, 2));
}
