// The generated OpenAPI document and the views the server builds agree field for field: a field
// added to `statusView` without its schema would be missing from the document (issue #8, item 7).
import { describe, expect, it } from "vitest";
import { buildOpenApi } from "../../api/openapi.js";
import { TaskStatusSchema } from "../../kernel/api-schemas.js";
import { statusView, type TaskRecord } from "../../kernel/task.js";
import { documentTaskTypes } from "../../library/task-types.js";

const everyField: TaskRecord = {
  id: "0b8f2f8e-2f0c-4c47-9a59-6f7c8e0a1d2b",
  type: "process_book",
  payload: {},
  priority: "high",
  maxAttempts: 3,
  timeoutSeconds: 60,
  createdAt: "2026-01-01T00:00:00.000Z",
  status: "retrying",
  attempts: 2,
  progress: { percent: 40, message: "read page 2" },
  result: { partial: true },
  error: { code: "handler_error", message: "boom", retryable: true, attempt: 2 },
  startedAt: "2026-01-01T00:00:01.000Z",
  finishedAt: "2026-01-01T00:00:02.000Z",
  nextAttemptAt: "2026-01-01T00:00:03.000Z",
  deadLettered: true,
};

describe("response schemas", () => {
  it("document every field of a task's status view, and parse it unchanged", () => {
    const view = statusView(everyField);
    const documented = buildOpenApi(documentTaskTypes()).components.schemas.TaskStatus as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(documented.properties).sort()).toEqual(Object.keys(view).sort());
    expect(TaskStatusSchema.parse(view)).toEqual(view);
    // A queued task has no progress message yet: null, which the schema allows.
    expect(TaskStatusSchema.parse(statusView({ ...everyField, status: "queued", progress: { percent: 0 } })).progress).toEqual({ percent: 0, message: null });
  });

  it("keep fields added later rather than drop them", () => {
    expect(TaskStatusSchema.parse({ ...statusView(everyField), addedLater: 1 })).toMatchObject({ addedLater: 1 });
  });
});
