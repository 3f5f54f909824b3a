// The CLI's exit codes, one table (README "Command line" lists them): what a script can branch on.
import { JetqClientError } from "../client/errors.js";
import type { TaskStatus } from "../kernel/task.js";

export const EXIT = {
  /** Done; with --wait or watch: the task succeeded. */
  ok: 0,
  /** The task (or a book's task) ended failed. */
  taskFailed: 1,
  /** Unknown command, bad flag or value, unreadable --payload or file. */
  usage: 2,
  /** The task (or a book's task) was cancelled. */
  taskCancelled: 3,
  /** The API refused the request: not found, invalid, conflict (a 4xx other than 401/403). */
  refused: 4,
  /** The API could not be reached or could not serve it: connection failed, 5xx, an answer that is not jetq's. */
  unavailable: 5,
  /** The API wants a (different) key: 401 or 403. */
  unauthorised: 6,
  /** The CLI itself failed unexpectedly (a bug: the message says what). */
  internal: 70,
  /** Interrupted (Ctrl-C) while waiting; the task goes on. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A mistake in how the CLI was called, found after parsing (a file that cannot be read…). */
export class UsageError extends Error {}

/** The exit code for an error a command ended with. */
export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof JetqClientError) {
    if (err.status === 401 || err.status === 403) return EXIT.unauthorised;
    if (err.status >= 400 && err.status < 500) return EXIT.refused;
    return EXIT.unavailable; // 0 (no answer), 5xx, or an answer that is not the documented shape
  }
  return EXIT.internal;
}

/** The exit code a finished task gives `submit --wait` and `watch`. */
export function exitCodeOfTask(status: TaskStatus): ExitCode {
  if (status === "succeeded") return EXIT.ok;
  if (status === "cancelled") return EXIT.taskCancelled;
  return EXIT.taskFailed;
}
