// One attempt at one task: claim it in the state store, run its handler with heartbeats, time
// limits and cancellation, record the outcome, then ack, nak with backoff, or terminate so the
// dead-letter mover takes it. The state record is written before the message is acknowledged,
// so a crash anywhere leaves either a redelivery or a finished record, never a lost task.
import { retryDelayMs } from "../kernel/backoff.js";
import type { WorkerConfig } from "./config.js";
import type { JetqConnection } from "../kernel/connection.js";
import { NonRetryableError, toTaskError, type TaskError } from "../kernel/errors.js";
import type { Logger } from "../kernel/logger.js";
import type { AttemptMetrics } from "../kernel/metrics.js";
import { StaleRevisionError, type StoredTask } from "../kernel/state-store.js";
import type { TaskRecord } from "../kernel/task.js";
import { REVISION_HEADER, type TaskQueue } from "../kernel/task-queue.js";
import { Refusal, transition, type AttemptStamp, type TaskEvent } from "../kernel/transitions.js";
import { countedTenant } from "../kernel/topology.js";
import { EscapedError, type EscapeTarget } from "./escaped-errors.js";
import { TaskAbort, type TaskContext, type TaskHandler } from "./handler.js";
import type { Delivery } from "./pull-source.js";
import { isUnconfirmedPublish } from "../kernel/stream-publisher.js";
import type { TaskLogWriter } from "../kernel/task-logs.js";
import { taskLogger } from "./task-logger.js";

/**
 * How long an attempt keeps re-sending a state write no stream leader confirmed (a clustered
 * bucket elects a new leader in about 5 s after a node dies), and the pause between tries.
 */
const UNCONFIRMED_WRITE_RETRY_MS = 30_000;
const UNCONFIRMED_WRITE_PAUSE_MS = 250;

/** Prefix of the term() reason; the dead-letter mover reads the task id from it. */
export const DEAD_LETTER_REASON = "jetq:dead-letter:";

const decoder = new TextDecoder();

/**
 * Resolves once the event loop has read the I/O that is waiting, for every caller of one turn at
 * once: one setImmediate wakes them all, so what they send next (their acks) leaves in one socket
 * write rather than one each (Node runs microtasks between immediates).
 */
const afterPendingIo = (() => {
  let waiting: (() => void)[] = [];
  const wakeAll = () => {
    const woken = waiting;
    waiting = [];
    for (const resolve of woken) resolve();
  };
  return () => new Promise<void>((resolve) => {
    if (waiting.push(resolve) === 1) setImmediate(wakeAll);
  });
})();

export interface AttemptDeps {
  conn: JetqConnection;
  queue: TaskQueue;
  handlers: ReadonlyMap<string, TaskHandler>;
  config: WorkerConfig;
  maxDeliver: number;
  ackWaitMs: number;
  workerId: string;
  metrics: AttemptMetrics;
  log: Logger;
  /** Where the task's own log goes (null: JETQ_TASK_LOG_LINES=0), and how many lines an attempt may write. */
  taskLogs: TaskLogWriter | null;
  taskLogLines: number;
  /** Whether this worker heard a cancel broadcast for the task recently. */
  wasCancelled(taskId: string): boolean;
}

class HardTimeLimit extends Error {
  readonly code = "hard_time_limit";
}

/** Thrown inside a write when the record turned out to have ended (a cancel, by someone else). */
class CancelledElsewhere extends Error {}

type Outcome = "succeeded" | "retried" | "failed" | "cancelled" | "handed_back" | "skipped";

export class TaskAttempt implements EscapeTarget {
  private current!: StoredTask;
  private writes: Promise<unknown> = Promise.resolve();
  private indexForgotten = false;
  /** "stopped": cancelled or handed back; an Error (hard time limit, escaped error): the attempt fails with it. */
  private stop: (why: "stopped" | Error) => void = () => {};
  private stopped = new Promise<"stopped">((resolve, reject) => (this.stop = (why) => (why === "stopped" ? resolve(why) : reject(why))));
  private stopReason: "cancelled" | "handed_back" | null = null;
  private progressTimer: NodeJS.Timeout | null = null;
  private claimTimer: NodeJS.Timeout | null = null;
  private lastProgressWrite = 0;
  /** The outcome is stored; only the ack (or nak, or term) is left to send. */
  private recorded = false;
  /** The handler (or a stop) has settled the attempt's race: nothing can change its outcome now. */
  private settled = false;
  // Created on first use: most short tasks never touch them, and the hot path pays for each object.
  private controller: AbortController | null = null;
  private logger: Logger | null = null;
  private logContext: Record<string, unknown> = {};
  /** Time limits and heartbeats, checked by the worker's ticker rather than timers per task. */
  private startedAt = 0;
  private lastBeat = 0;
  private softMs = Infinity;
  /** This attempt's number, worker and start, carried by every event it writes. */
  private by: AttemptStamp = { attempt: 0, workerId: "", claimedAt: "" };
  taskId = "";

  constructor(
    private readonly delivery: Delivery,
    private readonly deps: AttemptDeps,
  ) {
    this.stopped.catch(() => undefined); // a hard limit that fires after the race is over is not an error
  }

  get abort(): AbortController {
    return (this.controller ??= new AbortController());
  }

  private get log(): Logger {
    if (this.logger) return this.logger;
    const child = this.deps.log.child(this.logContext);
    const { taskLogs } = this.deps;
    // Before the message is read (a malformed one) there is no task to keep a log for.
    this.logger = taskLogs && this.taskId ? taskLogger(child, { writer: taskLogs, taskId: this.taskId, attempt: () => Number(this.logContext.attempt) || 0, workerId: this.deps.workerId, maxLines: this.deps.taskLogLines }) : child;
    return this.logger;
  }

  /**
   * Called by the worker every few hundred milliseconds while the attempt runs: sends in-progress
   * heartbeats well inside ack_wait, aborts the handler at its soft limit, abandons it at the hard one.
   */
  tick(now: number) {
    if (!this.startedAt || this.stopReason) return;
    if (now - this.lastBeat >= Math.min(this.deps.ackWaitMs / 3, 10_000)) {
      this.lastBeat = now;
      this.delivery.working();
    }
    const elapsed = now - this.startedAt;
    if (elapsed >= this.softMs && !this.controller?.signal.aborted) {
      this.abort.abort(new TaskAbort("soft_time_limit", `soft time limit of ${this.softMs / 1000}s exceeded`));
    }
    if (elapsed >= this.softMs + this.deps.config.hardTimeoutGraceMs) {
      this.stop(new HardTimeLimit(`hard time limit of ${this.softMs / 1000}s + ${this.deps.config.hardTimeoutGraceMs}ms exceeded; attempt abandoned`));
    }
  }

  /** Called when the task is cancelled while this attempt runs: stop waiting for the handler. */
  cancel() {
    if (this.stopReason) return;
    this.stopReason = "cancelled";
    this.abort.abort(new TaskAbort("cancelled", "the task was cancelled"));
    this.stop("stopped");
  }

  /**
   * Called when an error escaped the handler (an uncaught exception or unhandled rejection traced
   * to this attempt): the attempt fails with it, as if the handler had thrown it, instead of the
   * process dying with every task in it.
   */
  escaped(err: Error): boolean {
    if (!this.startedAt || this.stopReason || this.settled) return false;
    // Stopped first, so the attempt fails with this error rather than the handler's reaction to the abort.
    this.stop(new EscapedError(err));
    this.abort.abort(new TaskAbort("failed", `the attempt failed: ${err.message}`));
    return true;
  }

  /**
   * Called by a shutting-down worker past its grace period: give the message back at once. Returns
   * false when there is nothing to give back: the outcome is recorded and its ack is on its way.
   */
  handBack(): boolean {
    if (this.stopReason || this.recorded) return false;
    this.stopReason = "handed_back";
    this.abort.abort(new TaskAbort("shutdown", "the worker is shutting down"));
    this.delivery.nak();
    this.stop("stopped");
    return true;
  }

  async run(): Promise<Outcome> {
    const d = this.delivery;
    let task: TaskRecord;
    try {
      task = JSON.parse(decoder.decode(d.data)) as TaskRecord;
      if (typeof task?.id !== "string" || typeof task.type !== "string") throw new Error("no id or type");
    } catch (err) {
      this.countOffOnSettle(null);
      // Not something jetq published; nothing to record it under. Dropped loudly.
      this.log.error("malformed task message dropped", { subject: d.subject, streamSeq: d.info.streamSeq, error: String(err) });
      d.term("jetq:malformed");
      return "failed";
    }
    this.countOffOnSettle(task);
    this.taskId = task.id;
    this.logContext = { taskId: task.id, type: task.type, attempt: d.info.deliveryCount };

    const claimed = await this.claim(task, d.info.deliveryCount);
    if (claimed !== "claimed") return claimed;
    // The claim may count fewer attempts than deliveries (see attemptNumber).
    const attempt = this.by.attempt;
    this.logContext.attempt = attempt;
    const record = this.current.record;
    const createdAt = Date.parse(record.createdAt);
    if (attempt === 1) this.deps.metrics.queueWait(task.type, Math.max(0, Date.now() - createdAt) / 1000);

    const started = Date.now();
    this.startedAt = this.lastBeat = started;
    this.softMs = record.timeoutSeconds * 1000;

    let outcome: Outcome;
    try {
      const handler = this.deps.handlers.get(task.type);
      if (!handler) throw new NonRetryableError(`no handler for task type ${task.type} on this worker`, "no_handler");
      const result = await Promise.race([handler(this.context(record, attempt)), this.stopped]);
      this.settled = true;
      if (result === "stopped" && this.stopReason) outcome = await this.stopped_();
      else outcome = await this.succeed(result);
    } catch (err) {
      this.settled = true;
      outcome = this.stopReason ? await this.stopped_() : await this.fail(err, attempt);
    } finally {
      this.startedAt = 0; // the ticker leaves it alone from now on
      if (this.progressTimer) clearTimeout(this.progressTimer);
      if (this.claimTimer) clearTimeout(this.claimTimer);
    }
    const seconds = (Date.now() - started) / 1000;
    const ended = outcome === "succeeded" || outcome === "failed" || outcome === "cancelled";
    const completionSeconds = Math.max(0, Date.now() - createdAt) / 1000;
    this.deps.metrics.ended(task.type, outcome, seconds, ended ? { completionSeconds, attempts: attempt } : undefined);
    // Cancels are counted by TaskQueue.cancel, which decides every one.
    if (outcome === "succeeded" || outcome === "failed") this.deps.conn.stats.ended(outcome, completionSeconds);
    // Successes at debug, and only built when debug is on: at thousands of tasks a second an info
    // line each would cost more than the task.
    if (outcome !== "succeeded" && outcome !== "skipped") this.log.info(`attempt ${outcome}`, { seconds });
    else if (this.deps.log.isDebugEnabled()) this.log.debug(`attempt ${outcome}`, { seconds });
    return outcome;
  }

  /**
   * The tenant's backlog counts its unfinished tasks (kernel/tenant-backlog.ts): the message
   * leaving the stream (acked or terminated) takes this one off; a nak or a crash does not.
   */
  private countOffOnSettle(task: TaskRecord | null) {
    const tenant = countedTenant(this.delivery.headers, task);
    if (tenant) this.delivery.onSettled = () => this.deps.conn.backlog.taken(tenant);
  }

  /** Moves the record to running. Fast path: the queued revision travels in a header, so no read. */
  private async claim(task: TaskRecord, delivery: number): Promise<"claimed" | Outcome> {
    const attempt = delivery;
    this.by = { attempt, workerId: this.deps.workerId, claimedAt: new Date().toISOString() };
    const start: TaskEvent = { kind: "start", by: this.by };
    // 0: no state record yet (a fresh task), so the first write creates it; else the revision of
    // the record a replay left, for a compare-and-set on it. Either way no read is needed.
    const revision = Number(this.delivery.headers?.get(REVISION_HEADER) || 0);
    const delay = this.deps.config.runningWriteDelayMs;
    if (attempt === 1 && delay > 0 && !this.deps.wasCancelled(task.id)) {
      // Deferred claim: a task that ends within the delay never shows `running` (as Celery without
      // task_track_started), saving a write per short task. Its final write is still a
      // compare-and-set, so a cancel that landed meanwhile wins.
      // `current` stays the queued record (the message is one) until something is written.
      this.current = { record: task, revision };
      this.claimTimer = setTimeout(() => {
        this.claimTimer = null;
        void this.write(start).catch((err) => {
          if (err instanceof CancelledElsewhere) this.cancel();
          else this.log.warn("running write failed", { error: String(err) });
        });
      }, delay);
      return "claimed";
    }
    if (attempt === 1) {
      try {
        // The message is the queued record (after a replay, a copy of the record at `revision`):
        // nothing in it to refuse; the compare-and-set says whether it still stands.
        const next = transition(null, start, task);
        this.current = { record: next, revision: await this.deps.conn.state.write(next, revision) };
        this.wroteRecord();
        return "claimed";
      } catch (err) {
        if (!(err instanceof StaleRevisionError)) throw err;
      }
    }
    let refused: Refusal | null = null;
    const updated = await this.deps.conn.state.update(task.id, (r) => {
      this.by.attempt = attemptNumber(delivery, r);
      const next = transition(r, start);
      refused = next instanceof Refusal ? next : null; // the last read decides: update() may read again
      return refused ? null : (next as TaskRecord);
    });
    if (!updated) {
      // The record expired or was never written (a publish whose record write was lost): rebuild it.
      this.by.attempt = attemptNumber(delivery, null);
      const next = transition(null, start, task);
      this.current = { record: next, revision: await this.deps.conn.state.create(next) };
      this.wroteRecord();
      return "claimed";
    }
    const s = (refused as Refusal | null)?.status;
    if (s) {
      if (s === "failed" && !updated.record.deadLettered) {
        // A worker wrote `failed` and died before terminating: finish routing it to the DLQ.
        this.delivery.term(`${DEAD_LETTER_REASON}${task.id} ${updated.record.error?.code ?? "failed"}`);
      } else {
        this.delivery.ack(); // cancelled, or already done (an ack that was lost): nothing to run
      }
      this.log.debug(`skipped: task is already ${s}`);
      return "skipped";
    }
    this.current = updated;
    this.wroteRecord();
    return "claimed";
  }

  /**
   * After this attempt's first state write: the task is found by its record now, so its entry in
   * the queued index has served (not awaited: a lost delete leaves an entry lookups pass over).
   */
  private wroteRecord() {
    if (this.indexForgotten) return;
    this.indexForgotten = true;
    this.deps.conn.queued.forget(this.current.record.id);
  }

  private context(record: TaskRecord, attempt: number): TaskContext {
    return new AttemptContext(this, record, attempt);
  }

  /** For AttemptContext: the signal and logger are made on first use. */
  get signal() {
    return this.abort.signal;
  }
  get taskLog() {
    return this.log;
  }
  reportProgress(percent: number, message?: string) {
    this.progress(percent, message);
  }
  async enqueue(spec: Parameters<TaskContext["enqueue"]>[0]) {
    // A chained task belongs to its parent's tenant (absent on old records: the default tenant).
    return (await this.deps.queue.create(spec, { tenant: this.current?.record.tenant })).record;
  }

  private progress(percent: number, message?: string) {
    if (this.stopReason) return;
    const p = { percent: Math.max(0, Math.min(100, Math.round(Number(percent) || 0))), ...(message ? { message: String(message).slice(0, 500) } : {}) };
    const writeNow = () => {
      this.progressTimer = null;
      this.lastProgressWrite = Date.now();
      void this.write({ kind: "progress", by: this.by, progress: p }).catch((err) => {
        if (err instanceof CancelledElsewhere) this.cancel();
        else this.log.warn("progress write failed", { error: String(err) });
      });
    };
    if (this.progressTimer) clearTimeout(this.progressTimer);
    const wait = this.deps.config.progressMinIntervalMs - (Date.now() - this.lastProgressWrite);
    // Throttled, but the latest value always lands (trailing write).
    if (wait <= 0) writeNow();
    else this.progressTimer = setTimeout(writeNow, wait);
  }

  /**
   * Serialised compare-and-set writes from this attempt. If someone else changed the record
   * (a cancel), the change is re-read: a cancel wins, anything else is retried on top.
   */
  private write(event: TaskEvent): Promise<StoredTask> {
    const run = async (): Promise<StoredTask> => {
      // In a cluster, the state bucket's leader may be gone for an election (a NATS node died): an
      // unconfirmed write is sent again until this deadline, not left to a redelivery that would
      // run the handler a second time. A conflict after one may be that very write, stored.
      const giveUpAt = Date.now() + UNCONFIRMED_WRITE_RETRY_MS;
      let unconfirmed: string | null = null;
      // Five conflicts at most; the sixth turn only looks at what the fifth left.
      for (let conflicts = 0; ; ) {
        const next = transition(this.current.record, event);
        // Cancelled (or ended by another delivery of the same task): this attempt's result is moot.
        // The same refusal keeps a late progress write from reopening a task this attempt ended.
        if (next instanceof Refusal) throw new CancelledElsewhere(next.message);
        if (conflicts === 5) throw new StaleRevisionError(this.current.record.id);
        try {
          this.current = { record: next, revision: await this.deps.conn.state.write(next, this.current.revision) };
          this.wroteRecord();
          return this.current;
        } catch (err) {
          if (isUnconfirmedPublish(err) && Date.now() < giveUpAt) {
            unconfirmed = JSON.stringify(next);
            await new Promise((r) => setTimeout(r, UNCONFIRMED_WRITE_PAUSE_MS));
            continue;
          }
          if (!(err instanceof StaleRevisionError)) throw err;
          conflicts++;
          const fresh = await this.deps.conn.state.get(this.current.record.id);
          if (!fresh) throw new CancelledElsewhere("the task's record is gone");
          this.current = fresh;
          if (unconfirmed !== null && JSON.stringify(fresh.record) === unconfirmed) {
            this.wroteRecord();
            return fresh;
          }
          unconfirmed = null;
        }
      }
    };
    const p = this.writes.then(run, run);
    this.writes = p.catch(() => undefined);
    return p;
  }

  private async succeed(result: unknown): Promise<Outcome> {
    if (this.progressTimer) clearTimeout(this.progressTimer);
    if (this.claimTimer) clearTimeout(this.claimTimer);
    try {
      await this.write({ kind: "succeed", by: this.by, result, at: new Date().toISOString() });
      this.recorded = true;
    } catch (err) {
      if (err instanceof CancelledElsewhere) return this.ackCancelled();
      if (/max_payload/.test(String((err as Error)?.message))) {
        // The result can never be stored: running the task again would end the same way.
        const max = this.deps.conn.nc.info?.max_payload;
        const tooLarge = new NonRetryableError(`the handler's result is too large to store (NATS accepts messages up to ${max} bytes); store big results elsewhere and return a reference`, "result_too_large");
        return this.fail(tooLarge, this.by.attempt);
      }
      this.log.error("could not record success; the task will be redelivered", { error: String(err) });
      return "retried";
    }
    // The record is stored and the server is publishing its event. Ack and do the bookkeeping once
    // the event loop has read what else arrived with the write's reply: a listener in this process
    // then sees the end first, and the acks of tasks that finished together go out in one write.
    await afterPendingIo();
    this.delivery.ack();
    return "succeeded";
  }

  private async fail(err: unknown, attempt: number): Promise<Outcome> {
    if (this.claimTimer) clearTimeout(this.claimTimer);
    const te: TaskError = toTaskError(err, attempt);
    const reason = this.controller?.signal.reason;
    if (this.controller?.signal.aborted && reason instanceof TaskAbort && reason.code === "soft_time_limit" && te.code !== "hard_time_limit") {
      te.code = "soft_time_limit";
      te.message = `${reason.message}: ${te.message}`;
    }
    const record = this.current.record;
    // Whether there is a retry is the transition's rule; its delay, if there is one, is ours.
    const delay = retryDelayMs({ baseMs: this.deps.config.backoffBaseMs, maxMs: this.deps.config.backoffMaxMs }, attempt);
    const now = Date.now();
    try {
      const written = await this.write({ kind: "fail", by: this.by, error: te, nextAttemptAt: new Date(now + delay).toISOString(), at: new Date(now).toISOString() });
      this.recorded = true;
      if (written.record.status === "retrying") {
        this.log.warn(`attempt ${attempt} failed (${te.code}: ${te.message}); retrying in ${formatDelay(delay)}`, { error: te, delayMs: delay });
        this.delivery.nak(delay);
        return "retried";
      }
    } catch (writeErr) {
      if (writeErr instanceof CancelledElsewhere) return this.ackCancelled();
      this.log.error("could not record failure; the task will be redelivered", { error: String(writeErr) });
      return "retried";
    }
    this.log.warn(`attempt ${attempt} failed (${te.code}: ${te.message}); ${te.retryable ? "attempts exhausted" : "not retryable"}, dead-lettering`, { error: te });
    if (te.retryable && this.delivery.info.deliveryCount >= this.deps.maxDeliver) {
      // The server's own bound: its MAX_DELIVERIES advisory carries the task to the DLQ.
      this.delivery.nak();
    } else {
      this.delivery.term(`${DEAD_LETTER_REASON}${record.id} ${te.code}`);
    }
    return "failed";
  }

  private async stopped_(): Promise<Outcome> {
    if (this.stopReason === "handed_back") return "handed_back"; // already nak'd
    return this.ackCancelled();
  }

  private ackCancelled(): Outcome {
    this.delivery.ack();
    this.log.info("cancelled");
    return "cancelled";
  }
}

/** What a handler gets. A class, so that making one per task is cheap (no per-object accessors). */
class AttemptContext implements TaskContext {
  readonly id: string;
  readonly type: string;
  readonly payload: unknown;
  readonly maxAttempts: number;
  constructor(
    private readonly attemptOf: TaskAttempt,
    readonly task: TaskRecord,
    readonly attempt: number,
  ) {
    this.id = task.id;
    this.type = task.type;
    this.payload = task.payload;
    this.maxAttempts = task.maxAttempts;
  }
  get signal() {
    return this.attemptOf.signal;
  }
  get log() {
    return this.attemptOf.taskLog;
  }
  // Arrow properties, so `const { progress } = ctx` keeps working.
  readonly progress = (percent: number, message?: string) => this.attemptOf.reportProgress(percent, message);
  readonly enqueue = (spec: Parameters<TaskContext["enqueue"]>[0]) => this.attemptOf.enqueue(spec);
}

const formatDelay = (ms: number) => (ms < 1_000 ? `${ms} ms` : `${(ms / 1_000).toFixed(ms < 10_000 ? 1 : 0)} s`);

/**
 * The number of this attempt: one more than the record shows, never more than the deliveries. A
 * delivery handed back without running (a message held beyond the free slots when a worker
 * stopped) is redelivered with a higher count but was no attempt; a crash mid-attempt was one,
 * because its claim wrote `running` with its number.
 */
export function attemptNumber(delivery: number, record: TaskRecord | null): number {
  return Math.max(1, Math.min(delivery, (record?.attempts ?? 0) + 1));
}
