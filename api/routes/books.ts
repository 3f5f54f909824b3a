// /api/books: multipart upload of one or more books; each is stored and gets a process_book task.
import { Router } from "express";
import type { ObjectStore } from "@nats-io/obj";
import type { JetqMetrics } from "../../core/metrics.js";
import type { TaskQueue } from "../../core/task-queue.js";
import type { TaskRecord } from "../../core/task.js";
import { ApiError } from "../../core/errors.js";
import type { BookStore } from "../../core/books.js";
import { idParam, methodNotAllowed } from "../http.js";
import { discardUploads, receiveUploads, type StoredUpload, type UploadLimits } from "../uploads.js";
import { statusUrl } from "./tasks.js";

export interface BooksRouterDeps {
  queue: TaskQueue;
  books?: BookStore;
  uploads: ObjectStore;
  metrics: JetqMetrics;
  limits: Omit<UploadLimits, "fileFields">;
}

/** Stores the request's files and queues process_book for each; all or nothing. */
export async function uploadBooks(
  deps: BooksRouterDeps,
  req: Parameters<typeof receiveUploads>[0],
  fileFields: string[],
): Promise<{ file: StoredUpload; task: TaskRecord }[]> {
  const { fields, files } = await receiveUploads(req, deps.uploads, { ...deps.limits, fileFields });
  const num = (name: string) => (fields[name] === undefined ? undefined : Number(fields[name]));
  const specs = files.map((file) => ({
    type: "process_book",
    priority: fields.priority ?? "normal",
    payload: {
      bookId: file.bookId,
      filename: file.filename,
      contentType: file.contentType,
      ...(fields.chunkSize !== undefined ? { chunkSize: num("chunkSize") } : {}),
      ...(fields.chunkOverlap !== undefined ? { chunkOverlap: num("chunkOverlap") } : {}),
    },
  }));
  try {
    // Validate every task before queueing any, so a bad form field queues nothing.
    for (const s of specs) deps.queue.validate(s);
    const out: { file: StoredUpload; task: TaskRecord }[] = [];
    for (let i = 0; i < files.length; i++) {
      const { record } = await deps.queue.create(specs[i]);
      deps.metrics.tasksCreated.inc({ type: record.type, priority: record.priority });
      out.push({ file: files[i]!, task: record });
    }
    return out;
  } catch (err) {
    await discardUploads(deps.uploads, files);
    throw err instanceof ApiError ? err : new ApiError(503, "unavailable", String((err as Error).message));
  }
}

export function booksRouter(deps: BooksRouterDeps): Router {
  const r = Router();
  r.route("/api/books")
    .post(async (req, res) => {
      const queued = await uploadBooks(deps, req, ["file", "files", "book", "books"]);
      res.status(202).json({
        books: queued.map(({ file, task }) => ({
          bookId: file.bookId,
          filename: file.filename,
          contentType: file.contentType,
          size: file.size,
          taskId: task.id,
          status: task.status,
          statusUrl: statusUrl(task.id),
        })),
      });
    })
    .get(async (_req, res) => {
      res.json({ items: deps.books ? await deps.books.list() : [] });
    })
    .all(methodNotAllowed("GET", "POST"));
  return r;
}
