// generate_embeddings: embed a book's chunks in batches and upsert them with deterministic point
// ids, so running it again overwrites the same points instead of adding new ones.
import { NonRetryableError } from "../../kernel/errors.js";
import { pointId, type VectorPoint } from "../../library/vectors/vector-store.js";
import { bookTenantOf, type Chunk } from "../../library/books.js";
import { tenantOf } from "../../kernel/task.js";
import type { GenerateEmbeddingsPayload } from "../../library/task-types.js";
import type { HandlerFor } from "../handler.js";
import type { Pipeline } from "./pipeline.js";

export function generateEmbeddings(p: Pipeline): HandlerFor<typeof GenerateEmbeddingsPayload> {
  return async (ctx) => {
    const { bookId, chunkIds } = ctx.payload;
    const tenant = tenantOf(ctx.task);
    const found = await p.books.get(bookId);
    // Another tenant's book is as unknown to this task as a missing one (issue #11).
    const book = found && bookTenantOf(found) === tenant ? found : null;
    if (!book) throw new NonRetryableError(`book ${bookId} is not known; upload and process it first`, "book_not_found");
    if (book.status === "processing") throw new Error(`book ${bookId} is still being processed`); // retried later
    if (book.status === "failed") throw new NonRetryableError(`book ${bookId} failed to process: ${book.error ?? "unknown error"}`, "book_failed");

    const only = chunkIds?.length ? new Set(chunkIds) : undefined;
    const total = only ? only.size : book.chunks;
    let done = 0;
    let batch: Chunk[] = [];
    let collectionReady = false;

    const flush = async () => {
      if (!batch.length) return;
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const vectors = await p.embedder.embed(batch.map((c) => c.text), ctx.signal);
      if (!collectionReady) {
        await p.vectors.ensureCollection(vectors[0]!.length);
        collectionReady = true;
      }
      const points: VectorPoint[] = batch.map((c, i) => ({
        id: pointId(bookId, c.chunkId),
        vector: vectors[i]!,
        payload: { bookId, tenant, chunkId: c.chunkId, page: c.page, text: c.text, ...(book.title ? { title: book.title } : {}), ...(c.section ? { section: c.section } : {}) },
      }));
      await p.vectors.upsert(points);
      done += batch.length;
      batch = [];
      ctx.progress(Math.min(99, (100 * done) / Math.max(1, total)), `embedded ${done} of ${total} chunks`);
    };

    for await (const chunk of p.books.readChunks(bookId, only)) {
      batch.push(chunk);
      if (batch.length >= p.config.embedBatch) await flush();
    }
    await flush();
    if (only && done < only.size) throw new NonRetryableError(`${only.size - done} of the requested chunk ids are not in book ${bookId}`, "unknown_chunks");

    if (!only) {
      const latest = (await p.books.get(bookId)) ?? book;
      // Only a complete run over the same content marks the book as embedded.
      if (latest.contentHash === book.contentHash) await p.books.put({ ...latest, embeddedWith: p.embedder.name, embeddedChunks: done });
    }
    ctx.log.info(`embedded ${done} chunks with ${p.embedder.name} into ${p.vectors.name}`, { bookId });
    return { bookId, embedded: done, embedder: p.embedder.name, store: p.vectors.name };
  };
}
