// Prometheus metrics shared by api and workers. Each process has its own registry; names and
// labels are the same everywhere, so dashboards and the operator's queries work across them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { QueueStats, QueueView } from "./queue-stats.js";
import { PRIORITIES } from "./task.js";

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export function createMetrics(component: "api" | "worker" | "operator") {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: "jetq_process_" });

  return {
    registry,
    // Counted by TaskQueue in the process that put the task on the work stream (API or worker):
    // sum over every process is the arrival rate.
    tasksCreated: new Counter({
      name: "jetq_tasks_created_total",
      help: "Tasks put on the work stream, by type and priority: created over HTTP, by handlers or the sync scheduler, or replayed from the dead-letter queue (each replay counts once)",
      labelNames: ["type", "priority"],
      registers: [registry],
    }),
    tasksFinished: new Counter({
      name: "jetq_tasks_total",
      help: "Task attempts that ended, by type and outcome (succeeded, retried, failed, cancelled)",
      labelNames: ["type", "outcome"],
      registers: [registry],
    }),
    taskDuration: new Histogram({ name: "jetq_task_duration_seconds", help: "Handler run time of one attempt", labelNames: ["type", "outcome"], buckets: DURATION_BUCKETS, registers: [registry] }),
    taskCompletion: new Histogram({ name: "jetq_task_completion_seconds", help: "From creation to the end state (the SPEC's completion time)", labelNames: ["type", "outcome"], buckets: DURATION_BUCKETS, registers: [registry] }),
    queueWait: new Histogram({ name: "jetq_task_queue_wait_seconds", help: "From creation to the first start", labelNames: ["type"], buckets: DURATION_BUCKETS, registers: [registry] }),
    attempts: new Histogram({ name: "jetq_task_attempts", help: "Attempts a task took to end", labelNames: ["type", "outcome"], buckets: [1, 2, 3, 4, 5, 7, 10, 20], registers: [registry] }),
    // Labelled by worker id so the operator can tell busy pods from idle ones.
    busySlots: new Gauge({ name: "jetq_worker_busy_slots", help: "Task slots in use, by worker", labelNames: ["worker"], registers: [registry] }),
    slots: new Gauge({ name: "jetq_worker_slots", help: "Task slots (concurrency), by worker", labelNames: ["worker"], registers: [registry] }),
    utilisation: new Gauge({ name: "jetq_worker_utilisation", help: "Busy slots / slots, by worker", labelNames: ["worker"], registers: [registry] }),
    deadLettered: new Counter({ name: "jetq_dead_lettered_total", help: "Tasks moved to the dead-letter queue, by type and reason", labelNames: ["type", "reason"], registers: [registry] }),
    httpDuration: new Histogram({
      name: "jetq_http_request_duration_seconds",
      help: "HTTP request duration by method, route and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  };
}

export type JetqMetrics = ReturnType<typeof createMetrics>;

/**
 * The queue-level gauges, read from JetStream at scrape time (the API exports them; the operator
 * may too). Every replica reading the same NATS reports the same values: aggregate them with
 * `max without(instance, pod)`, not `sum`. Depth totals and breakdowns are separate metrics, so
 * `sum(jetq_queue_depth_by_priority)` and `sum(jetq_queue_depth_by_type)` each equal
 * `jetq_queue_depth`. One JetStream read serves every gauge of a scrape.
 */
export function registerQueueGauges(metrics: JetqMetrics, stats: QueueStats) {
  let pending: Promise<QueueView> | null = null;
  const view = () => (pending ??= stats.view().finally(() => setTimeout(() => (pending = null), 500)));
  const registers = [metrics.registry];
  new Gauge({ name: "jetq_queue_depth", help: "Tasks on the work stream (waiting + in flight)", registers, async collect() { this.set((await view()).depth); } });
  new Gauge({
    name: "jetq_queue_depth_by_priority",
    help: "Tasks on the work stream (waiting + in flight), by priority; sums to jetq_queue_depth",
    labelNames: ["priority"],
    registers,
    async collect() {
      const v = await view();
      for (const p of PRIORITIES) this.set({ priority: p }, v.byPriority[p]);
    },
  });
  new Gauge({
    name: "jetq_queue_depth_by_type",
    help: "Tasks on the work stream (waiting + in flight), by task type; sums to jetq_queue_depth",
    labelNames: ["type"],
    registers,
    async collect() {
      const v = await view();
      this.reset(); // a type with nothing queued drops out rather than staying at its last value
      for (const [t, n] of Object.entries(v.byType)) this.set({ type: t }, n);
    },
  });
  new Gauge({
    name: "jetq_pool_depth",
    help: "A worker pool's lag: num_pending + num_ack_pending over its priority consumers (as KEDA's NATS JetStream scaler counts); what a WorkerPool scales on",
    labelNames: ["pool"],
    registers,
    async collect() {
      const v = await view();
      this.reset();
      for (const [pool, n] of Object.entries(v.pools)) this.set({ pool }, n);
    },
  });
  new Gauge({ name: "jetq_tasks_in_flight", help: "Tasks held by workers (ack pending)", registers, async collect() { this.set((await view()).inFlight); } });
  new Gauge({ name: "jetq_dlq_depth", help: "Dead-lettered tasks", registers, async collect() { this.set((await view()).deadLettered); } });
  new Gauge({ name: "jetq_workers", help: "Workers reporting presence", registers, async collect() { this.set((await view()).workers.count); } });
  new Gauge({ name: "jetq_workers_utilisation", help: "Busy slots / slots over all workers", registers, async collect() { this.set((await view()).workers.utilisation); } });
  // Per live worker, from the presence records: a worker that stops reporting drops out, so the
  // label set stays as large as the pool.
  new Gauge({
    name: "jetq_worker_busy",
    help: "Busy task slots each live worker last reported in its presence record",
    labelNames: ["worker", "pool"],
    registers,
    async collect() {
      const v = await view();
      this.reset();
      for (const w of v.workers.list) this.set({ worker: w.id, pool: w.pool }, w.busy);
    },
  });
  new Gauge({
    name: "jetq_worker_concurrency",
    help: "Task slots each live worker last reported in its presence record",
    labelNames: ["worker", "pool"],
    registers,
    async collect() {
      const v = await view();
      this.reset();
      for (const w of v.workers.list) this.set({ worker: w.id, pool: w.pool }, w.concurrency);
    },
  });
}

/**
 * Records one attempt's outcome. Label children are cached per (type, outcome): otherwise
 * prom-client hashes a label object on every call, a measurable cost at thousands of tasks a second.
 */
export class AttemptMetrics {
  private readonly children = new Map<string, ReturnType<AttemptMetrics["make"]>>();
  private readonly waits = new Map<string, ReturnType<JetqMetrics["queueWait"]["labels"]>>();
  constructor(private readonly m: JetqMetrics) {}

  queueWait(type: string, seconds: number) {
    let w = this.waits.get(type);
    if (!w) this.waits.set(type, (w = this.m.queueWait.labels({ type })));
    w.observe(seconds);
  }

  ended(type: string, outcome: string, durationSeconds: number, final?: { completionSeconds: number; attempts: number }) {
    const key = `${type}\u0000${outcome}`;
    let c = this.children.get(key);
    if (!c) this.children.set(key, (c = this.make(type, outcome)));
    c.duration.observe(durationSeconds);
    c.finished.inc();
    if (final) {
      c.completion.observe(final.completionSeconds);
      c.attempts.observe(final.attempts);
    }
  }

  private make(type: string, outcome: string) {
    const labels = { type, outcome };
    return {
      duration: this.m.taskDuration.labels(labels),
      finished: this.m.tasksFinished.labels(labels),
      completion: this.m.taskCompletion.labels(labels),
      attempts: this.m.attempts.labels(labels),
    };
  }
}
