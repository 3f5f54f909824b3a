// The document pipeline's settings: chunking, embeddings, vector stores, the LLM, sources, and the
// limits a document must stay within. Read by the API (search, source registration) and workers.
import { z } from "zod";
import { bool, int, list } from "../kernel/config.js";
import { DEFAULT_DOCUMENT_LIMITS, DEFAULT_PARSER_HEAP_MB, DEFAULT_PARSER_THREADS, type DocumentLimits } from "./document-limits.js";
import { DEFAULT_VECTOR_INDEX_SETTINGS, type VectorIndexSettings } from "./vectors/vector-index-settings.js";
export { DEFAULT_DOCUMENT_LIMITS, DEFAULT_PARSER_HEAP_MB, DOCUMENT_LIMIT_SETTINGS, type DocumentLimits } from "./document-limits.js";

export const LIBRARY_SETTINGS = z.object({
  JETQ_DATA_DIR: z.string().default("./.jetq"),
  // Document pipeline
  JETQ_CHUNK_SIZE: int(1200, 100),
  JETQ_CHUNK_OVERLAP: int(200, 0),
  JETQ_EMBED_BATCH: int(64, 1),
  JETQ_LEXICAL_DIMENSIONS: int(512, 16),
  OPENAI_BASE_URL: z.string().url().optional(),
  OPENAI_API_KEY: z.string().optional(),
  JETQ_EMBEDDING_MODEL: z.string().default("text-embedding-3-small"),
  JETQ_EMBEDDING_DIMENSIONS: z.coerce.number().int().min(1).optional(),
  JETQ_QUIZ_MODEL: z.string().default("gpt-4o-mini"),
  JETQ_LLM_MAX_RETRIES: int(5, 0),
  QDRANT_URL: z.string().url().optional(),
  QDRANT_API_KEY: z.string().optional(),
  QDRANT_COLLECTION: z.string().default("jetq_chunks"),
  // The embedded vector store's ANN index (library/vectors/lance-collection.ts)
  JETQ_VECTOR_INDEX_MIN_ROWS: int(DEFAULT_VECTOR_INDEX_SETTINGS.indexMinRows, 256),
  JETQ_VECTOR_INDEX_TAIL_ROWS: int(DEFAULT_VECTOR_INDEX_SETTINGS.indexTailRows, 1),
  JETQ_VECTOR_INDEX_BITS: int(DEFAULT_VECTOR_INDEX_SETTINGS.indexBits, 1).pipe(z.number().max(8)),
  JETQ_VECTOR_NPROBES: int(DEFAULT_VECTOR_INDEX_SETTINGS.nprobes, 1),
  JETQ_VECTOR_REFINE_FACTOR: int(DEFAULT_VECTOR_INDEX_SETTINGS.refineFactor, 1),
  JETQ_SOURCES_ROOT: z.string().default(""),
  JETQ_SOURCES_ALLOW_PRIVATE: bool(false),
  JETQ_SOURCES_ALLOWED_HOSTS: list(""),
  JETQ_SOURCES_MAX_BYTES: int(200 * 1024 * 1024, 1),
  JETQ_SOURCES_TIMEOUT_MS: int(60_000, 100),
  JETQ_SYNC_SCHEDULER_MS: int(30_000, 100),
  // Document limits: over one, a book fails once, non-retryable, with an error naming the setting
  JETQ_DOC_MAX_PAGES: int(DEFAULT_DOCUMENT_LIMITS.maxPages, 1),
  JETQ_DOC_MAX_CHARACTERS: int(DEFAULT_DOCUMENT_LIMITS.maxCharacters, 1),
  JETQ_DOC_MAX_CHUNKS: int(DEFAULT_DOCUMENT_LIMITS.maxChunks, 1),
  JETQ_DOC_MAX_PART_BYTES: int(DEFAULT_DOCUMENT_LIMITS.maxPartBytes, 1),
  JETQ_DOC_MAX_INFLATED_BYTES: int(DEFAULT_DOCUMENT_LIMITS.maxInflatedBytes, 1),
  JETQ_DOC_MAX_ARCHIVE_ENTRIES: int(DEFAULT_DOCUMENT_LIMITS.maxArchiveEntries, 1),
  JETQ_DOC_MAX_COMPRESSION_RATIO: int(DEFAULT_DOCUMENT_LIMITS.maxCompressionRatio, 1),
  JETQ_DOC_MAX_PART_SECONDS: int(DEFAULT_DOCUMENT_LIMITS.maxPartSeconds, 1),
  JETQ_DOC_PARSER_HEAP_MB: int(DEFAULT_PARSER_HEAP_MB, 32),
  JETQ_DOC_PARSER_THREADS: int(DEFAULT_PARSER_THREADS, 1),
});
export type LibrarySettings = z.infer<typeof LIBRARY_SETTINGS>;

export interface DocumentsConfig {
  /** Where the embedded vector store keeps its files. */
  vectorDir: string;
  chunkSize: number;
  chunkOverlap: number;
  embedBatch: number;
  lexicalDimensions: number;
  /** Set when an OpenAI-compatible API is configured (OPENAI_BASE_URL or OPENAI_API_KEY). */
  openai?: { baseURL?: string; apiKey: string; embeddingModel: string; embeddingDimensions?: number; quizModel: string; maxRetries: number };
  qdrant?: { url: string; apiKey?: string; collection: string };
  /** The embedded store's index settings; DEFAULT_VECTOR_INDEX_SETTINGS when absent. */
  vectorIndex?: VectorIndexSettings;
  sources: { allowPrivateAddresses: boolean; allowedHosts: string[]; directoryRoot: string; maxBytes: number; timeoutMs: number };
  syncSchedulerMs: number;
  /** Always set by loadConfig; optional only so hand-built configs (tests) may leave it out: DEFAULT_DOCUMENT_LIMITS then. */
  limits?: DocumentLimits;
  /** Heap of the thread a document is extracted in (JETQ_DOC_PARSER_HEAP_MB): past it only that thread dies. DEFAULT_PARSER_HEAP_MB when absent. */
  parserHeapMb?: number;
  /** Documents one worker process reads at once (JETQ_DOC_PARSER_THREADS); DEFAULT_PARSER_THREADS when absent. */
  parserThreads?: number;
}

export function libraryConfig(e: LibrarySettings): DocumentsConfig {
  return {
    vectorDir: `${e.JETQ_DATA_DIR}/vectors`,
    chunkSize: e.JETQ_CHUNK_SIZE,
    chunkOverlap: Math.min(e.JETQ_CHUNK_OVERLAP, e.JETQ_CHUNK_SIZE - 1),
    embedBatch: e.JETQ_EMBED_BATCH,
    lexicalDimensions: e.JETQ_LEXICAL_DIMENSIONS,
    ...(e.OPENAI_BASE_URL || e.OPENAI_API_KEY
      ? {
          openai: {
            ...(e.OPENAI_BASE_URL ? { baseURL: e.OPENAI_BASE_URL } : {}),
            apiKey: e.OPENAI_API_KEY ?? "none", // local OpenAI-compatible servers often need no key
            embeddingModel: e.JETQ_EMBEDDING_MODEL,
            ...(e.JETQ_EMBEDDING_DIMENSIONS ? { embeddingDimensions: e.JETQ_EMBEDDING_DIMENSIONS } : {}),
            quizModel: e.JETQ_QUIZ_MODEL,
            maxRetries: e.JETQ_LLM_MAX_RETRIES,
          },
        }
      : {}),
    vectorIndex: {
      ...DEFAULT_VECTOR_INDEX_SETTINGS,
      indexMinRows: e.JETQ_VECTOR_INDEX_MIN_ROWS,
      indexTailRows: e.JETQ_VECTOR_INDEX_TAIL_ROWS,
      indexBits: e.JETQ_VECTOR_INDEX_BITS,
      nprobes: e.JETQ_VECTOR_NPROBES,
      refineFactor: e.JETQ_VECTOR_REFINE_FACTOR,
    },
    ...(e.QDRANT_URL ? { qdrant: { url: e.QDRANT_URL, ...(e.QDRANT_API_KEY ? { apiKey: e.QDRANT_API_KEY } : {}), collection: e.QDRANT_COLLECTION } } : {}),
    sources: {
      allowPrivateAddresses: e.JETQ_SOURCES_ALLOW_PRIVATE,
      allowedHosts: e.JETQ_SOURCES_ALLOWED_HOSTS,
      directoryRoot: e.JETQ_SOURCES_ROOT,
      maxBytes: e.JETQ_SOURCES_MAX_BYTES,
      timeoutMs: e.JETQ_SOURCES_TIMEOUT_MS,
    },
    syncSchedulerMs: e.JETQ_SYNC_SCHEDULER_MS,
    limits: {
      maxPages: e.JETQ_DOC_MAX_PAGES,
      maxCharacters: e.JETQ_DOC_MAX_CHARACTERS,
      maxChunks: e.JETQ_DOC_MAX_CHUNKS,
      maxPartBytes: e.JETQ_DOC_MAX_PART_BYTES,
      maxInflatedBytes: e.JETQ_DOC_MAX_INFLATED_BYTES,
      maxArchiveEntries: e.JETQ_DOC_MAX_ARCHIVE_ENTRIES,
      maxCompressionRatio: e.JETQ_DOC_MAX_COMPRESSION_RATIO,
      maxPartSeconds: e.JETQ_DOC_MAX_PART_SECONDS,
    },
    parserHeapMb: e.JETQ_DOC_PARSER_HEAP_MB,
    parserThreads: e.JETQ_DOC_PARSER_THREADS,
  };
}
