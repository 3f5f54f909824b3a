// The benchmark driver: starts its own servers, runs the scenarios, prints a table and writes
// bench/results/latest.json. `npm run bench` (scripts/bench.mjs) installs the tools first.
//
//   node --import tsx bench/run.ts [--tasks 50000] [--only a,b,c] [--repeat 3] [--samples 200] [--seconds 10]
//
//   a  throughput of N no-op tasks: jetq vs BullMQ vs raw JetStream (median of --repeat rounds,
//      interleaved), plus publish-only and drain-only phases
//   b  single-task round trip p50/p99: jetq vs BullMQ
//   c  POST /api/tasks/create under HTTP load: fixed 1,000 req/s and maximum
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, platform, release, totalmem, type } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { startNatsServer } from "../kit/nats-server.js";
import { bullEndToEnd, bullPhases } from "./bullmq-throughput.js";
import { httpCreate } from "./http-create.js";
import { jetqEndToEnd, jetqPhases, type ThroughputResult } from "./jetq-throughput.js";
import { childPid, natsServerVersion, OtherCpuMonitor, startRedis, REPO_ROOT, ScenarioRunner, type LatencySummary } from "./lib.js";
import { rawJetStreamEndToEnd, rawJetStreamRoundTrip } from "./raw-jetstream.js";
import { bullRoundTrip, jetqRoundTrip } from "./roundtrip.js";

const { values: args } = parseArgs({
  options: {
    tasks: { type: "string", default: "50000" },
    only: { type: "string", default: "a,b,c" },
    repeat: { type: "string", default: "3" },
    samples: { type: "string", default: "200" },
    warmup: { type: "string", default: "1000" },
    seconds: { type: "string", default: "10" },
  },
});
const TASKS = Number(args.tasks);
const ONLY = new Set(args.only!.split(",").map((s) => s.trim()));
const REPEAT = Math.max(1, Number(args.repeat));
const SAMPLES = Number(args.samples);
// Round trips run before each measured set: enough for V8 to optimise both clients' hot paths.
const WARMUP = Number(args.warmup);
const SECONDS = Number(args.seconds);

// Settings, each picked as the fastest of a few tried on this machine (see bench/README.md).
const JETQ = { workers: 1, concurrency: 1024, window: 1000 };
const BULL = { concurrency: 100 };
const RAW = { window: 1000, maxMessages: 1000 };
const HTTP = { rate: 1000, connections: 50 };

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** Runs one measurement while watching other processes' CPU use (mean, % of one core). */
async function watched<T extends object>(fn: () => Promise<T>): Promise<T & { otherCpuPct: number | null }> {
  const monitor = new OtherCpuMonitor().start(500);
  const r = await fn();
  return { ...r, otherCpuPct: monitor.stop().meanPct };
}
const BUSY = 10; // % of one core: above this, a measurement is marked as shared with other work

/** A fresh nats-server (its own temp store) for one measurement, so no run sees another's data. */
async function withNats<T>(fn: (url: string, pid: number | undefined) => Promise<T>): Promise<T> {
  const nats = await startNatsServer();
  try {
    return await fn(nats.url, childPid("nats-server"));
  } finally {
    await nats.stop();
  }
}

/** Which code was measured: the commit, and whether kernel/library/worker/api had uncommitted changes. */
function codeVersion(): { commit: string; dirty: boolean | null } {
  const root = REPO_ROOT;
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "kernel", "library", "worker", "api"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim() !== "";
    return { commit, dirty };
  } catch {
    return { commit: process.env.JETQ_BENCH_COMMIT ?? "unknown", dirty: null }; // not a git checkout (an exported tree)
  }
}

// Ctrl-C or SIGTERM: exit through process.exit so every 'exit' hook stops its child process
// (redis-server, the API); kit/nats-server.ts stops its nats-servers on the signal itself.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => process.exit(130));

const redis = await startRedis();
const machine = {
  os: `${type()} ${release()} (${platform()})`,
  cpuModel: cpus()[0]?.model ?? "unknown",
  cpuCount: cpus().length,
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  node: process.version,
  natsServer: natsServerVersion(),
  redis: redis.version,
  date: new Date().toISOString(),
  code: codeVersion(),
};
log(`machine: ${JSON.stringify(machine)}`);

const results: Record<string, unknown> = {};
// The 1-minute load average includes this benchmark's own earlier work; otherCpuPct (machine CPU
// busy over 2 s while the benchmark idles, % of one core) is the check that nobody else was running.
const runner = new ScenarioRunner(log);
const loadavg = runner.loadavg;
const scenario = <T>(key: string, fn: () => Promise<T>) => runner.run(key, fn);

try {
  if (ONLY.has("a")) {
    results.a = await scenario("a", async () => {
      type Round = ThroughputResult & { otherCpuPct: number | null };
      const rounds = { jetq: [] as Round[], bullmq: [] as Round[], raw: [] as Round[] };
      for (let i = 1; i <= REPEAT; i++) {
        log(`a: round ${i}/${REPEAT}`);
        rounds.jetq.push(await watched(() => withNats((url) => jetqEndToEnd(url, { tasks: TASKS, ...JETQ }))));
        log(`   jetq ${rounds.jetq.at(-1)!.tasksPerSec}/s`);
        rounds.bullmq.push(await watched(() => bullEndToEnd(redis.port, { tasks: TASKS, ...BULL, removeOnComplete: true })));
        log(`   bullmq ${rounds.bullmq.at(-1)!.tasksPerSec}/s`);
        rounds.raw.push(await watched(() => withNats((url) => rawJetStreamEndToEnd(url, { tasks: TASKS, ...RAW }))));
        log(`   raw jetstream ${rounds.raw.at(-1)!.tasksPerSec}/s`);
      }
      const bullKeep = await watched(() => bullEndToEnd(redis.port, { tasks: TASKS, ...BULL, removeOnComplete: false }));
      log(`   bullmq (completed jobs kept) ${bullKeep.tasksPerSec}/s`);
      const jetqSplit = await watched(() => withNats((url) => jetqPhases(url, { tasks: TASKS, ...JETQ })));
      const bullSplit = await watched(() => bullPhases(redis.port, { tasks: TASKS, ...BULL, removeOnComplete: true }));
      log(`   phases: jetq ${jetqSplit.publish.tasksPerSec}/s + ${jetqSplit.drain.tasksPerSec}/s, bullmq ${bullSplit.publish.tasksPerSec}/s + ${bullSplit.drain.tasksPerSec}/s`);
      const summary = (rs: Round[]) => ({ medianTasksPerSec: median(rs.map((r) => r.tasksPerSec)), rounds: rs });
      return {
        tasks: TASKS,
        settings: { jetq: JETQ, bullmq: { ...BULL, removeOnComplete: true }, raw: RAW },
        endToEnd: { jetq: summary(rounds.jetq), bullmq: summary(rounds.bullmq), rawJetStream: summary(rounds.raw), bullmqKeepCompleted: bullKeep },
        phases: { jetq: jetqSplit, bullmq: bullSplit },
      };
    });
  }

  if (ONLY.has("b")) {
    results.b = await scenario("b", async () => {
      const o = { samples: SAMPLES, warmup: WARMUP };
      // Interleaved rounds, the order swapped every round, so drift in the machine's state (and
      // going first) does not favour either system; the median round's figures are reported.
      const rounds = { jetq: [] as Watched<RoundTrip>[], bullmq: [] as Watched<LatencySummary>[], raw: [] as Watched<LatencySummary>[] };
      for (let i = 1; i <= REPEAT; i++) {
        const jetq = async () => void rounds.jetq.push(await watched(() => withNats((url) => jetqRoundTrip(url, { ...o, concurrency: JETQ.concurrency }))));
        const bullmq = async () => void rounds.bullmq.push(await watched(() => bullRoundTrip(redis.port, { ...o, concurrency: BULL.concurrency })));
        for (const run of i % 2 === 1 ? [jetq, bullmq] : [bullmq, jetq]) await run();
        rounds.raw.push(await watched(() => withNats((url) => rawJetStreamRoundTrip(url, o))));
        log(`b: round ${i}/${REPEAT}: p50 jetq ${rounds.jetq.at(-1)!.sharedWatch.p50} ms, BullMQ ${rounds.bullmq.at(-1)!.p50} ms, raw JetStream ${rounds.raw.at(-1)!.p50} ms`);
      }
      const summary = (rs: LatencySummary[]) => ({ p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)) });
      return {
        samples: SAMPLES,
        warmup: WARMUP,
        median: {
          jetq: summary(rounds.jetq.map((r) => r.sharedWatch)),
          jetqPerTaskWatch: summary(rounds.jetq.map((r) => r.perTaskWatch)),
          bullmq: summary(rounds.bullmq),
          rawJetStream: summary(rounds.raw),
        },
        rounds,
      };
    });
  }

  if (ONLY.has("c")) {
    results.c = await scenario("c", () => withNats((url, natsPid) => httpCreate(url, { ...HTTP, seconds: SECONDS, rounds: REPEAT, natsPid })));
  }
} finally {
  await redis.stop();
}

// --- report --------------------------------------------------------------------

type Watched<T> = T & { otherCpuPct: number | null };
type A = {
  endToEnd: Record<string, { medianTasksPerSec: number; rounds: Watched<ThroughputResult>[] }> & { bullmqKeepCompleted: Watched<ThroughputResult> };
  phases: Record<string, Watched<{ publish: ThroughputResult; drain: ThroughputResult }>>;
};
const mark = (o: { otherCpuPct: number | null }) => ((o.otherCpuPct ?? 0) > BUSY ? "*" : "");
type RoundTrip = Awaited<ReturnType<typeof jetqRoundTrip>>;
type B = {
  median: Record<"jetq" | "jetqPerTaskWatch" | "bullmq" | "rawJetStream", { p50: number; p99: number }>;
  rounds: { jetq: Watched<RoundTrip>[]; bullmq: Watched<LatencySummary>[]; raw: Watched<LatencySummary>[] };
};
type C = Awaited<ReturnType<typeof httpCreate>>;

const targets: Record<string, { target: string; measured: string; met: boolean }> = {};
const rows: string[] = [];
const row = (...cells: (string | number)[]) => rows.push(cells.map(String).join(" | "));

if (results.a) {
  const a = results.a as A;
  const e = a.endToEnd;
  const rounds = (k: string) => e[k]!.rounds.map((r) => `${r.tasksPerSec}${mark(r)}`).join(", ");
  row(`(a) end to end, ${TASKS} tasks, tasks/s (median of ${REPEAT})`, `jetq ${e.jetq!.medianTasksPerSec}`, `BullMQ ${e.bullmq!.medianTasksPerSec}`, `raw JetStream ${e.rawJetStream!.medianTasksPerSec}`);
  row("    rounds", `jetq ${rounds("jetq")}`, `BullMQ ${rounds("bullmq")}`, `raw ${rounds("rawJetStream")}`);
  row("    BullMQ keeping completed jobs", `${e.bullmqKeepCompleted.tasksPerSec}${mark(e.bullmqKeepCompleted)}`);
  row("    publish only, tasks/s", `jetq ${a.phases.jetq!.publish.tasksPerSec}${mark(a.phases.jetq!)}`, `BullMQ ${a.phases.bullmq!.publish.tasksPerSec}${mark(a.phases.bullmq!)}`);
  row("    drain only, tasks/s", `jetq ${a.phases.jetq!.drain.tasksPerSec}${mark(a.phases.jetq!)}`, `BullMQ ${a.phases.bullmq!.drain.tasksPerSec}${mark(a.phases.bullmq!)}`);
  const all = [...Object.values(e).flatMap((v) => ("rounds" in v ? v.rounds : [v])), ...Object.values(a.phases)];
  if (all.some((m) => mark(m))) row(`    * other processes used more than ${BUSY}% of a core during that measurement`);
  targets.a = { target: "jetq tasks/s >= BullMQ tasks/s", measured: `${e.jetq!.medianTasksPerSec} vs ${e.bullmq!.medianTasksPerSec}`, met: e.jetq!.medianTasksPerSec >= e.bullmq!.medianTasksPerSec };
}
if (results.b) {
  const b = results.b as B;
  const m = b.median;
  row(`(b) round trip, ms p50 / p99 (${SAMPLES} sequential, median of ${REPEAT} rounds)`, `jetq ${m.jetq.p50} / ${m.jetq.p99}`, `BullMQ ${m.bullmq.p50} / ${m.bullmq.p99}`, `jetq per-task watch ${m.jetqPerTaskWatch.p50} / ${m.jetqPerTaskWatch.p99}`, `raw JetStream ${m.rawJetStream.p50} / ${m.rawJetStream.p99}`);
  row("    rounds, p50", `jetq ${b.rounds.jetq.map((r) => `${r.sharedWatch.p50}${mark(r)}`).join(", ")}`, `BullMQ ${b.rounds.bullmq.map((r) => `${r.p50}${mark(r)}`).join(", ")}`, `raw ${b.rounds.raw.map((r) => `${r.p50}${mark(r)}`).join(", ")}`);
  targets.b = { target: "jetq p50 <= BullMQ p50", measured: `${m.jetq.p50} ms vs ${m.bullmq.p50} ms (median of ${REPEAT} rounds)`, met: m.jetq.p50 <= m.bullmq.p50 };
}
if (results.c) {
  const c = results.c as C;
  // The round with the median p99 stands for the run; every round is listed.
  const byP99 = [...c.paced].sort((x, y) => x.latencyMs.p99 - y.latencyMs.p99);
  const p = byP99[Math.floor((byP99.length - 1) / 2)]!;
  row(`(c) POST /api/tasks/create, paced ${p.targetRps} req/s, ${SECONDS} s (median-p99 round of ${c.paced.length})`, `achieved ${p.achievedRps} req/s`, `p50 ${p.latencyMs.p50} ms`, `p99 ${p.latencyMs.p99} ms`, `non-2xx ${p.non2xx}, errors ${p.errors}`, `CPU api ${p.cpuPct.api}% nats ${p.cpuPct.nats}% loadgen ${p.cpuPct.loadgen}%`);
  row("    paced rounds p50 / p99 / max ms", ...c.paced.map((r) => `${r.latencyMs.p50} / ${r.latencyMs.p99} / ${r.latencyMs.max}`));
  row(`    autocannon overallRate ${HTTP.rate}`, `${c.cannonAtRate.rps} req/s`, `p50 ${c.cannonAtRate.latencyMs.p50} ms`, `p99 ${c.cannonAtRate.latencyMs.p99} ms`, `non-2xx ${c.cannonAtRate.non2xx}, errors ${c.cannonAtRate.errors}`);
  row(`    autocannon max, ${HTTP.connections} connections`, `${c.cannonMax.rps} req/s`, `p50 ${c.cannonMax.latencyMs.p50} ms`, `p99 ${c.cannonMax.latencyMs.p99} ms`, `non-2xx ${c.cannonMax.non2xx}, errors ${c.cannonMax.errors}`);
  const met = p.latencyMs.p99 < 20 && p.achievedRps >= HTTP.rate * 0.98 && p.non2xx === 0 && p.errors === 0;
  const worst = byP99[byP99.length - 1]!.latencyMs.p99;
  targets.c = { target: `p99 < 20 ms at ${HTTP.rate} req/s`, measured: `p99 ${p.latencyMs.p99} ms at ${p.achievedRps} req/s (median round; worst round ${worst} ms), ${p.non2xx + p.errors} failed`, met };
}

console.log(`\njetq benchmark, ${machine.date}, code ${machine.code.commit}${machine.code.dirty ? " (uncommitted changes)" : ""}, ${machine.cpuCount} x ${machine.cpuModel}, node ${machine.node}, nats-server ${machine.natsServer}, redis ${machine.redis}`);
for (const r of rows) console.log(r);
console.log("");
for (const [k, t] of Object.entries(targets)) console.log(`target (${k}) ${t.target}: ${t.measured} -> ${t.met ? "MET" : "NOT MET"}`);
for (const [k, l] of Object.entries(loadavg)) {
  console.log(
    `loadavg (${k}): before ${l.before.join(" ")}, after ${l.after.join(" ")}; CPU used by other processes (% of one core): ${l.otherCpuPctBefore}% before, during mean ${l.otherCpuPctDuring.meanPct}% / max ${l.otherCpuPctDuring.maxPct}%, ${l.otherCpuPctAfter}% after`,
  );
}

const out = join(REPO_ROOT, "bench", "results", "latest.json");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ machine, args: { tasks: TASKS, only: [...ONLY], repeat: REPEAT, samples: SAMPLES, seconds: SECONDS }, loadavg, targets, results }, null, 2)}\n`);
log(`wrote ${out}`);
// Client libraries may leave timers behind (BullMQ, prom-client); the servers are stopped already.
process.exit(0);
