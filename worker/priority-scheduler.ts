// Which priority, and within it which lane, a worker tries first on each pull. JetStream has no
// per-message priority, so each priority has its own consumers; a smooth weighted round-robin
// (nginx's) decides the order. With weights 6:3:1, high leads 6 pulls in 10, normal 3 and low 1, so
// under sustained high load low still moves, and when high is empty the others get everything.
// Within a priority the same round-robin orders the fair-share lanes (kernel/topology.ts LANES):
// the shared lane leads 3 pulls in 4, so a tenant's flood in the overflow lane still moves.
import { PRIORITIES, type Priority } from "../kernel/task.js";
import { LANES, type Lane } from "../kernel/topology.js";

/** Smooth weighted round-robin over a fixed set of keys. */
export class WeightedOrder<K extends string> {
  private readonly current: Record<K, number>;
  private readonly total: number;

  constructor(
    private readonly weights: Record<K, number>,
    private readonly keys: readonly K[],
  ) {
    this.current = Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
    this.total = keys.reduce((n, k) => n + weights[k], 0);
  }

  /** The order to try keys in for the next pull: the chosen one, then the rest in their given order. */
  next(): K[] {
    let best = this.keys[0]!;
    for (const k of this.keys) {
      this.current[k] += this.weights[k];
      if (this.current[k] > this.current[best]) best = k;
    }
    this.current[best] -= this.total;
    return [best, ...this.keys.filter((k) => k !== best)];
  }
}

/** The shared lane's share of pulls when both lanes of a priority have work. */
export const LANE_WEIGHTS: Record<Lane, number> = { shared: 3, overflow: 1 };

export class PriorityScheduler {
  private readonly priorities: WeightedOrder<Priority>;
  private readonly lanes: Record<Priority, WeightedOrder<Lane>>;

  constructor(weights: Record<Priority, number>) {
    this.priorities = new WeightedOrder(weights, PRIORITIES);
    this.lanes = Object.fromEntries(PRIORITIES.map((p) => [p, new WeightedOrder(LANE_WEIGHTS, LANES)])) as Record<Priority, WeightedOrder<Lane>>;
  }

  /** The order to try priorities in for the next pull: the chosen one, then the rest high to low. */
  nextOrder(): Priority[] {
    return this.priorities.next();
  }

  /** The order to try a priority's lanes in, each time that priority is pulled from. */
  laneOrder(priority: Priority): Lane[] {
    return this.lanes[priority].next();
  }
}
