// What the document handlers share: the stores and providers, built once per worker process.
import type { DocumentsConfig } from "../../library/config.js";
import type { LibraryConnection } from "../../library/connection.js";
import type { BookStore } from "../../library/books.js";
import type { Embedder } from "../../library/embeddings/embedder.js";
import type { SourceRegistry } from "../../library/sources.js";
import type { VectorStore } from "../../library/vectors/vector-store.js";
import type { QuizGenerator } from "../quiz/quiz-generator.js";

export interface Pipeline {
  conn: LibraryConnection;
  config: DocumentsConfig;
  books: BookStore;
  sources: SourceRegistry;
  embedder: Embedder;
  vectors: VectorStore;
  quiz: QuizGenerator;
}
