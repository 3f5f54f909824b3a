// The task model: what a task is, the states it moves through, and what travels on the wire.
import type { TaskError } from "./errors.js";

export const PRIORITIES = ["high", "normal", "low"] as const;
export type Priority = (typeof PRIORITIES)[number];

/** The states a task moves through; kernel/transitions.ts alone decides each move. */
export const TASK_STATUSES = ["queued", "running", "retrying", "succeeded", "failed", "cancelled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set(["succeeded", "failed", "cancelled"]);
export const isTerminal = (s: TaskStatus) => TERMINAL_STATUSES.has(s);

export interface TaskProgress {
  percent: number;
  message?: string;
}

/** What a client asks for; the API validates it against the task-type registry. */
export interface TaskSpec {
  type: string;
  payload: unknown;
  priority?: Priority;
  idempotencyKey?: string;
  maxAttempts?: number;
  timeoutSeconds?: number;
}

/** The message body on the work stream: everything a worker needs to run the task. */
export interface TaskMessage {
  id: string;
  type: string;
  payload: unknown;
  priority: Priority;
  maxAttempts: number;
  timeoutSeconds: number;
  createdAt: string;
  /** Whose task this is (issue #11): absent on records written before tenants, read as DEFAULT_TENANT. */
  tenant?: string;
}

/** The tenant of every caller with JETQ_AUTH=off, and of records written before tenants existed. */
export const DEFAULT_TENANT = "default";

/** The tenant a task belongs to; old records without one belong to DEFAULT_TENANT, so they stay readable. */
export const tenantOf = (r: Pick<TaskMessage, "tenant">): string => r.tenant ?? DEFAULT_TENANT;

/** What a task was queued as: its message, without anything its attempts added to its record. */
export const taskMessageOf = (r: TaskMessage): TaskMessage => ({
  id: r.id,
  type: r.type,
  payload: r.payload,
  priority: r.priority,
  maxAttempts: r.maxAttempts,
  timeoutSeconds: r.timeoutSeconds,
  createdAt: r.createdAt,
  ...(r.tenant !== undefined ? { tenant: r.tenant } : {}),
});

/** The task's state record in KV: what `GET /api/tasks/{id}/status` shows. */
export interface TaskRecord extends TaskMessage {
  status: TaskStatus;
  attempts: number;
  progress: TaskProgress;
  result?: unknown;
  error?: TaskError;
  idempotencyKey?: string;
  startedAt?: string;
  finishedAt?: string;
  /** When a retry is due (status retrying). */
  nextAttemptAt?: string;
  workerId?: string;
  /** How many times the task was replayed out of the dead-letter queue. */
  replays?: number;
  deadLettered?: boolean;
  /** Every failed attempt, oldest first (the newest FAILED_ATTEMPTS_KEPT): written only when one fails. */
  failedAttempts?: FailedAttempt[];
}

/** One failed attempt, as the task page lists it: who ran it, when, and how it ended. */
export interface FailedAttempt {
  attempt: number;
  workerId: string;
  startedAt: string;
  failedAt: string;
  code: string;
  message: string;
  retryable: boolean;
}

/** Failed attempts a record keeps (maxAttempts may be far higher); each message is cut to 1,000 characters. */
export const FAILED_ATTEMPTS_KEPT = 20;
const FAILED_MESSAGE_MAX = 1_000;

/** The record's failed attempts with this one added. */
export function withFailedAttempt(r: TaskRecord, attempt: Omit<FailedAttempt, "message"> & { message: string }): FailedAttempt[] {
  const entry: FailedAttempt = { ...attempt, message: attempt.message.length > FAILED_MESSAGE_MAX ? `${attempt.message.slice(0, FAILED_MESSAGE_MAX)}…` : attempt.message };
  const kept = (r.failedAttempts ?? []).filter((a) => a.attempt !== entry.attempt); // a redelivered attempt's write replaces its own
  kept.push(entry);
  return kept.length > FAILED_ATTEMPTS_KEPT ? kept.slice(-FAILED_ATTEMPTS_KEPT) : kept;
}

/**
 * A copy of `r` with `changes` applied. Object.assign rather than `{ ...r, field: … }`: V8's spread
 * followed by overriding fields measured about 4 µs per record against 0.25 µs, and a worker
 * derives a record or two per task (bench/README.md).
 */
export function withChanges(r: TaskRecord, changes: Partial<TaskRecord>): TaskRecord {
  return Object.assign({}, r, changes);
}

/** The public status view: SPEC's field list, in its order. */
export function statusView(r: TaskRecord) {
  return {
    id: r.id,
    type: r.type,
    priority: r.priority,
    status: r.status,
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    progress: { percent: r.progress.percent, message: r.progress.message ?? null },
    ...(r.result !== undefined ? { result: r.result } : {}),
    ...(r.error ? { error: r.error } : {}),
    createdAt: r.createdAt,
    ...(r.startedAt ? { startedAt: r.startedAt } : {}),
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
    ...(r.nextAttemptAt && r.status === "retrying" ? { nextAttemptAt: r.nextAttemptAt } : {}),
    ...(r.deadLettered ? { deadLettered: true } : {}),
  };
}
