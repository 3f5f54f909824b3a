// How a task's stored state reads in a ProcessingTask's status: the phase map, cleared fields,
// conditions, the result summary's bound, and the kernel's refusals.
import { describe, expect, it } from "vitest";
import { InvalidError } from "../../kernel/errors.js";
import type { TaskRecord } from "../../kernel/task.js";
import { RESULT_SUMMARY_MAX_BYTES, resultSummary, TRUNCATED_KEY } from "../../operator/tasks/result-summary.js";
import { eventOfPhase, reasonOf, statusOfLostTask, statusOfRecord, statusOfRefusal } from "../../operator/tasks/task-status.js";

const base: TaskRecord = {
  id: "7f0c4c0e-5d7e-4d3c-9a57-1c1f7f3f6a11",
  type: "sync_sources",
  payload: {},
  priority: "normal",
  maxAttempts: 3,
  timeoutSeconds: 60,
  createdAt: "2026-01-01T00:00:00.000Z",
  status: "queued",
  attempts: 0,
  progress: { percent: 0 },
};
const at = (r: Partial<TaskRecord>): TaskRecord => ({ ...base, ...r });
const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

describe("ProcessingTask status from a task record", () => {
  it("maps every kernel status to its phase", () => {
    const phases = (["queued", "running", "retrying", "succeeded", "failed", "cancelled"] as const).map((status) => statusOfRecord(at({ status }), 1, undefined).phase);
    expect(phases).toEqual(["Queued", "Running", "Retrying", "Succeeded", "Failed", "Cancelled"]);
    expect(statusOfRecord(at({ status: "failed", deadLettered: true }), 1, undefined).phase).toBe("Failed");
  });

  it("writes the record's fields, and nulls to clear what an earlier phase wrote", () => {
    const error = { code: "fetch_failed", message: "HTTP 503", retryable: true, attempt: 1 };
    const retrying = statusOfRecord(at({ status: "retrying", attempts: 1, error, startedAt: "2026-01-01T00:00:01.000Z", progress: { percent: 33.4, message: "page 1" } }), 2, undefined);
    expect(retrying).toMatchObject({ phase: "Retrying", attempts: 1, error: "fetch_failed: HTTP 503", startTime: "2026-01-01T00:00:01.000Z", completionTime: null, result: null, progress: { percent: 33, message: "page 1" }, observedGeneration: 2 });
    const done = statusOfRecord(at({ status: "succeeded", attempts: 2, error: undefined, result: { sources: {} }, progress: { percent: 100, message: "done" }, finishedAt: "2026-01-01T00:00:03.000Z" }), 2, retrying.conditions);
    expect(done).toMatchObject({ phase: "Succeeded", error: null, result: { sources: {} }, completionTime: "2026-01-01T00:00:03.000Z" });
  });

  it("sets Accepted and Succeeded conditions, keeping transition times while a status holds", () => {
    const t0 = new Date("2026-01-01T00:00:00Z");
    const t1 = new Date("2026-01-01T00:01:00Z");
    const queued = statusOfRecord(at({}), 1, undefined, t0);
    const running = statusOfRecord(at({ status: "running", attempts: 1 }), 1, queued.conditions, t1);
    const cond = (s: typeof queued, type: string) => s.conditions!.find((c) => c.type === type)!;
    expect(cond(running, "Accepted")).toMatchObject({ status: "True", lastTransitionTime: "2026-01-01T00:00:00Z" });
    expect(cond(running, "Succeeded")).toMatchObject({ status: "Unknown", reason: "Running", lastTransitionTime: "2026-01-01T00:00:00Z" });
    const failed = statusOfRecord(at({ status: "failed", deadLettered: true, error: { code: "source_not_found", message: "gone", retryable: false, attempt: 1 } }), 1, running.conditions, t1);
    expect(cond(failed, "Succeeded")).toMatchObject({ status: "False", reason: "DeadLettered", message: "source_not_found: gone", lastTransitionTime: "2026-01-01T00:01:00Z" });
  });

  it("bounds a large result to a summary that says what it left out and where the rest is", () => {
    const small = { bookId: "b", pages: 3 };
    expect(resultSummary(small, base.id)).toEqual(small);
    expect(resultSummary(null, base.id)).toBeNull();
    expect(resultSummary("text", base.id)).toEqual({ value: "text" });
    const big = { bookId: "b", pages: 3, chunks: Array.from({ length: 2000 }, (_, i) => `chunk-${i}`), title: "t".repeat(300), ...Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`field${i}`, i])) };
    const summary = resultSummary(big, base.id)!;
    expect(bytes(summary)).toBeLessThanOrEqual(RESULT_SUMMARY_MAX_BYTES);
    expect(summary).toMatchObject({ bookId: "b", pages: 3, title: "t".repeat(300) });
    expect(summary).not.toHaveProperty("chunks");
    const marker = summary[TRUNCATED_KEY] as { totalBytes: number; omittedFields: string[]; omittedCount: number; fullResult: string };
    expect(marker.totalBytes).toBe(bytes(big));
    expect(marker.omittedFields[0]).toBe("chunks");
    expect(marker.omittedCount).toBe(Object.keys(big).length - (Object.keys(summary).length - 1));
    expect(marker.fullResult).toBe(`GET /api/tasks/${base.id}/status`);
    // Even a result with one huge field and many long names stays in bounds.
    const nasty = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`${"k".repeat(200)}${i}`, "v".repeat(600)]));
    expect(bytes(resultSummary(nasty, base.id))).toBeLessThanOrEqual(RESULT_SUMMARY_MAX_BYTES);
  });

  it("turns a refusal into Failed with the kernel's message and what was wrong where", () => {
    const err = new InvalidError("book_not_found", "book 1 does not exist: upload it first (POST /api/books)", [{ path: "payload.bookId", message: "no such book" }]);
    const s = statusOfRefusal(err, 1, undefined);
    expect(s.phase).toBe("Failed");
    expect(s.error).toBe("book_not_found: book 1 does not exist: upload it first (POST /api/books) (payload.bookId: no such book)");
    expect(s.conditions!.find((c) => c.type === "Accepted")).toMatchObject({ status: "False", reason: "BookNotFound" });
    expect(eventOfPhase(s)).toMatchObject({ type: "Warning", reason: "Rejected" });
    expect(reasonOf("unknown_task_type")).toBe("UnknownTaskType");
  });

  it("a task jetq no longer knows, before it finished, ends Failed saying so", () => {
    const s = statusOfLostTask(base.id, 1, undefined);
    expect(s).toMatchObject({ phase: "Failed", taskId: base.id, error: `task ${base.id} is no longer known to jetq: its record expired or the queue's data was lost` });
    expect(s.conditions!.find((c) => c.type === "Succeeded")).toMatchObject({ status: "False", reason: "TaskLost" });
    expect(eventOfPhase(s)).toMatchObject({ type: "Warning", reason: "Failed" });
  });

  it("announces each phase with an Event, failures as Warnings", () => {
    const events = (["queued", "running", "succeeded", "failed", "cancelled"] as const).map((status) => eventOfPhase(statusOfRecord(at({ status, attempts: 1 }), 1, undefined)));
    expect(events.map((e) => [e!.type, e!.reason])).toEqual([
      ["Normal", "Queued"],
      ["Normal", "Running"],
      ["Normal", "Succeeded"],
      ["Warning", "Failed"],
      ["Normal", "Cancelled"],
    ]);
  });
});
