// Where a WorkerPool's depth comes from: pending plus ack-pending tasks of the pool's task types.
// One implementation per file (prometheus.ts, jetstream.ts), like KEDA's scalers.
import type { DepthSourceName, WorkerPool } from "../core/resources.js";

export interface DepthSource {
  name: DepthSourceName;
  /** The pool's depth now; throws DepthUnavailableError (or any error) when it cannot say. */
  depth(pool: WorkerPool): Promise<number>;
}

/** A source that could not answer: the message says why, for the pool's condition and events. */
export class DepthUnavailableError extends Error {
  constructor(
    readonly source: DepthSourceName,
    message: string,
  ) {
    super(message);
    this.name = "DepthUnavailableError";
  }
}
