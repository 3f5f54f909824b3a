// Queue state as users and the autoscaler see it: depth by priority and type, work in flight,
// dead letters, each pool's lag, and the workers with their utilisation.
import { JetStreamApiError, type ConsumerInfo } from "@nats-io/jetstream";
import type { JetqConnection } from "./connection.js";
import { scanKv } from "./kv-scan.js";
import { consumerName, LANES, parseTaskSubject, TOPOLOGY } from "./topology.js";
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

/** The snapshot plus what only the metrics export: each worker pool's lag. */
export interface QueueView extends QueueSnapshot {
  /**
   * Per pool (named by its consumers `<pool>-<priority>`): num_pending + num_ack_pending over its
   * priority consumers, the lag KEDA's NATS JetStream scaler reads. A pool's consumers exist once
   * ensureTopology made them (the worker at start, or the operator before it starts any worker),
   * and a new consumer counts every matching task already waiting, so a pool whose workers never
   * ran has its true depth here. A pool without consumers has no entry: nothing can be read for it
   * without enumerating tasks, and nothing can consume its tasks until its consumers exist.
   */
  pools: Record<string, number>;
}

const PRIORITY_SUFFIX = new RegExp(`^(.+)-(${PRIORITIES.join("|")})(-overflow)?$`);

/** Pool lag from the work stream's consumers; consumers not named `<pool>-<priority>[-overflow]` are not a pool's. */
export function poolDepths(consumers: readonly Pick<ConsumerInfo, "name" | "num_pending" | "num_ack_pending">[]): Record<string, number> {
  const pools: Record<string, number> = {};
  for (const c of consumers) {
    const pool = PRIORITY_SUFFIX.exec(c.name)?.[1];
    if (pool) pools[pool] = (pools[pool] ?? 0) + c.num_pending + c.num_ack_pending;
  }
  return pools;
}

export class QueueStats {
  constructor(private readonly conn: JetqConnection) {}

  /** Tasks on the work stream (waiting + in flight): what the autoscaler needs, in one cheap call. */
  async depth(): Promise<number> {
    return (await this.conn.jsm.streams.info(TOPOLOGY.tasksStream)).state.messages;
  }

  async snapshot(): Promise<QueueSnapshot> {
    const { pools: _pools, ...snapshot } = await this.view();
    return snapshot;
  }

  /**
   * One pool's lag, as in `view().pools`, from its six consumers alone, one per priority and lane
   * (what the operator reads for one WorkerPool). A consumer that does not exist counts 0: the operator makes a pool's
   * consumers (ensureTopology) before it scales the pool, and from then on they count every
   * waiting task, those published before them included.
   */
  async poolDepth(pool: string): Promise<number> {
    const infos = await Promise.all(
      PRIORITIES.flatMap((p) => LANES.map((lane) => [p, lane] as const)).map(([p, lane]) =>
        this.conn.jsm.consumers.info(TOPOLOGY.tasksStream, consumerName(pool, p, lane)).catch((err: unknown) => {
          if (err instanceof JetStreamApiError && err.status === 404) return null;
          throw err;
        }),
      ),
    );
    return poolDepths(infos.filter((c) => c !== null))[pool] ?? 0;
  }

  /** The snapshot and the pools' lag, from the same reads (one consumer listing serves both). */
  async view(): Promise<QueueView> {
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
      pools: poolDepths(consumers),
    };
  }

  /** The live workers' presence records (a consumer-less scan: this runs at every scrape). */
  async workers(): Promise<WorkerPresence[]> {
    const out = (await scanKv(this.conn.jsm, TOPOLOGY.workersBucket)).map((e) => e.json<WorkerPresence>());
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }
}
