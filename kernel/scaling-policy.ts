// The scaling policy, as a pure function: queue depth + bounds + recent history → desired replicas.
// One algorithm, two actuators: the local pool behind `npm start` and the operator's WorkerPool.
// Shaped like the Kubernetes HPA / KEDA: desired = ceil(depth / target), clamped, stabilised.

export interface ScalingBounds {
  minReplicas: number;
  maxReplicas: number;
  /** Tasks (waiting + in flight) one replica is expected to carry. */
  targetBacklogPerReplica: number;
  /** Allow 0 replicas when there is no work at all (else minReplicas is at least 1 for scale-from-zero safety). */
  scaleToZero: boolean;
  /** Look-back windows: scale up to the lowest, and down to the highest, recommendation seen in them. */
  scaleUpWindowMs: number;
  scaleDownWindowMs: number;
  /**
   * At most this many replicas added within any `maxStepPeriodMs` (the HPA's "Pods" scale-up
   * policy); unset: a scale-up goes to its target at once.
   */
  maxStep?: number;
  maxStepPeriodMs?: number;
  /** A pool at zero starts only when depth exceeds this (KEDA's activation threshold); default 0. */
  activationBacklog?: number;
}

export interface Recommendation {
  at: number;
  replicas: number;
  /** The replicas there were when it was made: the base maxStep counts from. */
  current?: number;
}

export interface ScalingDecision {
  desiredReplicas: number;
  /** The raw recommendation before stabilisation. */
  recommended: number;
  /** Recommendations still inside the longest window: feed back in next time. */
  history: Recommendation[];
  reason: string;
}

export function desiredReplicas(
  input: { depth: number; currentReplicas: number; now: number; history: Recommendation[] },
  bounds: ScalingBounds,
): ScalingDecision {
  const { depth, currentReplicas, now } = input;
  const floor = bounds.scaleToZero ? 0 : Math.max(1, bounds.minReplicas);
  const min = Math.min(Math.max(bounds.minReplicas, floor), bounds.maxReplicas);
  let recommended = Math.ceil(Math.max(0, depth) / Math.max(1, bounds.targetBacklogPerReplica));
  // Work waiting always gets at least one replica, even when scale-to-zero put the pool at zero.
  if (depth > 0) recommended = Math.max(recommended, 1);
  if (depth === 0 && bounds.scaleToZero) recommended = 0;
  // A pool at zero stays there until the backlog is worth starting for (activation).
  if (bounds.scaleToZero && currentReplicas === 0 && depth <= (bounds.activationBacklog ?? 0)) recommended = 0;
  recommended = Math.min(bounds.maxReplicas, Math.max(recommended === 0 && bounds.scaleToZero ? 0 : min, recommended));

  const stepPeriod = bounds.maxStep === undefined ? 0 : (bounds.maxStepPeriodMs ?? 0);
  const keep = Math.max(bounds.scaleUpWindowMs, bounds.scaleDownWindowMs, stepPeriod);
  const history = [...input.history.filter((r) => now - r.at <= keep), { at: now, replicas: recommended, current: currentReplicas }];
  const inWindow = (w: number) => history.filter((r) => now - r.at <= w).map((r) => r.replicas);

  let desired = currentReplicas;
  let reason = "steady";
  if (recommended > currentReplicas) {
    desired = Math.max(currentReplicas, Math.min(...inWindow(bounds.scaleUpWindowMs)));
    reason = desired > currentReplicas ? `backlog ${depth} wants ${recommended}` : "scale-up held by stabilisation window";
  } else if (recommended < currentReplicas) {
    desired = Math.min(currentReplicas, Math.max(...inWindow(bounds.scaleDownWindowMs)));
    reason = desired < currentReplicas ? `backlog ${depth} needs only ${recommended}` : "scale-down held by stabilisation window";
  }
  if (bounds.maxStep !== undefined && desired > currentReplicas) {
    // Counted from the fewest replicas in the period, so steps taken in it add up to maxStep.
    const base = Math.min(...history.filter((r) => r.current !== undefined && now - r.at <= stepPeriod).map((r) => r.current!));
    const limit = Math.max(currentReplicas, base + bounds.maxStep);
    if (desired > limit) {
      desired = limit;
      reason = `backlog ${depth} wants ${recommended}, limited by maxStep ${bounds.maxStep}`;
    }
  }
  // Bounds win over everything, including a current count someone set by hand.
  desired = Math.min(bounds.maxReplicas, Math.max(desired, recommended === 0 && bounds.scaleToZero && desired === 0 ? 0 : min));
  return { desiredReplicas: desired, recommended, history, reason };
}
