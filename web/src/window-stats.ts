// Arrival and completion rates, completion-time percentiles and the error rate over the last few
// minutes, for callers below admin (GET /api/stats is queue-wide, so admin only): counted from
// what the caller's task listing shows (GET /api/tasks, newest change first, its own tenant's). It
// walks back until a queued or finished task older than the window (nothing after it can be
// newer), at most `maxTasks` tasks; past that it says so.
import type { JetqClient, TaskStatusView } from "../../client/index.js";

export interface WindowStats {
  windowMs: number;
  arrivals: number;
  completions: number;
  succeeded: number;
  failed: number;
  /** Creation to end, in ms, of tasks that succeeded or failed in the window; null with none. */
  p50Ms: number | null;
  p95Ms: number | null;
  /** failed / (succeeded + failed); null with neither. */
  errorRate: number | null;
  /** True when the walk stopped at maxTasks: the counts are of the newest tasks only. */
  truncated: boolean;
}

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export async function loadWindowStats(client: JetqClient, windowMs = 5 * 60_000, maxTasks = 2_000): Promise<WindowStats> {
  const since = Date.now() - windowMs;
  let arrivals = 0;
  let succeeded = 0;
  let failed = 0;
  let cancelled = 0;
  const durations: number[] = [];
  let seen = 0;
  let cursor: string | undefined;
  let stop = false;
  const take = (t: TaskStatusView) => {
    const created = Date.parse(t.createdAt);
    const finished = t.finishedAt ? Date.parse(t.finishedAt) : NaN;
    // Queued tasks are listed by creation, finished ones by their end: one older than the window
    // means everything after it is older too. Running ones move with each progress write.
    if ((t.status === "queued" && created < since) || (FINISHED.has(t.status) && finished < since)) {
      stop = true;
      return;
    }
    if (created >= since) arrivals++;
    if (FINISHED.has(t.status) && finished >= since) {
      if (t.status === "succeeded") succeeded++;
      else if (t.status === "failed") failed++;
      else cancelled++;
      if (t.status !== "cancelled") durations.push(finished - created);
    }
  };
  for (let pages = 0; !stop && seen < maxTasks && pages < 50; pages++) {
    const page = await client.listTasks({ limit: 200, ...(cursor ? { cursor } : {}) });
    for (const t of page.items) {
      take(t);
      seen++;
      if (stop) break;
    }
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  durations.sort((a, b) => a - b);
  return {
    windowMs,
    arrivals,
    completions: succeeded + failed + cancelled,
    succeeded,
    failed,
    p50Ms: percentile(durations, 0.5),
    p95Ms: percentile(durations, 0.95),
    errorRate: succeeded + failed > 0 ? failed / (succeeded + failed) : null,
    truncated: !stop && seen >= maxTasks,
  };
}
