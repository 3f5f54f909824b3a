// Errors that escape a handler — thrown from a timer or an event callback, or a rejected promise
// nobody awaits — would by default end the process, and with it every task it runs (a worker
// dying on every delivery of one bad task). Here such an error fails the attempt that caused it
// when that can be told, and is logged either way; the process stays up.
//
// Telling which attempt caused it: with one attempt running in the process, it is that one.
// With several, it cannot be told without AsyncLocalStorage, whose promise hooks double the cost
// of every await on Node 20 (measured), so the error is logged and the attempt that caused it,
// whose promise then usually never settles, ends at its time limit like any stuck handler.
import type { Logger } from "../kernel/logger.js";

export interface EscapeTarget {
  readonly taskId: string;
  /** Fails the attempt with `err`; false when it had already ended. */
  escaped(err: Error): boolean;
}

class EscapedErrorGuard {
  private readonly running = new Set<EscapeTarget>();
  private installs = 0;
  private log: Logger | null = null;
  private readonly onException = (err: unknown) => this.handle(err, "uncaught exception");
  private readonly onRejection = (reason: unknown) => this.handle(reason, "unhandled rejection");

  /** Called by every Worker that starts in this process; the listeners are added once. */
  install(log: Logger): void {
    if (this.installs++ > 0) return;
    this.log = log;
    process.on("uncaughtException", this.onException);
    process.on("unhandledRejection", this.onRejection);
  }

  uninstall(): void {
    if (this.installs === 0 || --this.installs > 0) return;
    process.off("uncaughtException", this.onException);
    process.off("unhandledRejection", this.onRejection);
  }

  enter(attempt: EscapeTarget): void {
    this.running.add(attempt);
  }

  leave(attempt: EscapeTarget): void {
    this.running.delete(attempt);
  }

  private handle(raw: unknown, kind: string): void {
    const err = raw instanceof Error ? raw : new Error(String(raw));
    const [only] = this.running.size === 1 ? this.running : [];
    const failed = only ? only.escaped(err) : false;
    this.log?.error(`${kind} outside any awaited promise; the process carries on`, {
      error: err.message,
      stack: err.stack,
      ...(failed ? { failedTask: only!.taskId } : { runningTasks: this.running.size }),
    });
  }
}

/** One per process: process-wide events need a process-wide listener. */
export const escapedErrors = new EscapedErrorGuard();

/** What an attempt fails with when an error escaped its handler. Retryable: its cause is unknown. */
export class EscapedError extends Error {
  readonly code = "uncaught_error";
  constructor(cause: Error) {
    super(`an error escaped the handler (thrown outside the promise it returned): ${cause.message}`, { cause });
    this.name = "EscapedError";
  }
}
