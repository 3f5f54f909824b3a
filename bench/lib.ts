import { fileURLToPath } from "node:url";
// Small helpers shared by the benchmark scenarios: ports, a throw-away redis-server, pipelined
// loops, percentiles, and the jetq set-up every jetq scenario uses.
import { spawn, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { cpus, loadavg } from "node:os";
import { z } from "zod";
import { loadConfig, type JetqConfig } from "../kit/config.js";
import { TaskTypeRegistry } from "../kernel/registry.js";

export const REDIS_BIN = process.env.REDIS_SERVER_BIN || "/usr/bin/redis-server";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

import { freePort } from "../kit/nats-server.js";
export { freePort };

/** Runs fn(0..total-1) with at most `window` calls in flight at once (a sliding window). */
export async function pipelined(total: number, window: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < total) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, total) }, lane));
}

/** Polls `cond` every `everyMs` until it is true; throws after `timeoutMs`. */
export async function waitUntil(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 600_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function latencySummary(samplesMs: number[]) {
  const s = [...samplesMs].sort((a, b) => a - b);
  const r = (n: number) => Math.round(n * 1000) / 1000;
  return { n: s.length, p50: r(percentile(s, 50)), p90: r(percentile(s, 90)), p99: r(percentile(s, 99)), max: r(s[s.length - 1] ?? NaN), mean: r(s.reduce((a, b) => a + b, 0) / s.length) };
}
export type LatencySummary = ReturnType<typeof latencySummary>;

export const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
export const now = () => performance.now();
export const load = () => loadavg().map((n) => Math.round(n * 100) / 100);

// --- redis-server ------------------------------------------------------------

export interface RedisHandle {
  port: number;
  version: string;
  stop(): Promise<void>;
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = connect({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok: boolean) => {
      sock.destroy();
      res(ok);
    };
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.on("data", (c) => {
      buf += c.toString();
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG"));
    });
    sock.once("error", () => done(false));
    sock.setTimeout(1_000, () => done(false));
  });
}

/** A memory-only redis-server on a free port (no RDB snapshots, no AOF), like a cache-style deployment. */
export async function startRedis(): Promise<RedisHandle> {
  const port = await freePort();
  const version = /v=(\S+)/.exec(execFileSync(REDIS_BIN, ["--version"]).toString())?.[1] ?? "unknown";
  const child = spawn(REDIS_BIN, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c) => (stderr = (stderr + c.toString()).slice(-2000)));
  const kill = () => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL");
  process.on("exit", kill);
  await waitUntil(async () => {
    if (child.exitCode !== null) throw new Error(`redis-server exited early: ${stderr}`);
    return redisPing(port);
  }, "redis-server", 15_000, 50);
  return {
    port,
    version,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

export function natsServerVersion(): string {
  const bin = process.env.NATS_SERVER_BIN;
  if (!bin) return "unknown";
  return /v(\d+\.\d+\.\d+)/.exec(execFileSync(bin, ["--version"]).toString())?.[1] ?? "unknown";
}

// --- jetq ----------------------------------------------------------------------

export const NOOP_TYPE = "bench_noop";

/** One no-op task type; the payload schema accepts any object. */
export function benchRegistry(): TaskTypeRegistry {
  return new TaskTypeRegistry().register({ name: NOOP_TYPE, description: "does nothing (benchmark)", payload: z.object({}).passthrough() });
}

export function benchConfig(natsUrl: string, concurrency: number): JetqConfig {
  return loadConfig({ NATS_URL: natsUrl, JETQ_CONCURRENCY: String(concurrency), LOG_LEVEL: "error", JETQ_WORKER_METRICS_PORT: "0" });
}

// --- CPU accounting (Linux /proc; null elsewhere) --------------------------------

/** CPU time (user + system) a process has used so far, in ms. */
export function cpuMsOf(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The pid of this process's child whose command name starts with `name` (e.g. the nats-server we started). */
export function childPid(name: string): number | undefined {
  try {
    const line = execFileSync("ps", ["--ppid", String(process.pid), "-o", "pid=,comm="])
      .toString()
      .split("\n")
      .find((l) => l.trim().split(/\s+/)[1]?.startsWith(name));
    return line ? Number(line.trim().split(/\s+/)[0]) : undefined;
  } catch {
    return undefined;
  }
}

/** Measures the CPU the listed processes use while `fn` runs, as % of one core. */
export async function withCpu<T>(pids: Record<string, number | undefined>, fn: () => Promise<T>): Promise<{ result: T; cpuPct: Record<string, number | null> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid === process.pid ? selfCpuMs() : cpuMsOf(pid)]));
  const t0 = now();
  const result = await fn();
  const wall = now() - t0;
  const cpuPct: Record<string, number | null> = {};
  for (const [k, pid] of Object.entries(pids)) {
    const a = before[k];
    const b = pid === process.pid ? selfCpuMs() : cpuMsOf(pid);
    cpuPct[k] = a == null || b == null ? null : Math.round(((b - a) / wall) * 100);
  }
  return { result, cpuPct };
}
const selfCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * How busy the whole machine is over `ms`, in % of one core (200 = both cores of a 2-core machine).
 * Taken while the benchmark itself is idle, it measures everyone else: a check the run was quiet.
 */
export async function machineBusyPct(ms = 2_000): Promise<number | null> {
  const read = () => {
    try {
      const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
      const idle = f[3]! + (f[4] ?? 0);
      return { idle, total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = read();
  await sleep(ms);
  const b = read();
  if (!a || !b || b.total === a.total) return null;
  const busy = 1 - (b.idle - a.idle) / (b.total - a.total);
  return Math.round(busy * cpus().length * 100);
}

/**
 * Watches, while a scenario runs, how much CPU processes other than this benchmark and its
 * children (servers, API) use: machine busy time minus ours, sampled every second. The check that
 * a measurement was not shared with someone else's work.
 */
export class OtherCpuMonitor {
  private timer: NodeJS.Timeout | null = null;
  private last: { machineBusy: number; machineTotal: number; ours: number } | null = null;
  private readonly samples: number[] = [];

  start(everyMs = 1_000): this {
    this.last = this.read();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    return this;
  }

  /** Mean and max of the samples, in % of one core. */
  stop(): { meanPct: number | null; maxPct: number | null } {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    if (this.samples.length === 0) return { meanPct: null, maxPct: null };
    const mean = this.samples.reduce((a, b) => a + b, 0) / this.samples.length;
    return { meanPct: Math.round(mean), maxPct: Math.round(Math.max(...this.samples)) };
  }

  private sample() {
    const cur = this.read();
    if (!cur || !this.last) return;
    const total = cur.machineTotal - this.last.machineTotal;
    if (total > 0) {
      const others = Math.max(0, cur.machineBusy - this.last.machineBusy - (cur.ours - this.last.ours));
      this.samples.push((others / total) * cpus().length * 100);
    }
    this.last = cur;
  }

  private read() {
    try {
      const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
      const machineTotal = f.reduce((a, b) => a + b, 0);
      const machineBusy = machineTotal - f[3]! - (f[4] ?? 0);
      return { machineBusy, machineTotal, ours: ticksWithChildren(process.pid) };
    } catch {
      return null;
    }
  }
}

/** CPU ticks of a process, its reaped children, and (one level down) its live children. */
function ticksWithChildren(pid: number): number {
  const own = (p: number) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ").map(Number);
      return f[11]! + f[12]! + f[13]! + f[14]!; // utime stime cutime cstime
    } catch {
      return 0; // exited between listing and reading
    }
  };
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* no children file on this kernel: count only this process */
  }
  return own(pid) + kids.reduce((n, k) => n + own(k), 0);
}

/** The repository, whether this runs from bench/ (tsx) or compiled from dist-bench/bench/. */
export const REPO_ROOT = fileURLToPath(new URL(import.meta.url.includes("/dist-bench/") ? "../../" : "../", import.meta.url));

export type LoadRecord = {
  before: number[];
  after: number[];
  otherCpuPctBefore: number | null;
  otherCpuPctAfter: number | null;
  otherCpuPctDuring: { meanPct: number | null; maxPct: number | null };
};

/**
 * Runs benchmark scenarios, recording for each the load average and the CPU other processes used
 * before, during and after (the check that nothing else was competing).
 */
export class ScenarioRunner {
  readonly loadavg: Record<string, LoadRecord> = {};
  constructor(private readonly log: (msg: string) => void) {}

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const otherCpuPctBefore = await machineBusyPct();
    const before = load();
    this.log(`${key}: starting (loadavg ${before.join(" ")}; other CPU use ${otherCpuPctBefore}% of a core)`);
    const monitor = new OtherCpuMonitor().start();
    const r = await fn();
    const otherCpuPctDuring = monitor.stop();
    const after = load();
    const otherCpuPctAfter = await machineBusyPct();
    this.loadavg[key] = { before, after, otherCpuPctBefore, otherCpuPctAfter, otherCpuPctDuring };
    this.log(`${key}: done (loadavg ${after.join(" ")}; other CPU use ${otherCpuPctAfter}% of a core; during: mean ${otherCpuPctDuring.meanPct}%, max ${otherCpuPctDuring.maxPct}%)`);
    return r;
  }
}
