// sync_sources: re-read registered sources, queue process_book only for documents that are new or
// changed, and remove the books and vectors of documents that disappeared.
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { Readable } from "node:stream";
import { v5 as uuidv5 } from "uuid";
import { bookObjectName } from "../../core/books.js";
import { NonRetryableError } from "../../core/errors.js";
import { SourceRegistry, type SourceDocumentState, type SourceRecord, type SyncSummary } from "../../core/sources.js";
import type { TaskHandler } from "../handler.js";
import { readerFor } from "../sources/index.js";
import type { SourceSpec } from "../sources/source-reader.js";
import type { Pipeline } from "./pipeline.js";

const BOOK_NAMESPACE = "0b5e3f3c-2d4a-4e7c-9c41-7f1e8a6d2b90";

const specOf = (s: SourceRecord): SourceSpec => (s.kind === "http" ? { kind: "http", urls: s.urls } : { kind: "directory", path: s.path });

export function syncSources(p: Pipeline): TaskHandler<{ sourceId?: string }> {
  return async (ctx) => {
    let targets: SourceRecord[];
    if (ctx.payload.sourceId) {
      const one = await p.sources.get(ctx.payload.sourceId);
      if (!one) throw new NonRetryableError(`source ${ctx.payload.sourceId} is not registered`, "source_not_found");
      targets = [one];
    } else {
      targets = (await p.sources.list()).filter((s) => SourceRegistry.isDue(s));
    }
    const results: Record<string, SyncSummary> = {};
    for (const [n, source] of targets.entries()) {
      ctx.progress((100 * n) / Math.max(1, targets.length), `syncing source ${source.name ?? source.id}`);
      results[source.id] = await syncOne(p, ctx, source);
      await p.sources.recordSync(source.id, results[source.id]!);
    }
    // A single named source that could not be read at all is a failure the caller should see.
    if (ctx.payload.sourceId) {
      const r = results[ctx.payload.sourceId]!;
      const fatal = r.errors.find((e) => e.key === "*");
      if (fatal) throw new NonRetryableError(fatal.message, fatal.code);
    }
    return { sources: results };
  };
}

async function syncOne(p: Pipeline, ctx: Parameters<TaskHandler>[0], source: SourceRecord): Promise<SyncSummary> {
  const summary: SyncSummary = { new: 0, changed: 0, unchanged: 0, deleted: 0, errors: [], enqueued: [] };
  const state = await p.sources.documents(source.id);
  const known = Object.fromEntries(Object.entries(state).map(([k, d]) => [k, { key: k, hash: d.hash, ...(d.etag ? { etag: d.etag } : {}), ...(d.lastModified ? { lastModified: d.lastModified } : {}) }]));
  const next: Record<string, SourceDocumentState> = { ...state };
  try {
    const reader = readerFor(specOf(source), p.config.sources, { warn: (m: string) => ctx.log.warn(m, { sourceId: source.id }) });
    for await (const check of reader.check(specOf(source), known, ctx.signal)) {
      try {
        if (check.state === "unchanged") summary.unchanged++;
        else if (check.state === "deleted") {
          const bookId = state[check.key]?.bookId;
          if (bookId) {
            await p.vectors.deleteBook(bookId).catch(() => undefined);
            await p.books.delete(bookId);
          }
          delete next[check.key];
          summary.deleted++;
        } else if ("filePath" in check) {
          // The same document always maps to the same book, so a change replaces it in place.
          const bookId = state[check.key]?.bookId ?? uuidv5(`${source.id}/${check.key}`, BOOK_NAMESPACE);
          try {
            await p.conn.uploads.put(
              { name: bookObjectName(bookId), description: check.filename, metadata: { filename: check.filename, contentType: check.contentType ?? "application/octet-stream", bookId, sourceId: source.id } },
              Readable.toWeb(createReadStream(check.filePath)) as unknown as ReadableStream<Uint8Array>,
            );
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
    // The source as a whole could not be read (refused address, directory outside the root…).
    summary.errors.push({ key: "*", code: (err as { code?: string }).code ?? "source_error", message: (err as Error).message });
  }
  await p.sources.saveDocuments(source.id, next);
  return summary;
}
