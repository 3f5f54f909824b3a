// How a jetq task's stored state reads as a ProcessingTask's status: the phase map, the fields, the
// conditions and the Event each phase is announced with. Pure, so the mapping is tested alone.
import type { JetqError } from "../../kernel/errors.js";
import type { TaskRecord, TaskStatus } from "../../kernel/task.js";
import { setCondition } from "../core/conditions.js";
import type { Condition, ProcessingTaskStatus, TaskPhase } from "../core/resources.js";
import { bounded, resultSummary } from "./result-summary.js";

export const ERROR_MAX_CHARS = 1024;
const PROGRESS_MESSAGE_MAX_CHARS = 256;

/** kernel status → phase. A dead-lettered task is `failed` in the kernel too. */
export const PHASE_OF_STATUS: { readonly [S in TaskStatus]: TaskPhase } = {
  queued: "Queued",
  running: "Running",
  retrying: "Retrying",
  succeeded: "Succeeded",
  failed: "Failed",
  cancelled: "Cancelled",
};

export const FINISHED_PHASES: ReadonlySet<TaskPhase> = new Set(["Succeeded", "Failed", "Cancelled"]);
export const isFinishedPhase = (p: TaskPhase | undefined) => p !== undefined && FINISHED_PHASES.has(p);

/** Condition types: Accepted (jetq took the task) and Succeeded (Unknown until it ends), as Tekton's runs do. */
export const ACCEPTED = "Accepted";
export const SUCCEEDED = "Succeeded";

/**
 * The status fields a task's record gives. Absent fields are null, so a merge patch clears what an
 * earlier phase wrote (a retry's error once the task succeeds).
 */
export function statusOfRecord(r: TaskRecord, generation: number, previous: Condition[] | undefined, now = new Date()): ProcessingTaskStatus & Record<string, unknown> {
  const phase = PHASE_OF_STATUS[r.status];
  const error = r.error ? bounded(`${r.error.code}: ${r.error.message}`, ERROR_MAX_CHARS) : null;
  let conditions = setCondition(previous, { type: ACCEPTED, status: "True", reason: "Queued", message: `jetq task ${r.id}` }, generation, now);
  conditions = setCondition(conditions, succeededCondition(phase, r, error), generation, now);
  return {
    phase,
    taskId: r.id,
    attempts: r.attempts,
    progress: { percent: Math.round(r.progress.percent), message: r.progress.message ? bounded(r.progress.message, PROGRESS_MESSAGE_MAX_CHARS) : null },
    result: r.status === "succeeded" ? resultSummary(r.result, r.id) : null,
    // A retrying task shows the error its last attempt failed with; a cancelled one none.
    error: r.status === "failed" || r.status === "retrying" ? error : null,
    startTime: r.startedAt ?? null,
    completionTime: r.finishedAt ?? null,
    observedGeneration: generation,
    conditions,
  } as ProcessingTaskStatus & Record<string, unknown>;
}

function succeededCondition(phase: TaskPhase, r: TaskRecord, error: string | null) {
  switch (phase) {
    case "Succeeded":
      return { type: SUCCEEDED, status: "True", reason: "Succeeded", message: `succeeded after ${r.attempts} attempt(s)` } as const;
    case "Failed":
      return { type: SUCCEEDED, status: "False", reason: r.deadLettered ? "DeadLettered" : "Failed", message: error ?? "failed" } as const;
    case "Cancelled":
      return { type: SUCCEEDED, status: "False", reason: "Cancelled", message: "the task was cancelled" } as const;
    default:
      return { type: SUCCEEDED, status: "Unknown", reason: phase, message: phase === "Retrying" && error ? `retrying after: ${error}` : `task is ${r.status}` } as const;
  }
}

/** The status of a resource whose task jetq refused: what the kernel said, as the API would say it. */
export function statusOfRefusal(err: JetqError, generation: number, previous: Condition[] | undefined, now = new Date()): ProcessingTaskStatus & Record<string, unknown> {
  const message = bounded(refusalMessage(err), ERROR_MAX_CHARS);
  let conditions = setCondition(previous, { type: ACCEPTED, status: "False", reason: reasonOf(err.code), message }, generation, now);
  conditions = setCondition(conditions, { type: SUCCEEDED, status: "False", reason: "Rejected", message }, generation, now);
  return { phase: "Failed", error: message, observedGeneration: generation, conditions } as ProcessingTaskStatus & Record<string, unknown>;
}

/** The status of a resource whose unfinished task jetq no longer knows (its data was lost). */
export function statusOfLostTask(taskId: string, generation: number, previous: Condition[] | undefined, now = new Date()): ProcessingTaskStatus & Record<string, unknown> {
  const error = `task ${taskId} is no longer known to jetq: its record expired or the queue's data was lost`;
  const conditions = setCondition(previous, { type: SUCCEEDED, status: "False", reason: "TaskLost", message: error }, generation, now);
  return { phase: "Failed", taskId, error, observedGeneration: generation, conditions } as ProcessingTaskStatus & Record<string, unknown>;
}

/** The kernel's message and, when it lists them, what was wrong where ("payload.bookId: no such book"). */
export function refusalMessage(err: JetqError): string {
  const details = Array.isArray(err.details)
    ? (err.details as Array<{ path?: unknown; message?: unknown }>)
        .filter((d) => d && typeof d.message === "string")
        .map((d) => (d.path ? `${String(d.path)}: ${String(d.message)}` : String(d.message)))
    : [];
  return `${err.code}: ${err.message}${details.length ? ` (${details.join("; ")})` : ""}`;
}

/** A condition reason is CamelCase ("unknown_task_type" → "UnknownTaskType"). */
export const reasonOf = (code: string) => code.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0]!.toUpperCase() + w.slice(1)).join("") || "Rejected";

/** The Event a phase is announced with when a resource enters it. */
export function eventOfPhase(status: ProcessingTaskStatus): { type: "Normal" | "Warning"; reason: string; message: string } | null {
  const id = status.taskId ? `task ${status.taskId}` : "the task";
  switch (status.phase) {
    case "Queued":
      return { type: "Normal", reason: "Queued", message: `${id} queued` };
    case "Running":
      return { type: "Normal", reason: "Running", message: `${id} running (attempt ${status.attempts ?? 1})` };
    case "Retrying":
      return { type: "Warning", reason: "Retrying", message: `${id} attempt ${status.attempts} failed, will retry: ${status.error ?? ""}` };
    case "Succeeded":
      return { type: "Normal", reason: "Succeeded", message: `${id} succeeded after ${status.attempts} attempt(s)` };
    case "Failed":
      return { type: "Warning", reason: status.taskId ? "Failed" : "Rejected", message: status.taskId ? `${id} failed: ${status.error ?? ""}` : (status.error ?? "refused") };
    case "Cancelled":
      return { type: "Normal", reason: "Cancelled", message: `${id} cancelled` };
    default:
      return null;
  }
}
