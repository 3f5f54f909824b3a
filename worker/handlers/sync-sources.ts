// sync_sources: re-read registered sources, queue process_book only for documents that are new or
// changed, and remove the books and vectors of documents that disappeared.
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { v5 as uuidv5 } from "uuid";
import { storeUpload } from "../../library/books.js";
import { DEFAULT_TENANT, tenantOf } from "../../kernel/task.js";
import { NonRetryableError } from "../../kernel/errors.js";
import { isJetqId } from "../../kernel/ids.js";
import { SourceRegistry, specOf, type SourceDocumentState, type SourceRecord, type SyncSummary } from "../../library/sources.js";
import type { SyncSourcesPayload } from "../../library/task-types.js";
import type { HandlerFor, TaskContext } from "../handler.js";
import { readerFor, type ReaderOptions } from "../sources/index.js";
import { isTransientSourceError, SourceFetchError } from "../sources/source-errors.js";
import type { Pipeline } from "./pipeline.js";

const BOOK_NAMESPACE = "0b5e3f3c-2d4a-4e7c-9c41-7f1e8a6d2b90";

export interface SyncSourcesOptions {
  /** Passed to every source reader (tests inject name resolution here). */
  readers?: Omit<ReaderOptions, "warn">;
}

export function syncSources(p: Pipeline, options: SyncSourcesOptions = {}): HandlerFor<typeof SyncSourcesPayload> {
  return async (ctx) => {
    const { sourceId } = ctx.payload;
    // A task syncs only its own tenant's sources (issue #11): another tenant's is as missing as an
    // unregistered one, and "every due source" means every due source of this tenant.
    const tenant = tenantOf(ctx.task);
    const ours = (s: SourceRecord) => (s.tenant ?? DEFAULT_TENANT) === tenant;
    let targets: SourceRecord[];
    if (sourceId !== undefined) {
      // The payload schema refuses such ids at create time; a task queued before it did must not
      // reach KV with `*` in a key, nor be retried: it can never name a source.
      if (typeof sourceId !== "string" || !isJetqId(sourceId)) {
        throw new NonRetryableError(`source id ${JSON.stringify(String(sourceId).slice(0, 100))} is not valid: source ids are UUIDs`, "invalid_source_id");
      }
      const one = await p.sources.get(sourceId.toLowerCase());
      if (!one || !ours(one)) throw new NonRetryableError(`source ${sourceId} is not registered`, "source_not_found");
      targets = [one];
    } else {
      targets = (await p.sources.list()).filter((s) => ours(s) && SourceRegistry.isDue(s));
    }
    const results: Record<string, SyncSummary> = {};
    const fatal: unknown[] = [];
    for (const [n, source] of targets.entries()) {
      ctx.progress((100 * n) / Math.max(1, targets.length), `syncing source ${source.name ?? source.id}`);
      const outcome = await syncOne(p, ctx, source, options);
      results[source.id] = outcome.summary;
      if (outcome.fatal !== undefined) fatal.push(outcome.fatal);
      await p.sources.recordSync(source.id, outcome.summary);
    }
    // A single named source that could not be read at all is a failure the caller should see:
    // retried when it may pass later (DNS, timeouts, 5xx), dead-lettered at once when it cannot.
    // A sync of every due source reports each one's failure in its result instead.
    if (sourceId !== undefined && fatal.length > 0) throw asTaskFailure(fatal[0]);
    return { sources: results };
  };
}

/** The error the runtime retries (SourceFetchError) or dead-letters at once (NonRetryableError). */
function asTaskFailure(err: unknown): Error {
  if (err instanceof NonRetryableError) return err;
  const { message, code } = err as { message?: string; code?: unknown };
  const text = message ?? String(err);
  const errorCode = typeof code === "string" ? code : "source_error";
  return isTransientSourceError(err) ? new SourceFetchError(text, errorCode) : new NonRetryableError(text, errorCode);
}

async function syncOne(p: Pipeline, ctx: TaskContext, source: SourceRecord, options: SyncSourcesOptions): Promise<{ summary: SyncSummary; fatal?: unknown }> {
  const summary: SyncSummary = { new: 0, changed: 0, unchanged: 0, deleted: 0, errors: [], enqueued: [] };
  // The books a source brings in are its tenant's (the same as the sync task's, checked above).
  const tenant = source.tenant ?? DEFAULT_TENANT;
  let fatal: unknown;
  const state = await p.sources.documents(source.id);
  const known = Object.fromEntries(Object.entries(state).map(([k, d]) => [k, { key: k, hash: d.hash, ...(d.etag ? { etag: d.etag } : {}), ...(d.lastModified ? { lastModified: d.lastModified } : {}) }]));
  const next: Record<string, SourceDocumentState> = { ...state };
  try {
    const reader = readerFor(specOf(source), p.config.sources, { ...options.readers, warn: (m: string) => ctx.log.warn(m, { sourceId: source.id }) });
    for await (const check of reader.check(specOf(source), known, ctx.signal)) {
      try {
        if (check.state === "unchanged") summary.unchanged++;
        else if (check.state === "deleted") {
          const bookId = state[check.key]?.bookId;
          // Only a book of the source's own tenant is removed (one that is already gone: nothing to do).
          if (bookId && (await p.books.tenantOfBook(bookId)) === tenant) {
            await p.books.delete(bookId, p.vectors);
          }
          delete next[check.key];
          summary.deleted++;
        } else if ("filePath" in check) {
          // The same document always maps to the same book, so a change replaces it in place.
          const bookId = state[check.key]?.bookId ?? uuidv5(`${source.id}/${check.key}`, BOOK_NAMESPACE);
          try {
            const contentType = check.contentType ?? "application/octet-stream";
            await storeUpload(p.conn.uploads, { bookId, filename: check.filename, contentType, sourceId: source.id, tenant }, createReadStream(check.filePath));
          } finally {
            await rm(check.filePath, { force: true });
          }
          const task = await ctx.enqueue({
            type: "process_book",
            payload: { bookId, filename: check.filename, ...(check.contentType ? { contentType: check.contentType } : {}) },
            priority: ctx.task.priority,
            idempotencyKey: `source:${source.id}:${check.key}:${check.hash}`,
          });
          next[check.key] = { key: check.key, bookId, hash: check.hash, ...(check.etag ? { etag: check.etag } : {}), ...(check.lastModified ? { lastModified: check.lastModified } : {}) };
          summary.enqueued.push(task.id);
          summary[check.state]++;
        }
      } catch (err) {
        summary.errors.push({ key: check.key, code: (err as { code?: string }).code ?? "sync_error", message: (err as Error).message });
      }
    }
  } catch (err) {
    // Cancelled or out of time: the runtime decides what that means, not this source's summary.
    if (ctx.signal.aborted) throw ctx.signal.reason;
    // The source as a whole could not be read (refused address, directory outside the root, DNS…).
    summary.errors.push({ key: "*", code: (err as { code?: string }).code ?? "source_error", message: (err as Error).message });
    fatal = err;
  }
  await p.sources.saveDocuments(source.id, next);
  return { summary, ...(fatal !== undefined ? { fatal } : {}) };
}
