// process_book: read an uploaded book, split it into overlapping chunks with page numbers, store
// them, then chain generate_embeddings. An unchanged book (same bytes, same chunking) is a no-op.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { bookTenantOf, type BookRecord } from "../../library/books.js";
import { tenantOf } from "../../kernel/task.js";
import type { ProcessBookPayload } from "../../library/task-types.js";
import { DEFAULT_DOCUMENT_LIMITS, DEFAULT_PARSER_HEAP_MB } from "../../library/config.js";
import { NonRetryableError } from "../../kernel/errors.js";
import { TaskAbort, type HandlerFor, type TaskContext } from "../handler.js";
import { extractDocument, type DocumentExtraction } from "../documents/extract-document.js";
import { makeBookDir } from "../documents/temp-dirs.js";
import type { Pipeline } from "./pipeline.js";

export function processBook(p: Pipeline): HandlerFor<typeof ProcessBookPayload> {
  return async (ctx) => {
    const { bookId } = ctx.payload;
    const tenant = tenantOf(ctx.task);
    // Another tenant's book is missing as far as this task can tell (issue #11): the same error, and
    // nothing of it is read — checked on the upload's metadata before its bytes are opened.
    const owner = await p.books.tenantOfBook(bookId);
    const upload = owner === tenant ? await p.books.openUpload(bookId) : null;
    if (!upload || bookTenantOf(upload.info.metadata) !== tenant) {
      upload?.stream.cancel().catch(() => undefined);
      throw new NonRetryableError(`no uploaded file for book ${bookId}`, "upload_not_found");
    }
    const filename = ctx.payload.filename ?? upload.info.metadata?.filename ?? upload.info.description ?? bookId;
    const contentType = ctx.payload.contentType ?? upload.info.metadata?.contentType ?? "application/octet-stream";
    const chunkSize = ctx.payload.chunkSize ?? p.config.chunkSize;
    const chunkOverlap = Math.min(ctx.payload.chunkOverlap ?? p.config.chunkOverlap, chunkSize - 1);

    const dir = await makeBookDir();
    let doc: DocumentExtraction | undefined;
    try {
      // Downloaded to a temporary file while hashing: parsers read from disk, memory stays flat.
      ctx.progress(1, "downloading");
      const file = join(dir, "book");
      const hash = createHash("sha256");
      await pipeline(
        Readable.fromWeb(upload.stream as never),
        new Transform({ transform(chunk, _e, cb) { hash.update(chunk); cb(null, chunk); } }),
        createWriteStream(file),
        { signal: ctx.signal },
      );
      const contentHash = hash.digest("hex");
      ctx.log.info(`downloaded ${filename}`, { bookId, sha256: contentHash });

      const previous = await p.books.get(bookId);
      if (previous?.status === "ready" && previous.contentHash === contentHash && previous.chunkSize === chunkSize && previous.chunkOverlap === chunkOverlap) {
        ctx.progress(100, "unchanged");
        ctx.log.info("same bytes and chunking as the stored book: nothing to do", { bookId });
        const embeddingTaskId = previous.embeddedWith === p.embedder.name && previous.embeddedChunks === previous.chunks ? undefined : await chain(ctx, bookId, contentHash);
        return { bookId, pages: previous.pages, chunks: previous.chunks, unchanged: true, ...(embeddingTaskId ? { embeddingTaskId } : {}) };
      }

      const now = new Date().toISOString();
      const record: BookRecord = {
        bookId,
        filename,
        contentType,
        status: "processing",
        pages: 0,
        chunks: 0,
        characters: 0,
        contentHash,
        chunkSize,
        chunkOverlap,
        tenant,
        ...(previous?.sourceId ? { sourceId: previous.sourceId, sourceKey: previous.sourceKey } : {}),
        createdAt: previous?.createdAt ?? now,
        updatedAt: now,
      };
      await p.books.put(record);
      // The content changed: vectors of the old text would answer searches with stale pages.
      if (previous && previous.contentHash !== contentHash) await p.vectors.deleteBook(bookId).catch(() => undefined);

      try {
        // In a thread of its own: whatever the document does to its parser fails this task only.
        doc = await extractDocument(file, { filename, contentType }, {
          chunkSize,
          chunkOverlap,
          limits: p.config.limits ?? DEFAULT_DOCUMENT_LIMITS,
          heapMb: p.config.parserHeapMb ?? DEFAULT_PARSER_HEAP_MB,
          ...(p.config.parserThreads ? { maxThreads: p.config.parserThreads } : {}),
          signal: ctx.signal,
          onPart: (part, total) => ctx.progress(total ? Math.min(95, 5 + (90 * part) / total) : 50, total ? `read page ${part} of ${total}` : `read section ${part}`),
        });
        const chunks = await p.books.writeChunks(bookId, doc.chunks);
        const stats = doc.stats();
        Object.assign(record, { status: "ready", pages: stats.parts, chunks, characters: stats.characters, format: doc.info.format, ...(doc.info.title ? { title: doc.info.title } : {}) });
        if (!(await p.books.putIfPresent(record))) {
          // Deleted while we read it: take back the chunks we wrote, and do not bring the book back.
          await p.books.delete(bookId, p.vectors).catch(() => undefined);
          throw new NonRetryableError(`book ${bookId} was deleted while it was being processed`, "book_deleted");
        }
      } catch (err) {
        const outcome = unfinishedStatus(ctx.signal);
        // Handed back at shutdown: the next attempt processes it, so it stays `processing`.
        if (outcome) await p.books.putIfPresent({ ...record, status: outcome, error: outcome === "cancelled" ? "processing was cancelled" : (err as Error).message });
        throw err;
      }
      ctx.progress(97, `${record.chunks} chunks from ${record.pages} pages; queueing embeddings`);
      ctx.log.info(`read ${record.pages} pages (${record.format}) into ${record.chunks} chunks`, { bookId, characters: record.characters, title: record.title ?? null });
      const embeddingTaskId = await chain(ctx, bookId, contentHash);
      ctx.log.info(`queued generate_embeddings ${embeddingTaskId}`, { embeddingTaskId });
      return { bookId, pages: record.pages, chunks: record.chunks, title: record.title ?? null, format: record.format, embeddingTaskId };
    } finally {
      await doc?.close();
      await rm(dir, { recursive: true, force: true });
    }
  };
}

/** What a book whose processing stopped short says: cancelled, failed, or nothing new (shutdown). */
function unfinishedStatus(signal: AbortSignal): "cancelled" | "failed" | null {
  const reason = signal.aborted ? signal.reason : undefined;
  if (reason instanceof TaskAbort && reason.code === "cancelled") return "cancelled";
  if (reason instanceof TaskAbort && reason.code === "shutdown") return null;
  return "failed";
}

/** Chains generate_embeddings; the key makes a retried process_book attempt queue it only once. */
async function chain(ctx: TaskContext, bookId: string, contentHash: string): Promise<string> {
  const task = await ctx.enqueue({
    type: "generate_embeddings",
    payload: { bookId },
    priority: ctx.task.priority,
    idempotencyKey: `embed:${bookId}:${contentHash}:${ctx.id}`,
  });
  return task.id;
}
