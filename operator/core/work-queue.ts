// A keyed work queue shaped like client-go's workqueue with its ItemExponentialFailureRateLimiter:
// keys, not events, so a burst of changes to one object costs one reconcile; a key is never
// reconciled twice at once (a key added while it runs is reconciled once more after it ends);
// a failure requeues the key after base * 2^failures (capped); a success forgets its failures.
import type { Logger } from "../../kernel/logger.js";
import type { OperatorMetrics } from "./metrics.js";

export type ReconcileResult = { requeueAfterMs?: number };

export interface WorkQueueOptions {
  /** The controller's name: metrics label and log context. */
  name: string;
  reconcile: (key: string) => Promise<ReconcileResult | void>;
  /** Keys reconciled at once (different keys only). Default 1. */
  concurrency?: number;
  /** Delay after a key's first failure; doubles with each further one. Default 50 ms. */
  baseDelayMs?: number;
  /** Cap of the failure delay. Default 60 s. */
  maxDelayMs?: number;
  logger: Logger;
  metrics?: OperatorMetrics;
}

export class WorkQueue {
  private readonly name: string;
  private readonly reconcile: WorkQueueOptions["reconcile"];
  private readonly concurrency: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly logger: Logger;
  private readonly metrics?: OperatorMetrics;

  /** Keys ready to run, in order; `dirty` mirrors it plus keys re-added while they run. */
  private readonly ready: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Map<string, Promise<void>>();
  /** addAfter timers: one per key, the earliest wins (as client-go's delaying queue). */
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  /** Workers take keys only while running; keys are accepted before start() too, not after stop(). */
  private running = false;
  private stopped = false;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.reconcile = opts.reconcile;
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    this.baseDelayMs = opts.baseDelayMs ?? 50;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.logger = opts.logger.child({ controller: opts.name });
    this.metrics = opts.metrics;
    if (!(this.baseDelayMs > 0) || !(this.maxDelayMs >= this.baseDelayMs)) {
      throw new RangeError(`work queue ${opts.name}: need 0 < baseDelayMs <= maxDelayMs (got ${this.baseDelayMs}, ${this.maxDelayMs})`);
    }
  }

  /** Keys waiting to run now (not the delayed or running ones). */
  get length(): number {
    return this.ready.length;
  }

  /**
   * Queues a key; a key already waiting stays where it is, a running one runs once more after.
   * Keys added before start() wait for it (an informer's initial list lands before the workers).
   */
  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (!this.processing.has(key)) {
      this.ready.push(key);
      this.reportDepth();
      this.dispatch();
    }
  }

  /** Queues a key after `ms`; a later addAfter of the same key keeps the earlier deadline. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (!(ms > 0)) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.delayed.set(key, { at, timer });
  }

  /** How many times in a row this key has failed (0 after a success). */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopped = false;
    this.dispatch();
  }

  /** Stops taking keys, drops waiting and delayed ones, and resolves when running reconciles end. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.ready.length = 0;
    this.dirty.clear();
    this.failures.clear();
    this.reportDepth();
    await Promise.allSettled([...this.processing.values()]);
  }

  private dispatch(): void {
    while (this.running && this.processing.size < this.concurrency && this.ready.length > 0) {
      const key = this.ready.shift()!;
      this.dirty.delete(key);
      this.processing.set(key, this.process(key));
    }
    this.reportDepth();
  }

  private async process(key: string): Promise<void> {
    // Yield first, so the key is marked as processing before its reconcile runs (a reconcile that
    // adds its own key synchronously must not start a second run of it).
    await Promise.resolve();
    try {
      const result = await this.reconcile(key);
      this.failures.delete(key);
      const requeueAfterMs = result?.requeueAfterMs;
      this.metrics?.reconciled(this.name, requeueAfterMs !== undefined ? "requeue" : "success");
      if (requeueAfterMs !== undefined) this.addAfter(key, requeueAfterMs);
    } catch (err) {
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      const delayMs = this.backoffMs(failures);
      this.metrics?.reconciled(this.name, "error");
      this.logger.warn("reconcile failed; retrying", { key, failures, retryInMs: delayMs, err: errorText(err) });
      this.addAfter(key, delayMs);
    } finally {
      this.processing.delete(key);
      // Re-added while it ran: now it may run again.
      if (this.running && this.dirty.has(key)) this.ready.push(key);
      this.dispatch();
    }
  }

  /** base * 2^(failures-1), capped: the n-th failure in a row waits this long. */
  private backoffMs(failures: number): number {
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(failures - 1, 52));
  }

  private reportDepth(): void {
    this.metrics?.queueDepth(this.name, this.ready.length);
  }
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
