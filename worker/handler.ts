// What a task handler sees. Handlers are plain async functions registered per task type.
import type { z } from "zod";
import type { Logger } from "../kernel/logger.js";
import type { TaskMessage, TaskRecord, TaskSpec } from "../kernel/task.js";

export interface TaskContext<P = unknown> {
  id: string;
  type: string;
  payload: P;
  task: TaskMessage;
  /** 1 on the first attempt. */
  attempt: number;
  maxAttempts: number;
  /**
   * Aborted when the task should stop: its soft time limit passed, it was cancelled, or the
   * worker is shutting down past its grace period. `signal.reason` says which.
   */
  signal: AbortSignal;
  /** Reports progress (0–100) with an optional message; writes are throttled, the last one always lands. */
  progress(percent: number, message?: string): void;
  /** A logger whose every line carries the task id. */
  log: Logger;
  /** Enqueues a follow-up task (validated like any other). */
  enqueue(spec: TaskSpec): Promise<TaskRecord>;
}

export type TaskHandler<P = any> = (ctx: TaskContext<P>) => Promise<unknown>;

/**
 * A handler typed by its task type's payload schema: `ctx.payload` is what the schema accepted
 * (the API and `ctx.enqueue` validate every payload against it before a task is queued).
 */
export type HandlerFor<S extends z.ZodType> = TaskHandler<z.output<S>>;

/** One handler per task type of a name → payload schema map, each typed by its own schema. */
export type HandlersFor<M extends Record<string, z.ZodType>> = { [T in keyof M]: HandlerFor<M[T]> };

/** Reasons carried by `ctx.signal.reason`. */
export class TaskAbort extends Error {
  /** `failed`: an error escaped the handler and failed the attempt; stop and clean up. */
  constructor(readonly code: "soft_time_limit" | "cancelled" | "shutdown" | "failed", message: string) {
    super(message);
    this.name = "TaskAbort";
  }
}
