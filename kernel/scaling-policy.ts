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
}

export interface Recommendation {
  at: number;
  replicas: number;
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
  recommended = Math.min(bounds.maxReplicas, Math.max(recommended === 0 && bounds.scaleToZero ? 0 : min, recommended));

  const keep = Math.max(bounds.scaleUpWindowMs, bounds.scaleDownWindowMs);
  const history = [...input.history.filter((r) => now - r.at <= keep), { at: now, replicas: recommended }];
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
  // Bounds win over everything, including a current count someone set by hand.
  desired = Math.min(bounds.maxReplicas, Math.max(desired, recommended === 0 && bounds.scaleToZero && desired === 0 ? 0 : min));
  return { desiredReplicas: desired, recommended, history, reason };
}
