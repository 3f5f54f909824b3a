// /api/books: multipart upload of one or more books; each is stored and gets a process_book task.
import { Router } from "express";
import { z } from "zod";
import type { ObjectStore } from "@nats-io/obj";
import type { TaskQueue } from "../../kernel/task-queue.js";
import type { TaskRecord } from "../../kernel/task.js";
import { InvalidError, JetqError, NotFoundError, UnavailableError } from "../../kernel/errors.js";
import type { BookStore } from "../../library/books.js";
import { methodNotAllowed } from "../http.js";
import { listPage } from "../listing.js";
import { discardUploads, receiveUploads, type StoredUpload, type UploadLimits } from "../uploads.js";
import { statusUrl } from "./tasks.js";
import { ownerTenantOf, readScopeOf } from "../tenant-scope.js";
import type { UploadAccounting } from "../limits/limits.js";

export interface BooksRouterDeps {
  queue: TaskQueue;
  books: BookStore;
  uploads: ObjectStore;
  limits: Omit<UploadLimits, "fileFields">;
  /** Counts stored bytes against the caller's tenant quota (api/limits/); absent: not counted. */
  storedBytes?: UploadAccounting;
}

/** One file of an upload request: queued as a new book, or the book that already has its bytes. */
export interface UploadedBook {
  file: StoredUpload;
  /** The new book's task; for a duplicate, the task of the existing book if it is still known. */
  task: TaskRecord | null;
  duplicate: boolean;
}

/**
 * Form field `duplicate`: what to do with a file whose bytes (sha-256) an existing book has.
 * `existing` (the default) answers with that book and stores nothing; `new` makes a new book anyway.
 */
const DuplicateMode = z.enum(["existing", "new"]).default("existing");

/** The form fields that shape the tasks; checked before anything is queued. */
function readFields(fields: Record<string, string>) {
  const mode = DuplicateMode.safeParse(fields.duplicate);
  if (!mode.success) throw new InvalidError("invalid_field", `form field duplicate must be "existing" or "new"`, [{ path: "duplicate", message: mode.error.issues[0]?.message ?? "invalid" }]);
  const num = (name: string) => (fields[name] === undefined ? undefined : Number(fields[name]));
  return {
    duplicate: mode.data,
    priority: fields.priority ?? "normal",
    ...(fields.chunkSize !== undefined ? { chunkSize: num("chunkSize") } : {}),
    ...(fields.chunkOverlap !== undefined ? { chunkOverlap: num("chunkOverlap") } : {}),
  };
}

/**
 * Stores the request's files and queues process_book for each new one; all or nothing. A file
 * whose content an existing book already has returns that book instead (first writer wins: a
 * claim on the content hash), unless the form asks for `duplicate=new`.
 */
export async function uploadBooks(deps: BooksRouterDeps, req: Parameters<typeof receiveUploads>[0], fileFields: string[]): Promise<UploadedBook[]> {
  const { fields, files } = await receiveUploads(req, deps.uploads, { ...deps.limits, fileFields }, ownerTenantOf(req));
  const claimed: StoredUpload[] = [];
  const out: UploadedBook[] = [];
  let current: StoredUpload | undefined; // the file whose task is being created
  let reserved = 0; // bytes counted against the tenant's stored-bytes quota (api/limits/)
  try {
    const form = readFields(fields);
    const specOf = (file: StoredUpload) => ({
      type: "process_book",
      priority: form.priority,
      payload: {
        bookId: file.bookId,
        filename: file.filename,
        contentType: file.contentType,
        ...(form.chunkSize !== undefined ? { chunkSize: form.chunkSize } : {}),
        ...(form.chunkOverlap !== undefined ? { chunkOverlap: form.chunkOverlap } : {}),
      },
    });
    // Validate every task before queueing any, so a bad form field queues nothing.
    for (const f of files) deps.queue.validate(specOf(f));
    const total = files.reduce((n, f) => n + f.size, 0);
    await deps.storedBytes?.reserve(req, total); // over the quota: 413 quota_exceeded, nothing queued
    reserved = total;
    for (const file of files) {
      current = file;
      if (form.duplicate === "existing") {
        const { won, owner } = await deps.books.claimContent(file.sha256, file.bookId, ownerTenantOf(req));
        if (!won) {
          await discardUploads(deps.uploads, [file]);
          await deps.storedBytes?.release(req, file.size); // a duplicate stores nothing
          reserved -= file.size;
          out.push({ file: { ...file, bookId: owner.bookId }, task: await existingTask(deps.queue, owner.taskId, ownerTenantOf(req)), duplicate: true });
          continue;
        }
        claimed.push(file);
      }
      const { record } = await deps.queue.create(specOf(file), { tenant: ownerTenantOf(req) });
      if (form.duplicate === "existing") await deps.books.recordContentTask(file.sha256, file.bookId, record.id, ownerTenantOf(req));
      out.push({ file, task: record, duplicate: false });
    }
    return out;
  } catch (err) {
    // All or nothing: the tasks this request queued already are cancelled, and the files and
    // content claims it made are removed — except where a task may still run and needs its file:
    // the one whose create NATS did not confirm, and any whose cancel did not go through.
    const keep = new Set<string>();
    const unknown = err instanceof JetqError && err.code === "outcome_unknown" && current;
    if (unknown) keep.add(current!.bookId);
    for (const q of out) {
      if (!q.task || q.duplicate) continue;
      const cancelled = await deps.queue.cancel(q.task.id).then(() => true, () => false);
      if (!cancelled) keep.add(q.file.bookId);
    }
    await discardUploads(deps.uploads, files.filter((f) => !keep.has(f.bookId)));
    await deps.storedBytes?.release(req, reserved - files.filter((f) => keep.has(f.bookId)).reduce((n, f) => n + f.size, 0));
    await Promise.allSettled(claimed.filter((f) => !keep.has(f.bookId)).map((f) => deps.books.releaseContent(f.sha256, f.bookId, ownerTenantOf(req))));
    if (unknown) {
      throw (err as JetqError).withDetails({ bookId: current!.bookId });
    }
    throw err instanceof JetqError ? err : new UnavailableError("unavailable", String((err as Error).message));
  }
}

/** The task a duplicate points at, if it is still known (finished tasks expire). */
async function existingTask(queue: TaskQueue, taskId: string | undefined, tenant: string): Promise<TaskRecord | null> {
  if (!taskId) return null;
  return queue.get(taskId, { tenant }).catch((err) => {
    if (err instanceof NotFoundError) return null;
    throw err;
  });
}

export function booksRouter(deps: BooksRouterDeps): Router {
  const r = Router();
  r.route("/api/books")
    .post(async (req, res) => {
      const queued = await uploadBooks(deps, req, ["file", "files", "book", "books"]);
      res.status(202).json({
        books: queued.map(({ file, task, duplicate }) => ({
          bookId: file.bookId,
          filename: file.filename,
          contentType: file.contentType,
          size: file.size,
          taskId: task?.id ?? null,
          status: task?.status ?? null,
          statusUrl: task ? statusUrl(task.id) : null,
          duplicate,
        })),
      });
    })
    .get(async (req, res) => {
      res.json(await listPage(req, (q) => deps.books.page(q, readScopeOf(req))));
    })
    .all(methodNotAllowed("GET", "POST"));
  return r;
}
