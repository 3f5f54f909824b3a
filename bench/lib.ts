// Small helpers shared by the benchmark scenarios: ports, a throw-away redis-server, pipelined
// loops, percentiles, and the jetq set-up every jetq scenario uses.
import { spawn, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { loadavg } from "node:os";
import { z } from "zod";
import { loadConfig, type JetqConfig } from "../core/config.js";
import { TaskTypeRegistry } from "../core/registry.js";

export const REDIS_BIN = process.env.REDIS_SERVER_BIN || "/usr/bin/redis-server";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? res(port) : rej(new Error("no free port"))));
    });
  });
}

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
