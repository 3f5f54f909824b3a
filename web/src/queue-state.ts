// The queue's state for the overview. An admin reads GET /api/tasks/queue; the whole queue is an
// admin's view there, so for other roles the same numbers come from /metrics (public, what
// Prometheus scrapes): depth by priority and type, in flight, dead letters, each worker's slots.
import type { JetqClient } from "../../client/index.js";
import { roleAllows, type Role } from "./session.js";

export interface WorkerRow {
  id: string;
  pool: string;
  busy: number;
  slots: number;
}

export interface QueueState {
  depth: number;
  inFlight: number;
  byPriority: Record<string, number>;
  byType: Record<string, number>;
  deadLettered: number;
  workers: { busy: number; slots: number; list: WorkerRow[] };
  /** Where the numbers came from. */
  source: "queue" | "metrics";
}

export async function loadQueueState(client: JetqClient, role: Role): Promise<QueueState> {
  if (roleAllows(role, "admin")) {
    const q = await client.queue();
    const list = q.workers.list.map((w) => {
      const r = w as { id?: unknown; pool?: unknown; busy?: unknown; concurrency?: unknown };
      return { id: String(r.id ?? "?"), pool: String(r.pool ?? ""), busy: Number(r.busy ?? 0), slots: Number(r.concurrency ?? 0) };
    });
    return { depth: q.depth, inFlight: q.inFlight, byPriority: { high: q.byPriority.high, normal: q.byPriority.normal, low: q.byPriority.low }, byType: q.byType, deadLettered: q.deadLettered, workers: { busy: q.workers.busy, slots: q.workers.slots, list }, source: "queue" };
  }
  return fromMetrics(parseMetrics(await client.metrics()));
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped; enough for jetq's gauges). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

function fromMetrics(samples: Sample[]): QueueState {
  const one = (name: string) => samples.find((s) => s.name === name)?.value ?? 0;
  const by = (name: string, label: string) => Object.fromEntries(samples.filter((s) => s.name === name).map((s) => [s.labels[label] ?? "", s.value]));
  const workers = new Map<string, WorkerRow>();
  for (const s of samples) {
    if (s.name !== "jetq_worker_busy" && s.name !== "jetq_worker_concurrency") continue;
    const id = s.labels.worker ?? "?";
    const w = workers.get(id) ?? { id, pool: s.labels.pool ?? "", busy: 0, slots: 0 };
    if (s.name === "jetq_worker_busy") w.busy = s.value;
    else w.slots = s.value;
    workers.set(id, w);
  }
  const list = [...workers.values()];
  return {
    depth: one("jetq_queue_depth"),
    inFlight: one("jetq_tasks_in_flight"),
    byPriority: by("jetq_queue_depth_by_priority", "priority"),
    byType: by("jetq_queue_depth_by_type", "type"),
    deadLettered: one("jetq_dlq_depth"),
    workers: { busy: list.reduce((n, w) => n + w.busy, 0), slots: list.reduce((n, w) => n + w.slots, 0), list },
    source: "metrics",
  };
}
