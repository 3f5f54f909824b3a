// Arrivals, completions by outcome and completion times, per minute, counted by NATS: every
// program that queues tasks counts arrivals, every worker counts the tasks it ends, and the API
// answers `GET /api/stats` from the counters, exactly, however many tasks there were (the web
// view's overview; Prometheus holds the same as histograms for dashboards and alerts).
// Counters live in the JETQ_STATS counter stream (`Nats-Incr`), one subject per minute and figure:
// `jetq.stats.<minute>.<figure>`, the minute since the epoch; completion times go in buckets
// (`t<i>`, the count of completions that took up to STATS_BUCKETS_S[i] seconds, the last one
// unbounded). Each program adds up what happened in memory and publishes the sums once a second,
// without waiting for an answer: a task costs a map update, not a round trip.
import type { JetStreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { isNoMessage } from "./kv-scan.js";
import { TOPOLOGY } from "./topology.js";

/** Upper bounds of the completion-time buckets, in seconds; one more bucket takes the rest. */
export const STATS_BUCKETS_S = [1, 5, 15, 30, 60, 120, 300, 600, 1_200, 1_800, 3_600] as const;
export const STATS_OUTCOMES = ["succeeded", "failed", "cancelled"] as const;
export type StatsOutcome = (typeof STATS_OUTCOMES)[number];
/** How far back the counters go (the stream's max age is a little longer). */
export const STATS_MAX_MINUTES = 60;

const minuteOf = (ms: number) => Math.floor(ms / 60_000);
const subjectOf = (minute: number, figure: string) => `${TOPOLOGY.statsPrefix}.${minute}.${figure}`;
const bucketOf = (seconds: number) => {
  const i = STATS_BUCKETS_S.findIndex((le) => seconds <= le);
  return i === -1 ? STATS_BUCKETS_S.length : i;
};

/** Figure names of the completion-time buckets, by bucket. */
const BUCKET_FIGURES = [...STATS_BUCKETS_S, Infinity].map((_, i) => `t${i}`);

/** Adds up arrivals and ends in memory and publishes the sums every `flushMs`. */
export class TaskStatsRecorder {
  private pending = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  /** The current minute's subjects by figure: built once a minute, not once per task. */
  private minute = -1;
  private subjects = new Map<string, string>();

  constructor(
    private readonly nc: NatsConnection,
    flushMs = 1_000,
  ) {
    this.timer = setInterval(() => this.flush(), flushMs);
    this.timer.unref();
  }

  arrived(count = 1) {
    this.add(this.subject("arrived"), count);
  }

  /** A task ended; `completionSeconds` is creation to end (not counted for a cancel). */
  ended(outcome: StatsOutcome, completionSeconds: number) {
    this.add(this.subject(outcome), 1);
    if (outcome !== "cancelled") this.add(this.subject(BUCKET_FIGURES[bucketOf(completionSeconds)]!), 1);
  }

  private subject(figure: string): string {
    const minute = minuteOf(Date.now());
    if (minute !== this.minute) {
      this.minute = minute;
      this.subjects = new Map();
    }
    let subject = this.subjects.get(figure);
    if (subject === undefined) this.subjects.set(figure, (subject = subjectOf(minute, figure)));
    return subject;
  }

  private add(subject: string, n: number) {
    this.pending.set(subject, (this.pending.get(subject) ?? 0) + n);
  }

  /** Publishes what was added since the last flush (lost if NATS is away: these are statistics). */
  flush() {
    if (this.pending.size === 0 || this.nc.isClosed()) return;
    const sums = this.pending;
    this.pending = new Map();
    for (const [subject, n] of sums) {
      const h = headers();
      h.set("Nats-Incr", `+${n}`);
      try {
        this.nc.publish(subject, new Uint8Array(), { headers: h });
      } catch {
        // Closed or draining: the counts of the last second are lost.
      }
    }
  }

  async stop() {
    clearInterval(this.timer);
    this.flush();
  }
}

export interface MinuteStats {
  /** The minute's start. */
  at: string;
  arrivals: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface TaskStats {
  /** From the start of the oldest minute counted to now. */
  windowMs: number;
  from: string;
  arrivals: number;
  completions: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Creation to end of succeeded and failed tasks, estimated within their bucket; null with none. */
  p50Ms: number | null;
  p95Ms: number | null;
  /** failed / (succeeded + failed); null with neither. */
  errorRate: number | null;
  /** Completions that took at most each bound (seconds; null: any time), cumulative. */
  buckets: { leSeconds: number | null; count: number }[];
  perMinute: MinuteStats[];
}

/** The last `minutes` minutes (the current one so far included), from the counters. */
export async function readTaskStats(jsm: JetStreamManager, minutes: number, now = Date.now()): Promise<TaskStats> {
  const last = minuteOf(now);
  const first = last - minutes + 1;
  const values = new Map<string, number>();
  const filters = Array.from({ length: minutes }, (_, i) => `${TOPOLOGY.statsPrefix}.${first + i}.*`);
  try {
    for await (const m of await jsm.direct.getLastMessagesFor(TOPOLOGY.statsStream, { multi_last: filters })) {
      values.set(m.subject, Number(m.json<{ val?: string }>().val ?? 0) || 0);
    }
  } catch (err) {
    if (!isNoMessage(err)) throw err; // no counter in the window yet: all zeros
  }
  const perMinute: MinuteStats[] = [];
  const bucketCounts = new Array<number>(STATS_BUCKETS_S.length + 1).fill(0);
  for (let minute = first; minute <= last; minute++) {
    const v = (figure: string) => values.get(subjectOf(minute, figure)) ?? 0;
    perMinute.push({ at: new Date(minute * 60_000).toISOString(), arrivals: v("arrived"), succeeded: v("succeeded"), failed: v("failed"), cancelled: v("cancelled") });
    bucketCounts.forEach((_, i) => (bucketCounts[i]! += v(`t${i}`)));
  }
  const sum = (k: keyof Omit<MinuteStats, "at">) => perMinute.reduce((n, m) => n + m[k], 0);
  const succeeded = sum("succeeded");
  const failed = sum("failed");
  const cancelled = sum("cancelled");
  let cumulative = 0;
  const buckets = bucketCounts.map((count, i) => ({ leSeconds: STATS_BUCKETS_S[i] ?? null, count: (cumulative += count) }));
  return {
    windowMs: now - first * 60_000,
    from: new Date(first * 60_000).toISOString(),
    arrivals: sum("arrivals"),
    completions: succeeded + failed + cancelled,
    succeeded,
    failed,
    cancelled,
    p50Ms: quantileMs(bucketCounts, 0.5),
    p95Ms: quantileMs(bucketCounts, 0.95),
    errorRate: succeeded + failed > 0 ? failed / (succeeded + failed) : null,
    buckets,
    perMinute,
  };
}

/** The q-quantile of bucketed counts, interpolated linearly inside its bucket (as Prometheus's histogram_quantile). */
export function quantileMs(counts: number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (n > 0 && below + n >= rank) {
      const lower = i === 0 ? 0 : STATS_BUCKETS_S[i - 1]!;
      const upper = STATS_BUCKETS_S[i];
      if (upper === undefined) return lower * 1_000; // the open bucket: at least its lower bound
      return (lower + ((upper - lower) * (rank - below)) / n) * 1_000;
    }
    below += n;
  }
  return null;
}
