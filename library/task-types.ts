// The four task types of the document pipeline, as payload schemas. Field names are the API
// contract (SPEC.md); extra optional fields are welcome, unknown ones are refused so typos show.
import { z } from "zod";
import { BookStore } from "./books.js";
import { openLibrary } from "./connection.js";
import type { JetqConnection } from "../kernel/connection.js";
import { InvalidError } from "../kernel/errors.js";
import { jetqId } from "../kernel/ids.js";
import { TaskTypeRegistry } from "../kernel/registry.js";

const bookId = jetqId("book");
const chunkIds = z.array(z.string().min(1).max(256)).max(100_000);

export const ProcessBookPayload = z
  .object({
    bookId,
    filename: z.string().min(1).max(512).optional(),
    contentType: z.string().min(1).max(256).optional(),
    chunkSize: z.number().int().min(100).max(20_000).optional(),
    chunkOverlap: z.number().int().min(0).max(5_000).optional(),
  })
  .strict()
  .refine((p) => p.chunkOverlap === undefined || p.chunkSize === undefined || p.chunkOverlap < p.chunkSize, {
    message: "chunkOverlap must be smaller than chunkSize",
    path: ["chunkOverlap"],
  });

export const GenerateEmbeddingsPayload = z.object({ bookId, chunkIds: chunkIds.optional() }).strict();

export const SyncSourcesPayload = z.object({ sourceId: jetqId("source").optional() }).strict();

export const CreateQuizPayload = z
  .object({
    bookId,
    questionCount: z.number().int().min(1).max(100).optional(),
    chunkIds: chunkIds.optional(),
  })
  .strict();

/**
 * Refuses a task about a book jetq has never heard of: neither processed (a record) nor uploaded
 * (a book that is still waiting for its process_book has only its upload).
 */
async function bookMustExist({ bookId }: { bookId: string }, conn: JetqConnection, tenant: string): Promise<void> {
  const books = new BookStore(await openLibrary(conn));
  // Another tenant's book is refused exactly like a missing one: nothing tells that it exists.
  if ((await books.tenantOfBook(bookId)) === tenant) return;
  throw new InvalidError("book_not_found", `book ${bookId} does not exist: upload it first (POST /api/books)`, [{ path: "payload.bookId", message: "no such book" }]);
}

/** The registry with jetq's built-in task types. Tests and embedders may register more. */
export function documentTaskTypes(registry = new TaskTypeRegistry()): TaskTypeRegistry {
  return registry
    .register({
      name: "process_book",
      description: "Parse an uploaded book, split it into overlapping chunks, then chain generate_embeddings.",
      payload: ProcessBookPayload,
      defaultTimeoutSeconds: 1800,
    })
    .register({
      name: "generate_embeddings",
      description: "Embed a book's chunks in batches and upsert them into the vector store (idempotent).",
      payload: GenerateEmbeddingsPayload,
      defaultTimeoutSeconds: 1800,
      admit: bookMustExist,
    })
    .register({
      name: "sync_sources",
      description: "Re-synchronise registered sources; enqueue process_book for what changed.",
      payload: SyncSourcesPayload,
    })
    .register({
      name: "create_quiz",
      description: "Generate a quiz from a book or a selection of its chunks.",
      payload: CreateQuizPayload,
      admit: bookMustExist,
    });
}
