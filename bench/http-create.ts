// (c) POST /api/tasks/create under concurrent HTTP load. The API runs in a child process
// (bench/http-api-server.ts); the load generators run in this process, so the two do not share
// an event loop. Nothing drains the queue: tasks just pile up, as they would behind busy workers.
//  1. paced: an open-loop generator sends exactly `rate` requests/s for `seconds`, each on its
//     schedule whether or not earlier ones have answered (keep-alive sockets, at most 50). Latency is
//     measured from the scheduled send time, so a stall shows up in full (no coordinated omission).
//  2. autocannon with overallRate (for reference): autocannon's limiter lets each connection send its
//     share at the start of every second as fast as answers come, so this is bursts, not a steady rate.
//  3. autocannon at full speed: 50 connections for `seconds`, the API's maximum create rate.
import { spawn, type ChildProcess } from "node:child_process";
import { Agent, request } from "node:http";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { latencySummary, now, sleep, withCpu, type LatencySummary } from "./lib.js";

export const CREATE_BODY = JSON.stringify({ type: "sync_sources", payload: { sourceId: "00000000-0000-4000-8000-000000000000" } });

export interface HttpOptions {
  rate: number;
  seconds: number;
  /** Paced runs, back to back; the tail moves from run to run, so one is not enough. */
  rounds: number;
  connections: number;
  natsPid?: number;
}

export interface PacedResult {
  targetRps: number;
  achievedRps: number;
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** From the scheduled send time. */
  latencyMs: LatencySummary;
  cpuPct: Record<string, number | null>;
}

export interface CannonResult {
  rps: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  cpuPct: Record<string, number | null>;
}

async function startApi(natsUrl: string): Promise<{ port: number; child: ChildProcess; stop: () => Promise<void> }> {
  const fromSource = import.meta.url.endsWith(".ts"); // compiled by `npm run bench`, or run through tsx
  const script = fileURLToPath(new URL(fromSource ? "./http-api-server.ts" : "./http-api-server.js", import.meta.url));
  const child = spawn(process.execPath, [...(fromSource ? ["--import", "tsx"] : []), script, natsUrl], { stdio: ["ignore", "pipe", "inherit"] });
  const kill = () => child.exitCode === null && child.kill("SIGKILL");
  process.on("exit", kill);
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`API process exited (${code}) before listening`)));
    createInterface({ input: child.stdout! }).once("line", (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return {
    port,
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      process.off("exit", kill);
    },
  };
}

/** Open-loop load at a fixed rate; latency from each request's scheduled time to its response. */
export async function paced(port: number, rate: number, seconds: number, connections: number): Promise<Omit<PacedResult, "cpuPct">> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const total = Math.round(rate * seconds);
  const body = Buffer.from(CREATE_BODY);
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let pending = 0;
  let sent = 0;
  let allSent!: () => void;
  const done = new Promise<void>((r) => (allSent = r));
  const fire = (scheduledAt: number) => {
    pending++;
    const req = request(
      { host: "127.0.0.1", port, method: "POST", path: "/api/tasks/create", agent, headers: { "content-type": "application/json", "content-length": body.length } },
      (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode && res.statusCode >= 200 && res.statusCode < 300) {
            ok++;
            latencies.push(now() - scheduledAt);
          } else non2xx++;
          if (--pending === 0 && sent === total) allSent();
        });
      },
    );
    req.on("error", () => {
      errors++;
      if (--pending === 0 && sent === total) allSent();
    });
    req.end(body);
  };
  const start = now();
  const intervalMs = 1000 / rate;
  while (sent < total) {
    const due = Math.min(total, Math.floor((now() - start) / intervalMs) + 1);
    while (sent < due) fire(start + sent++ * intervalMs);
    await sleep(1);
  }
  if (pending > 0) await done;
  const elapsed = now() - start;
  agent.destroy();
  return { targetRps: rate, achievedRps: Math.round((ok / elapsed) * 1000), sent, ok, non2xx, errors, latencyMs: latencySummary(latencies) };
}

async function cannon(port: number, opts: { seconds: number; connections: number; overallRate?: number }) {
  const r = await autocannon({
    url: `http://127.0.0.1:${port}/api/tasks/create`,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: CREATE_BODY,
    connections: opts.connections,
    duration: opts.seconds,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
  });
  const l = r.latency;
  return {
    rps: Math.round(r.requests.average),
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    latencyMs: { p50: l.p50, p90: l.p90, p99: l.p99, max: l.max, mean: l.mean },
  };
}

export async function httpCreate(natsUrl: string, o: HttpOptions): Promise<{ paced: PacedResult[]; cannonAtRate: CannonResult; cannonMax: CannonResult }> {
  const api = await startApi(natsUrl);
  const pids = { api: api.child.pid, nats: o.natsPid, loadgen: process.pid };
  try {
    await paced(api.port, Math.round(o.rate / 2), 3, o.connections); // warm-up: JIT, sockets, NATS
    await sleep(500);
    const p: PacedResult[] = [];
    for (let i = 0; i < o.rounds; i++) {
      const r = await withCpu(pids, () => paced(api.port, o.rate, o.seconds, o.connections));
      p.push({ ...r.result, cpuPct: r.cpuPct });
      await sleep(500);
    }
    const c1 = await withCpu(pids, () => cannon(api.port, { seconds: o.seconds, connections: o.connections, overallRate: o.rate }));
    await sleep(500);
    const c2 = await withCpu(pids, () => cannon(api.port, { seconds: o.seconds, connections: o.connections }));
    return { paced: p, cannonAtRate: { ...c1.result, cpuPct: c1.cpuPct }, cannonMax: { ...c2.result, cpuPct: c2.cpuPct } };
  } finally {
    await api.stop();
  }
}
