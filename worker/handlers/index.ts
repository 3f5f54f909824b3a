// The task handlers this worker image ships, by task type, wired to their stores and providers.
import type { DocumentsConfig } from "../../library/config.js";
import type { LibraryConnection } from "../../library/connection.js";
import { BookStore } from "../../library/books.js";
import { createEmbedder } from "../../library/embeddings/index.js";
import { SourceRegistry } from "../../library/sources.js";
import { createVectorStore } from "../../library/vectors/index.js";
import { CreateQuizPayload, GenerateEmbeddingsPayload, ProcessBookPayload, SyncSourcesPayload } from "../../library/task-types.js";
import type { HandlersFor, TaskHandler } from "../handler.js";
import { createQuizGenerator } from "../quiz/index.js";
import { createQuiz } from "./create-quiz.js";
import { generateEmbeddings } from "./generate-embeddings.js";
import type { Pipeline } from "./pipeline.js";
import { processBook } from "./process-book.js";
import { syncSources } from "./sync-sources.js";

export function createPipeline(conn: LibraryConnection, config: DocumentsConfig): Pipeline {
  return {
    conn,
    config,
    books: new BookStore(conn),
    sources: new SourceRegistry(conn),
    embedder: createEmbedder(config),
    vectors: createVectorStore(config),
    quiz: createQuizGenerator(config),
  };
}

/** The document pipeline's task types and their payload schemas, as registered by documentTaskTypes(). */
export const DOCUMENT_PAYLOADS = {
  process_book: ProcessBookPayload,
  generate_embeddings: GenerateEmbeddingsPayload,
  sync_sources: SyncSourcesPayload,
  create_quiz: CreateQuizPayload,
} as const;

/** Each handler checked against its own type's schema: a handler for the wrong payload does not compile. */
export function documentHandlerMap(pipeline: Pipeline): HandlersFor<typeof DOCUMENT_PAYLOADS> {
  return {
    process_book: processBook(pipeline),
    generate_embeddings: generateEmbeddings(pipeline),
    sync_sources: syncSources(pipeline),
    create_quiz: createQuiz(pipeline),
  };
}

export function documentHandlers(pipeline: Pipeline): Map<string, TaskHandler> {
  return new Map<string, TaskHandler>(Object.entries(documentHandlerMap(pipeline)));
}
