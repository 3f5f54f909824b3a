// The pure half of the WorkerPool controller: a pool's spec as the kernel's scaling bounds, and
// what its status conditions say about a reconcile. No I/O, so it is unit-tested on its own.
import type { Recommendation, ScalingBounds } from "../../kernel/scaling-policy.js";
import { setCondition, type ConditionInput } from "../core/conditions.js";
import type { Condition, DepthSourceName, WorkerPoolSpec } from "../core/resources.js";

/** The CRD's defaults, for objects written before a default existed (the API server fills them in). */
export const POOL_DEFAULTS = { minReplicas: 0, targetBacklogPerReplica: 10, activationBacklog: 0, pollingIntervalSeconds: 5, scaleUpWindowSeconds: 0, scaleDownWindowSeconds: 300 } as const;

export const pollingIntervalMs = (spec: WorkerPoolSpec) => Math.max(1, spec.pollingIntervalSeconds ?? POOL_DEFAULTS.pollingIntervalSeconds) * 1000;

/**
 * The spec as the kernel's scaling policy reads it (the same function sizes `npm start`'s local
 * pool). minReplicas 0 means scale to zero; maxStep counts per polling interval, like the HPA's
 * `Pods` policy counts per period.
 */
export function scalingBounds(spec: WorkerPoolSpec): ScalingBounds {
  const minReplicas = spec.minReplicas ?? POOL_DEFAULTS.minReplicas;
  return {
    minReplicas,
    maxReplicas: spec.maxReplicas,
    targetBacklogPerReplica: spec.targetBacklogPerReplica ?? POOL_DEFAULTS.targetBacklogPerReplica,
    scaleToZero: minReplicas === 0,
    scaleUpWindowMs: (spec.scaleUp?.stabilizationWindowSeconds ?? POOL_DEFAULTS.scaleUpWindowSeconds) * 1000,
    scaleDownWindowMs: (spec.scaleDown?.stabilizationWindowSeconds ?? POOL_DEFAULTS.scaleDownWindowSeconds) * 1000,
    activationBacklog: spec.activationBacklog ?? POOL_DEFAULTS.activationBacklog,
    ...(spec.scaleUp?.maxStep !== undefined ? { maxStep: spec.scaleUp.maxStep, maxStepPeriodMs: pollingIntervalMs(spec) } : {}),
  };
}

/**
 * A pool the controller has no history for (new, or after a restart or a change of leader) starts
 * from the replicas it has, as the HPA does: no scale-down until a whole window has passed.
 */
export function historyOrSeed(history: Recommendation[], now: number, currentReplicas: number): Recommendation[] {
  return history.length > 0 ? history : [{ at: now, replicas: currentReplicas, current: currentReplicas }];
}

/** How this reconcile got its depth. */
export interface DepthReading {
  depth: number;
  source: DepthSourceName;
  /** Prometheus was asked and failed with this (the reading then came from JetStream). */
  prometheusError?: string;
  /** Prometheus was not asked: no URL for this pool. */
  prometheusConfigured: boolean;
  /** A burst reading: JetStream on purpose, because Prometheus cannot have scraped the burst yet. */
  burst: boolean;
}

export const DEPTH_SOURCE_HEALTHY = "DepthSourceHealthy";
export const READY = "Ready";
export const SCALING_LIMITED = "ScalingLimited";

/** DepthSourceHealthy for a reading; undefined for a burst reading, which says nothing of Prometheus. */
export function depthSourceCondition(r: DepthReading, prometheusUrl: string | undefined): ConditionInput | undefined {
  if (r.burst) return undefined;
  if (!r.prometheusConfigured) {
    return { type: DEPTH_SOURCE_HEALTHY, status: "True", reason: "JetStreamOnly", message: "no Prometheus URL (spec.prometheus.url or JETQ_PROMETHEUS_URL): depth read from JetStream" };
  }
  if (r.prometheusError !== undefined) {
    return { type: DEPTH_SOURCE_HEALTHY, status: "False", reason: "PrometheusUnavailable", message: `Prometheus at ${prometheusUrl}: ${r.prometheusError}; depth read from JetStream instead` };
  }
  return { type: DEPTH_SOURCE_HEALTHY, status: "True", reason: "PrometheusHealthy", message: `depth read from Prometheus at ${prometheusUrl}` };
}

/** ScalingLimited: the backlog asks for more than the pool may have (maxReplicas) or may add now (maxStep). */
export function scalingLimitedCondition(spec: WorkerPoolSpec, depth: number, desired: number, currentReplicas: number, reason: string): ConditionInput {
  const target = Math.max(1, spec.targetBacklogPerReplica ?? POOL_DEFAULTS.targetBacklogPerReplica);
  const wanted = Math.ceil(Math.max(0, depth) / target);
  if (wanted > spec.maxReplicas && desired >= spec.maxReplicas) {
    return { type: SCALING_LIMITED, status: "True", reason: "TooManyReplicas", message: `backlog ${depth} wants ${wanted} replicas; maxReplicas is ${spec.maxReplicas}` };
  }
  if (/maxStep/.test(reason) && desired > currentReplicas) {
    return { type: SCALING_LIMITED, status: "True", reason: "ScaleUpLimited", message: `${reason}: ${currentReplicas} → ${desired} this interval` };
  }
  return { type: SCALING_LIMITED, status: "False", reason: "DesiredWithinRange", message: "the desired replica count is within the pool's bounds" };
}

export function applyConditions(conditions: Condition[] | undefined, inputs: (ConditionInput | undefined)[], generation: number, now: Date): Condition[] {
  let out = conditions ?? [];
  for (const c of inputs) if (c) out = setCondition(out, c, generation, now);
  return out;
}
