// What main.ts starts when this replica leads and stops when it loses the lease.
export interface Controller {
  /** A short stable name: the metrics label and the log context. */
  name: string;
  /** Resolves once the controller's informers have synced and its workers run. */
  start(): Promise<void>;
  /** Stops watching and waits for running reconciles to finish. */
  stop(): Promise<void>;
}
