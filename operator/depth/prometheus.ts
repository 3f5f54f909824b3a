// A WorkerPool's depth from Prometheus' HTTP API (/api/v1/query), like KEDA's Prometheus scaler:
// an instant query over the gauges the jetq API exports (kernel/metrics.ts), overridable per pool
// with spec.prometheus.query. Lags the queue by a scrape interval (plus the API's 0.5 s read cache).
import type { WorkerPool } from "../core/resources.js";
import { DepthUnavailableError, type DepthSource } from "./depth-source.js";

export interface PrometheusDepthOptions {
  /** Used for pools without spec.prometheus.url (JETQ_PROMETHEUS_URL); unset: those pools fail here. */
  defaultUrl?: string;
  /** A query that has not answered by then counts as Prometheus being unavailable. Default 2 s. */
  timeoutMs?: number;
}

/**
 * Waiting plus in-flight tasks of the pool's types, from `jetq_queue_depth_by_type`: it counts the
 * work stream's messages by subject, so it holds tasks no consumer has seen yet (a pool whose workers
 * never ran), unlike `jetq_pool_depth`, which exists only once the pool's consumers do. Every API
 * replica reports the same numbers: `max by (type)` counts each type once. The gauge drops a type
 * with nothing queued, so an empty queue has no series; `or max(jetq_queue_depth) * 0` makes that 0
 * while the API is scraped, and leaves the answer empty (no data: an error) when nothing is.
 */
export function defaultDepthQuery(taskTypes: readonly string[]): string {
  const types = taskTypes.map(escapeRegex).join("|");
  return `sum(max by (type) (jetq_queue_depth_by_type{type=~"${escapeString(types)}"})) or max(jetq_queue_depth) * 0`;
}

export function createPrometheusDepthSource(opts: PrometheusDepthOptions = {}): DepthSource {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const urlFor = (pool: WorkerPool) => pool.spec.prometheus?.url || opts.defaultUrl;
  const queryFor = (pool: WorkerPool) => pool.spec.prometheus?.query || defaultDepthQuery(pool.spec.taskTypes);
  return {
    name: "prometheus",
    async depth(pool) {
      const base = urlFor(pool);
      if (!base) throw new DepthUnavailableError("prometheus", "no Prometheus URL: set spec.prometheus.url or the operator's JETQ_PROMETHEUS_URL");
      return parseInstantQuery(await query(base, queryFor(pool), timeoutMs));
    },
  };
}

async function query(base: string, promql: string, timeoutMs: number): Promise<unknown> {
  const url = new URL("api/v1/query", base.endsWith("/") ? base : `${base}/`);
  url.searchParams.set("query", promql);
  // Prometheus gives up on its side too, so a slow query is not left running there.
  url.searchParams.set("timeout", `${Math.max(1, Math.floor(timeoutMs / 1000))}s`);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: "application/json" } });
  } catch (err) {
    const why = (err as Error).name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : String((err as Error).cause ?? err);
    throw new DepthUnavailableError("prometheus", `query to ${url.origin} failed: ${why}`);
  }
  const text = await res.text().catch(() => "");
  let body: { status?: string; error?: string; data?: unknown } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    /* reported below */
  }
  if (!res.ok || body?.status !== "success") {
    const detail = body?.error ?? text.slice(0, 200);
    throw new DepthUnavailableError("prometheus", `query to ${url.origin} answered ${res.status}: ${detail}`);
  }
  return body.data;
}

/** One number out of an instant query's data: a one-sample vector or a scalar. */
export function parseInstantQuery(data: unknown): number {
  const d = data as { resultType?: string; result?: unknown };
  let raw: unknown;
  if (d?.resultType === "scalar") raw = (d.result as unknown[])?.[1];
  else if (d?.resultType === "vector") {
    const result = (d.result ?? []) as { value?: unknown[] }[];
    if (result.length === 0) throw new DepthUnavailableError("prometheus", "no data: the query returned no samples (is Prometheus scraping the jetq API's /metrics?)");
    if (result.length > 1) throw new DepthUnavailableError("prometheus", `the query returned ${result.length} series; it must return one (wrap it in sum())`);
    raw = result[0]!.value?.[1];
  } else throw new DepthUnavailableError("prometheus", `the query returned a ${d?.resultType ?? "malformed"} result; it must return a vector or a scalar`);
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new DepthUnavailableError("prometheus", `the query returned ${String(raw)}, not a number`);
  return Math.max(0, Math.round(n));
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const escapeString = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
