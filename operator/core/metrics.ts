// The operator's Prometheus metrics, on a registry of its own (the operator's /metrics serves only
// these and the process defaults). Names are prefixed jetq_operator_.
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

export type ReconcileOutcome = "success" | "error" | "requeue";
export type ScaleDirection = "up" | "down" | "none";

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: "jetq_operator_reconciles_total",
    help: "Reconciles that ended, by controller and result (success, error, requeue)",
    labelNames: ["controller", "result"],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: "jetq_operator_reconcile_errors_total",
    help: "Reconciles that threw, by controller (each is retried with per-key backoff)",
    labelNames: ["controller"],
    registers: [this.registry],
  });
  readonly workQueueDepth = new Gauge({
    name: "jetq_operator_work_queue_depth",
    help: "Keys waiting in a controller's work queue (not counting delayed or running ones)",
    labelNames: ["controller"],
    registers: [this.registry],
  });
  readonly poolDepthObserved = new Gauge({
    name: "jetq_operator_pool_depth_observed",
    help: "Queue depth (pending + ack pending) last read for a WorkerPool",
    labelNames: ["pool"],
    registers: [this.registry],
  });
  readonly scaleDecisions = new Counter({
    name: "jetq_operator_scale_decisions_total",
    help: "Scaling decisions by WorkerPool and direction (up, down, none)",
    labelNames: ["pool", "direction"],
    registers: [this.registry],
  });
  readonly desiredReplicas = new Gauge({
    name: "jetq_operator_desired_replicas",
    help: "Replicas the autoscaler last asked for, by WorkerPool",
    labelNames: ["pool"],
    registers: [this.registry],
  });
  readonly currentReplicas = new Gauge({
    name: "jetq_operator_current_replicas",
    help: "Replicas the WorkerPool's Deployment had at the last reconcile (its scale's status)",
    labelNames: ["pool"],
    registers: [this.registry],
  });
  readonly maxReplicas = new Gauge({
    name: "jetq_operator_max_replicas",
    help: "The WorkerPool's maxReplicas at the last reconcile",
    labelNames: ["pool"],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: "jetq_operator_leader",
    help: "1 while this replica holds the leader lease, else 0",
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    this.leader.set(0);
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "jetq_operator_" });
  }

  reconciled(controller: string, result: ReconcileOutcome): void {
    this.reconciles.inc({ controller, result });
    if (result === "error") this.reconcileErrors.inc({ controller });
  }

  queueDepth(controller: string, depth: number): void {
    this.workQueueDepth.set({ controller }, depth);
  }

  scaleDecision(pool: string, direction: ScaleDirection, desired: number, observedDepth: number, replicas?: { current: number; max: number }): void {
    this.scaleDecisions.inc({ pool, direction });
    this.desiredReplicas.set({ pool }, desired);
    this.poolDepthObserved.set({ pool }, observedDepth);
    if (replicas) {
      this.currentReplicas.set({ pool }, replicas.current);
      this.maxReplicas.set({ pool }, replicas.max);
    }
  }

  setLeader(isLeader: boolean): void {
    this.leader.set(isLeader ? 1 : 0);
  }

  /** Drops a deleted pool's series so /metrics does not report it for ever. */
  forgetPool(pool: string): void {
    this.poolDepthObserved.remove({ pool });
    this.desiredReplicas.remove({ pool });
    this.currentReplicas.remove({ pool });
    this.maxReplicas.remove({ pool });
    for (const direction of ["up", "down", "none"] as const) this.scaleDecisions.remove({ pool, direction });
  }

  metricsText(): Promise<string> {
    return this.registry.metrics();
  }
}
