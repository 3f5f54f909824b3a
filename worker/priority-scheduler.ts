// Which priority a worker tries first on each pull. JetStream has no per-message priority, so
// each priority has its own consumer; a smooth weighted round-robin (nginx's) decides the order.
// With weights 6:3:1, high leads 6 pulls in 10, normal 3 and low 1, so under sustained high load
// low still moves, and when high is empty the others get everything.
import { PRIORITIES, type Priority } from "../kernel/task.js";

export class PriorityScheduler {
  private readonly current: Record<Priority, number> = { high: 0, normal: 0, low: 0 };
  private readonly total: number;

  constructor(private readonly weights: Record<Priority, number>) {
    this.total = PRIORITIES.reduce((n, p) => n + weights[p], 0);
  }

  /** The order to try priorities in for the next pull: the chosen one, then the rest high to low. */
  nextOrder(): Priority[] {
    let best: Priority = "high";
    for (const p of PRIORITIES) {
      this.current[p] += this.weights[p];
      if (this.current[p] > this.current[best]) best = p;
    }
    this.current[best] -= this.total;
    return [best, ...PRIORITIES.filter((p) => p !== best)];
  }
}
