// Every change of a task's state, as one pure function: given the task's current record (or none,
// for a queued task that has no record yet) and what happened, the next record, or a refusal that
// says why not. Every writer (the worker's attempt, cancel, the dead-letter mover, replay out of the
// DLQ) asks it, then writes the answer with its own compare-and-set, so the rules live here once.
// Records are derived with withChanges (one Object.assign, no spread): the worker asks this a
// couple of times per task (kernel/task.ts says why that matters).
import type { TaskError } from "./errors.js";
import { taskMessageOf, TERMINAL_STATUSES, withChanges, withFailedAttempt, type TaskMessage, type TaskProgress, type TaskRecord, type TaskStatus } from "./task.js";

/** The attempt a worker event comes from: every write of one attempt carries the same stamp. */
export interface AttemptStamp {
  /** The delivery number: the attempt's number. */
  attempt: number;
  workerId: string;
  /** When the worker took the task; the record's startedAt unless an earlier attempt set it. */
  claimedAt: string;
}

export type TaskEvent =
  /** A worker takes the task (or writes its deferred `running`). */
  | { kind: "start"; by: AttemptStamp }
  | { kind: "progress"; by: AttemptStamp; progress: TaskProgress }
  | { kind: "succeed"; by: AttemptStamp; result: unknown; at: string }
  /**
   * The attempt failed. A retryable error with attempts left makes the task `retrying`, due at
   * `nextAttemptAt`; a non-retryable one, or the last attempt's, makes it `failed`.
   */
  | { kind: "fail"; by: AttemptStamp; error: TaskError; nextAttemptAt: string; at: string }
  | { kind: "cancel"; at: string }
  /** The dead-letter mover took the task to the DLQ after `attempts` deliveries. */
  | { kind: "dead-letter"; error: TaskError; attempts: number; at: string }
  /** Queued again out of the DLQ, with fresh attempts. */
  | { kind: "replay"; at: string };

export type TaskEventKind = TaskEvent["kind"];

/** Why a transition does not apply: the state the task is in, and a sentence saying so. */
export class Refusal {
  constructor(
    /** `already_ended`: the task ended before this event; `not_failed`: only a failed task replays. */
    readonly reason: "already_ended" | "not_failed",
    readonly status: TaskStatus,
    readonly message: string,
  ) {}
}

const ENDED: ReadonlySet<TaskStatus> = TERMINAL_STATUSES;
/** A failed task is not over for the mover: dead-lettering is how a failure ends. */
const ENDED_FOR_DEAD_LETTER: ReadonlySet<TaskStatus> = new Set(["succeeded", "cancelled"]);

/** The "already ended" rules, written once: the statuses in which each event finds the task over. */
const REFUSED_IN: { readonly [K in Exclude<TaskEventKind, "replay">]: ReadonlySet<TaskStatus> } = {
  start: ENDED,
  progress: ENDED,
  succeed: ENDED,
  fail: ENDED,
  cancel: ENDED,
  "dead-letter": ENDED_FOR_DEAD_LETTER,
};

/**
 * Why `kind` cannot happen to the task as `current` stands, or null if it can. A task with no
 * record (null) is queued, or for a replay was failed and has expired: every event applies to it.
 */
export function refusalOf(current: TaskRecord | null, kind: TaskEventKind): Refusal | null {
  if (!current) return null;
  const s = current.status;
  if (kind === "replay") return s === "failed" ? null : new Refusal("not_failed", s, `is ${s}, not failed`);
  return REFUSED_IN[kind].has(s) ? new Refusal("already_ended", s, `already ended as ${s}`) : null;
}

/**
 * The record after `event`, or why the event does not apply. `current` is the task's record; null
 * when it has none yet (a queued task, or one whose record expired), and then `message`, its
 * message on the work stream or its copy in the DLQ, is what the record is made from.
 */
export function transition(current: TaskRecord, event: TaskEvent): TaskRecord | Refusal;
export function transition(current: null, event: TaskEvent, message: TaskMessage): TaskRecord;
export function transition(current: TaskRecord | null, event: TaskEvent, message?: TaskMessage): TaskRecord | Refusal;
export function transition(current: TaskRecord | null, event: TaskEvent, message?: TaskMessage): TaskRecord | Refusal {
  const refused = refusalOf(current, event.kind);
  if (refused) return refused;
  if (event.kind === "replay") return replayed(current ?? need(message), event.at);
  const r = current ?? queuedRecord(need(message));
  // Each attempt event is written out in full, in one object literal and one Object.assign: this
  // runs once or twice per task on the worker's hot path. All carry the running attempt's fields.
  switch (event.kind) {
    case "start":
      return withChanges(r, { status: "running", attempts: event.by.attempt, startedAt: r.startedAt ?? event.by.claimedAt, workerId: event.by.workerId, nextAttemptAt: undefined });
    case "progress":
      return withChanges(r, { status: "running", attempts: event.by.attempt, startedAt: r.startedAt ?? event.by.claimedAt, workerId: event.by.workerId, nextAttemptAt: undefined, progress: event.progress });
    case "succeed":
      return withChanges(r, {
        status: "succeeded",
        attempts: event.by.attempt,
        startedAt: r.startedAt ?? event.by.claimedAt,
        workerId: event.by.workerId,
        nextAttemptAt: undefined,
        result: event.result ?? null,
        error: undefined,
        // Not the handler's last message ("read page 1 of 3"): that described work now finished.
        progress: { percent: 100, message: "done" },
        finishedAt: event.at,
      });
    case "fail": {
      const failedAttempts = withFailedAttempt(r, { attempt: event.by.attempt, workerId: event.by.workerId, startedAt: event.by.claimedAt, failedAt: event.at, code: event.error.code, message: event.error.message, retryable: event.error.retryable });
      return event.error.retryable && event.by.attempt < r.maxAttempts
        ? withChanges(r, { status: "retrying", attempts: event.by.attempt, startedAt: r.startedAt ?? event.by.claimedAt, workerId: event.by.workerId, nextAttemptAt: event.nextAttemptAt, error: event.error, failedAttempts })
        : withChanges(r, { status: "failed", attempts: event.by.attempt, startedAt: r.startedAt ?? event.by.claimedAt, workerId: event.by.workerId, nextAttemptAt: undefined, error: event.error, finishedAt: event.at, failedAttempts });
    }
    case "cancel":
      return withChanges(r, { status: "cancelled", finishedAt: event.at });
    case "dead-letter":
      return withChanges(r, {
        status: "failed",
        error: event.error,
        attempts: Math.max(r.attempts, event.attempts),
        deadLettered: true,
        finishedAt: r.finishedAt ?? event.at,
      });
  }
}

/** A task as it was queued, with nothing of its attempts, result or replays but the count. */
function replayed(base: TaskRecord | TaskMessage, at: string): TaskRecord {
  return {
    ...taskMessageOf(base),
    status: "queued",
    attempts: 0,
    progress: { percent: 0, message: `replayed from the dead-letter queue at ${at}` },
    replays: ((base as Partial<TaskRecord>).replays ?? 0) + 1,
  };
}

/** The record a queued task's message stands for (the message published by create is one already). */
function queuedRecord(m: TaskMessage): TaskRecord {
  const r = m as Partial<TaskRecord>;
  if (r.status === "queued" && r.attempts !== undefined && r.progress) return m as TaskRecord; // no copy on the hot path
  return withChanges(m as TaskRecord, { status: "queued", attempts: r.attempts ?? 0, progress: r.progress ?? { percent: 0 } });
}

function need(message: TaskMessage | undefined): TaskMessage {
  if (!message) throw new TypeError("a task with no state record needs its message to make one");
  return message;
}
