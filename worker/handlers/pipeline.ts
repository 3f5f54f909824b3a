// What the document handlers share: the stores and providers, built once per worker process.
import type { DocumentsConfig } from "../../core/config.js";
import type { JetqConnection } from "../../core/connection.js";
import type { BookStore } from "../../core/books.js";
import type { Embedder } from "../../core/embeddings/embedder.js";
import type { SourceRegistry } from "../../core/sources.js";
import type { VectorStore } from "../../core/vectors/vector-store.js";
import type { QuizGenerator } from "../quiz/quiz-generator.js";

export interface Pipeline {
  conn: JetqConnection;
  config: DocumentsConfig;
  books: BookStore;
  sources: SourceRegistry;
  embedder: Embedder;
  vectors: VectorStore;
  quiz: QuizGenerator;
}
