// The task handlers this worker image ships, by task type, wired to their stores and providers.
import type { DocumentsConfig } from "../../library/config.js";
import type { LibraryConnection } from "../../library/connection.js";
import { BookStore } from "../../library/books.js";
import { createEmbedder } from "../../library/embeddings/index.js";
import { SourceRegistry } from "../../library/sources.js";
import { createVectorStore } from "../../library/vectors/index.js";
import type { TaskHandler } from "../handler.js";
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

export function documentHandlers(pipeline: Pipeline): Map<string, TaskHandler> {
  return new Map<string, TaskHandler>([
    ["process_book", processBook(pipeline) as TaskHandler],
    ["generate_embeddings", generateEmbeddings(pipeline) as TaskHandler],
    ["sync_sources", syncSources(pipeline) as TaskHandler],
    ["create_quiz", createQuiz(pipeline) as TaskHandler],
  ]);
}
