// Prometheus metrics shared by api and workers. Each process has its own registry; names and
// labels are the same everywhere, so dashboards and the operator's queries work across them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export function createMetrics(component: "api" | "worker" | "operator") {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: "jetq_process_" });

  return {
    registry,
    tasksCreated: new Counter({ name: "jetq_tasks_created_total", help: "Tasks accepted, by type and priority", labelNames: ["type", "priority"], registers: [registry] }),
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
    busySlots: new Gauge({ name: "jetq_worker_busy_slots", help: "Task slots in use", registers: [registry] }),
    slots: new Gauge({ name: "jetq_worker_slots", help: "Task slots (concurrency)", registers: [registry] }),
    utilisation: new Gauge({ name: "jetq_worker_utilisation", help: "Busy slots / slots", registers: [registry] }),
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
