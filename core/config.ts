// Every setting jetq reads, in one place: read once from the environment, validated, passed in.
// The README's settings table is this file in prose; keep them in step.
import { z } from "zod";
import { DEFAULT_DOCUMENT_LIMITS, DEFAULT_PARSER_HEAP_MB, type DocumentLimits } from "./document-limits.js";
export { DEFAULT_DOCUMENT_LIMITS, DEFAULT_PARSER_HEAP_MB, DOCUMENT_LIMIT_SETTINGS, type DocumentLimits } from "./document-limits.js";

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const bool = (def: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"])
    .default(def ? "true" : "false")
    .transform((v) => v === "true" || v === "1" || v === "yes");
const list = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean));

const EnvSchema = z.object({
  NATS_URL: z.string().default("nats://127.0.0.1:4222"),
  JETQ_DATA_DIR: z.string().default("./.jetq"),
  PORT: int(8080),
  HOST: z.string().default("0.0.0.0"),
  LOG_LEVEL: z.enum(["error", "warn", "info", "http", "verbose", "debug", "silly"]).default("info"),

  // JetStream topology
  JETQ_REPLICAS: int(1, 1),
  JETQ_MAX_DELIVER: int(5, 1),
  JETQ_ACK_WAIT_MS: int(30_000, 1000),
  JETQ_DUPLICATE_WINDOW_MS: int(120_000, 1000),
  JETQ_FINISHED_TTL_S: int(7 * 24 * 3600, 1),
  JETQ_DLQ_MAX_AGE_S: int(30 * 24 * 3600, 0),
  JETQ_POOL: z.string().regex(/^[a-z0-9-]+$/).default("default"),

  // API
  JETQ_MAX_BODY_BYTES: int(1024 * 1024, 1024),
  JETQ_MAX_UPLOAD_BYTES: int(1024 * 1024 * 1024, 1),
  JETQ_MAX_UPLOAD_FILES: int(20, 1),

  // Worker runtime
  JETQ_CONCURRENCY: int(4, 1),
  JETQ_TASK_TYPES: list(""),
  JETQ_PRIORITY_WEIGHTS: z
    .string()
    .default("6,3,1")
    .transform((v) => v.split(",").map((n) => Number(n)))
    .refine((w) => w.length === 3 && w.every((n) => Number.isInteger(n) && n > 0), "three positive integers: high,normal,low"),
  JETQ_BACKOFF_BASE_MS: int(1000, 0),
  JETQ_BACKOFF_MAX_MS: int(5 * 60_000, 0),
  JETQ_DEFAULT_TIMEOUT_S: int(600, 1),
  JETQ_HARD_TIMEOUT_GRACE_MS: int(30_000, 0),
  JETQ_SHUTDOWN_GRACE_MS: int(30_000, 0),
  JETQ_WORKER_METRICS_PORT: int(9091, 0),
  JETQ_PROGRESS_MIN_INTERVAL_MS: int(250, 0),
  JETQ_RUNNING_WRITE_DELAY_MS: int(100, 0),

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
  JETQ_DOC_PARSER_HEAP_MB: int(DEFAULT_PARSER_HEAP_MB, 32),

  // Local worker pool behind `npm start` (the operator does the same in Kubernetes)
  JETQ_START_NATS: bool(true),
  JETQ_LOCAL_MIN_WORKERS: int(1, 0),
  JETQ_LOCAL_MAX_WORKERS: int(4, 1),
  JETQ_LOCAL_TARGET_BACKLOG: int(20, 1),
  JETQ_LOCAL_POLL_MS: int(2000, 100),
  JETQ_LOCAL_SCALE_DOWN_WINDOW_S: int(60, 0),
});

export type Env = z.infer<typeof EnvSchema>;

export interface JetqConfig {
  natsUrl: string;
  dataDir: string;
  logLevel: Env["LOG_LEVEL"];
  topology: TopologyConfig;
  api: ApiConfig;
  worker: WorkerConfig;
  localPool: LocalPoolConfig;
  documents: DocumentsConfig;
}

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
  sources: { allowPrivateAddresses: boolean; allowedHosts: string[]; directoryRoot: string; maxBytes: number; timeoutMs: number };
  syncSchedulerMs: number;
  /** Always set by loadConfig; optional only so hand-built configs (tests) may leave it out: DEFAULT_DOCUMENT_LIMITS then. */
  limits?: DocumentLimits;
  /** Heap of the thread a document is extracted in (JETQ_DOC_PARSER_HEAP_MB): past it only that thread dies. DEFAULT_PARSER_HEAP_MB when absent. */
  parserHeapMb?: number;
}

export interface TopologyConfig {
  replicas: number;
  maxDeliver: number;
  ackWaitMs: number;
  duplicateWindowMs: number;
  finishedTtlSeconds: number;
  dlqMaxAgeSeconds: number;
  pool: string;
}

export interface ApiConfig {
  port: number;
  host: string;
  maxBodyBytes: number;
  maxUploadBytes: number;
  maxUploadFiles: number;
}

export interface WorkerConfig {
  concurrency: number;
  /** Task types this worker serves; empty means every registered type. */
  taskTypes: string[];
  priorityWeights: { high: number; normal: number; low: number };
  backoffBaseMs: number;
  backoffMaxMs: number;
  defaultTimeoutSeconds: number;
  hardTimeoutGraceMs: number;
  shutdownGraceMs: number;
  metricsPort: number;
  progressMinIntervalMs: number;
  /** A task's `running` state is written only once it has run this long (0: at once). */
  runningWriteDelayMs: number;
}

export interface LocalPoolConfig {
  startNats: boolean;
  minWorkers: number;
  maxWorkers: number;
  targetBacklogPerWorker: number;
  pollMs: number;
  scaleDownWindowSeconds: number;
}

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined> = process.env): JetqConfig {
  // Empty strings mean "unset", as they do for most twelve-factor tools.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const [high, normal, low] = e.JETQ_PRIORITY_WEIGHTS;
  return {
    natsUrl: e.NATS_URL,
    dataDir: e.JETQ_DATA_DIR,
    logLevel: e.LOG_LEVEL,
    topology: {
      replicas: e.JETQ_REPLICAS,
      maxDeliver: e.JETQ_MAX_DELIVER,
      ackWaitMs: e.JETQ_ACK_WAIT_MS,
      duplicateWindowMs: e.JETQ_DUPLICATE_WINDOW_MS,
      finishedTtlSeconds: e.JETQ_FINISHED_TTL_S,
      dlqMaxAgeSeconds: e.JETQ_DLQ_MAX_AGE_S,
      pool: e.JETQ_POOL,
    },
    api: {
      port: e.PORT,
      host: e.HOST,
      maxBodyBytes: e.JETQ_MAX_BODY_BYTES,
      maxUploadBytes: e.JETQ_MAX_UPLOAD_BYTES,
      maxUploadFiles: e.JETQ_MAX_UPLOAD_FILES,
    },
    worker: {
      concurrency: e.JETQ_CONCURRENCY,
      taskTypes: e.JETQ_TASK_TYPES,
      priorityWeights: { high: high!, normal: normal!, low: low! },
      backoffBaseMs: e.JETQ_BACKOFF_BASE_MS,
      backoffMaxMs: e.JETQ_BACKOFF_MAX_MS,
      defaultTimeoutSeconds: e.JETQ_DEFAULT_TIMEOUT_S,
      hardTimeoutGraceMs: e.JETQ_HARD_TIMEOUT_GRACE_MS,
      shutdownGraceMs: e.JETQ_SHUTDOWN_GRACE_MS,
      metricsPort: e.JETQ_WORKER_METRICS_PORT,
      progressMinIntervalMs: e.JETQ_PROGRESS_MIN_INTERVAL_MS,
      runningWriteDelayMs: e.JETQ_RUNNING_WRITE_DELAY_MS,
    },
    documents: {
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
      },
      parserHeapMb: e.JETQ_DOC_PARSER_HEAP_MB,
    },
    localPool: {
      startNats: e.JETQ_START_NATS,
      minWorkers: e.JETQ_LOCAL_MIN_WORKERS,
      maxWorkers: e.JETQ_LOCAL_MAX_WORKERS,
      targetBacklogPerWorker: e.JETQ_LOCAL_TARGET_BACKLOG,
      pollMs: e.JETQ_LOCAL_POLL_MS,
      scaleDownWindowSeconds: e.JETQ_LOCAL_SCALE_DOWN_WINDOW_S,
    },
  };
}
