// The earlier Python service's endpoints (FastAPI + Celery), kept so existing clients move over
// unchanged: same paths, same request fields, same response shapes, Celery's state names.
import { Router } from "express";
import type { TaskQueue } from "../../kernel/task-queue.js";
import type { TaskRecord, TaskStatus } from "../../kernel/task.js";
import { idParam, methodNotAllowed } from "../http.js";
import { uploadBooks, type BooksRouterDeps } from "./books.js";
import { readScopeOf } from "../tenant-scope.js";

const CELERY_STATE: Record<TaskStatus, string> = {
  queued: "PENDING",
  running: "STARTED",
  retrying: "RETRY",
  succeeded: "SUCCESS",
  failed: "FAILURE",
  cancelled: "REVOKED",
};

export function legacyStatus(r: TaskRecord) {
  return {
    task_id: r.id,
    status: CELERY_STATE[r.status],
    state: r.status,
    progress: r.progress,
    result: r.result ?? null,
    error: r.error ? r.error.message : null,
  };
}

export function ragCompatRouter(deps: BooksRouterDeps & { queue: TaskQueue }): Router {
  const r = Router();
  r.route("/rag/add-document")
    .post(async (req, res) => {
      const [first] = await uploadBooks({ ...deps, limits: { ...deps.limits, maxFiles: 1 } }, req, ["file"]);
      // A file some book already has: that book's task (null once it has expired), flagged.
      res.status(202).json(first!.duplicate ? { status: "duplicate", task_id: first!.task?.id ?? null, book_id: first!.file.bookId, duplicate: true } : { status: "queued", task_id: first!.task!.id });
    })
    .all(methodNotAllowed("POST"));
  r.route("/rag/add-documents-batch")
    .post(async (req, res) => {
      const queued = await uploadBooks(deps, req, ["files", "file"]);
      res.status(202).json(
        queued.map(({ file, task, duplicate }) =>
          duplicate ? { task_id: task?.id ?? null, filename: file.filename, book_id: file.bookId, duplicate: true } : { task_id: task!.id, filename: file.filename },
        ),
      );
    })
    .all(methodNotAllowed("POST"));
  r.route("/rag/task/:task_id")
    .get(async (req, res) => {
      res.json(legacyStatus(await deps.queue.get(idParam(req, "task", "task_id"), readScopeOf(req))));
    })
    .all(methodNotAllowed("GET"));
  return r;
}
