// Queue state as users and the autoscaler see it: depth by priority and type, work in flight,
// dead letters, and the workers with their utilisation.
import type { JetqConnection } from "./connection.js";
import { scanKv } from "./kv-scan.js";
import { parseTaskSubject, TOPOLOGY } from "./topology.js";
import { PRIORITIES, type Priority } from "./task.js";

export interface WorkerPresence {
  id: string;
  pool: string;
  host: string;
  pid: number;
  concurrency: number;
  busy: number;
  taskTypes: string[];
  startedAt: string;
  updatedAt: string;
}

export interface QueueSnapshot {
  /** Messages on the work stream: waiting plus in flight. */
  depth: number;
  waiting: number;
  inFlight: number;
  byPriority: Record<Priority, number>;
  byType: Record<string, number>;
  deadLettered: number;
  workers: { count: number; slots: number; busy: number; utilisation: number; list: WorkerPresence[] };
}

export class QueueStats {
  constructor(private readonly conn: JetqConnection) {}

  /** Tasks on the work stream (waiting + in flight): what the autoscaler needs, in one cheap call. */
  async depth(): Promise<number> {
    return (await this.conn.jsm.streams.info(TOPOLOGY.tasksStream)).state.messages;
  }

  async snapshot(): Promise<QueueSnapshot> {
    const [tasks, consumers, dlq, workers] = await Promise.all([
      this.conn.jsm.streams.info(TOPOLOGY.tasksStream, { subjects_filter: "jetq.tasks.>" }),
      this.conn.jsm.consumers.list(TOPOLOGY.tasksStream).next(),
      this.conn.jsm.streams.info(TOPOLOGY.dlqStream),
      this.workers(),
    ]);
    const byPriority = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
    const byType: Record<string, number> = {};
    for (const [subject, count] of Object.entries(tasks.state.subjects ?? {})) {
      const parsed = parseTaskSubject(subject);
      if (!parsed) continue;
      byPriority[parsed.priority] += count;
      byType[parsed.type] = (byType[parsed.type] ?? 0) + count;
    }
    // Work-queue messages stay on the stream while a worker holds them, so depth counts them.
    const inFlight = consumers.reduce((n, c) => n + c.num_ack_pending, 0);
    const depth = tasks.state.messages;
    const slots = workers.reduce((n, w) => n + w.concurrency, 0);
    const busy = workers.reduce((n, w) => n + w.busy, 0);
    return {
      depth,
      waiting: Math.max(0, depth - inFlight),
      inFlight,
      byPriority,
      byType,
      deadLettered: dlq.state.messages,
      workers: { count: workers.length, slots, busy, utilisation: slots ? busy / slots : 0, list: workers },
    };
  }

  /** The live workers' presence records (a consumer-less scan: this runs at every scrape). */
  async workers(): Promise<WorkerPresence[]> {
    const out = (await scanKv(this.conn.jsm, TOPOLOGY.workersBucket)).map((e) => e.json<WorkerPresence>());
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }
}
