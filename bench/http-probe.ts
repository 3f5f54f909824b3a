// HTTP measurement for benchmarks against a running API: sequential GETs timed one by one (each with
// a time limit, so a read that has grown too slow ends its figure instead of the run), and a closed
// loop of POSTs at a fixed concurrency for create throughput.
import { Agent, request } from "node:http";
import { latencySummary, now, type LatencySummary } from "./lib.js";

export interface HttpAnswer {
  status: number;
  body: any;
}

export class HttpProbe {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  constructor(readonly baseUrl: string) {}

  /** One request; rejects with `timedOut: true` after `timeoutMs`. */
  send(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<HttpAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        this.baseUrl + path,
        { method, agent: this.agent, headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {} },
        (res) => {
          const parts: Buffer[] = [];
          res.on("data", (c: Buffer) => parts.push(c));
          res.on("end", () => {
            clearTimeout(timer);
            const text = Buffer.concat(parts).toString();
            let parsed: unknown = text;
            if ((res.headers["content-type"] ?? "").includes("json")) parsed = JSON.parse(text);
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on("error", reject);
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        reject(Object.assign(new Error(`${method} ${path} took longer than ${timeoutMs} ms`), { timedOut: true }));
      }, timeoutMs);
      req.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(payload);
    });
  }

  get(path: string, timeoutMs?: number) {
    return this.send("GET", path, undefined, timeoutMs);
  }

  close() {
    this.agent.destroy();
  }
}

export interface FigureOptions {
  /** Requests measured (after the warm-up), unless the budget runs out first. */
  requests: number;
  warmup: number;
  /** A request slower than this is recorded as timed out, and the figure stops. */
  timeoutMs: number;
  /** Stop measuring after this long (0: no limit); `n` then says how many were measured. */
  budgetMs: number;
}

export interface Figure {
  path: string;
  latencyMs: LatencySummary | null;
  /** Requests measured; fewer than asked when the budget ran out or a request timed out. */
  n: number;
  timedOut: boolean;
  budgetExhausted: boolean;
  error?: string;
  /** What the last answer said, as `check` summarised it (e.g. how many items a page held). */
  last?: unknown;
}

/**
 * Sequential GETs of `path()` (a new path per request, e.g. a random id); `check` validates each
 * answer (throws when it is not what a user would accept) and summarises the last one.
 */
export async function measureFigure(probe: HttpProbe, path: () => string, o: FigureOptions, check: (a: HttpAnswer) => unknown = okOnly): Promise<Figure> {
  const samples: number[] = [];
  const first = path();
  let last: unknown;
  const started = now();
  const outOfBudget = () => o.budgetMs > 0 && now() - started > o.budgetMs;
  try {
    for (let i = 0; i < o.warmup && !outOfBudget(); i++) last = check(await probe.get(path(), o.timeoutMs));
    const measuredFrom = now();
    for (let i = 0; i < o.requests; i++) {
      // The budget counts from the first measured request, so a slow warm-up leaves some.
      if (o.budgetMs > 0 && samples.length > 0 && now() - measuredFrom > o.budgetMs) {
        return { path: first, latencyMs: latencySummary(samples), n: samples.length, timedOut: false, budgetExhausted: true, last };
      }
      const p = path();
      const t = now();
      const answer = await probe.get(p, o.timeoutMs);
      samples.push(now() - t);
      last = check(answer);
    }
    return { path: first, latencyMs: latencySummary(samples), n: samples.length, timedOut: false, budgetExhausted: false, last };
  } catch (err) {
    const timedOut = (err as { timedOut?: boolean }).timedOut === true;
    return { path: first, latencyMs: samples.length ? latencySummary(samples) : null, n: samples.length, timedOut, budgetExhausted: false, error: String((err as Error).message ?? err), last };
  }
}

export function okOnly(a: HttpAnswer): unknown {
  if (a.status !== 200) throw new Error(`answered ${a.status}: ${JSON.stringify(a.body).slice(0, 300)}`);
  return undefined;
}

export interface CreateLoad {
  requests: number;
  concurrency: number;
  ok: number;
  failed: number;
  ratePerS: number;
  latencyMs: LatencySummary;
  firstError?: string;
  ids: string[];
}

/** `total` POSTs of `body(i)` to /api/tasks, `concurrency` at a time (closed loop). */
export async function createLoad(probe: HttpProbe, total: number, concurrency: number, body: (i: number) => unknown): Promise<CreateLoad> {
  const samples: number[] = [];
  const ids: string[] = [];
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async () => {
    while (next < total) {
      const i = next++;
      const t = now();
      try {
        const a = await probe.send("POST", "/api/tasks", body(i));
        if (a.status !== 202) throw new Error(`answered ${a.status}: ${JSON.stringify(a.body).slice(0, 300)}`);
        samples.push(now() - t);
        ids.push(a.body.id);
      } catch (err) {
        failed++;
        firstError ??= String((err as Error).message ?? err);
      }
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: concurrency }, lane));
  const ms = now() - t0;
  return { requests: total, concurrency, ok: samples.length, failed, ratePerS: Math.round((samples.length / ms) * 1000), latencyMs: latencySummary(samples), ...(firstError ? { firstError } : {}), ids };
}
