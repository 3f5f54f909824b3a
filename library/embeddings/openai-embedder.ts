// Embeddings from any OpenAI-compatible API (OpenAI, vLLM, Ollama, LiteLLM…) through the `openai`
// package, retried as library/llm/retry-policy.ts says (429, 5xx and network errors with backoff,
// honouring Retry-After; any other 4xx fails at once as non-retryable).
//
// Dimensions: known up front when configured (and then sent to the API, which text-embedding-3
// models honour) or for the well-known OpenAI models; otherwise discovered from the first response.
// Until then `dimensions` throws — call `init()` (one probe request) or `embed()` first; `name` is
// then openai:<model> without the size (the model's native size is fixed, so the name still
// identifies the vector space).
import type OpenAI from "openai";
import type { BackoffPolicy } from "../../kernel/backoff.js";
import { NonRetryableError } from "../../kernel/errors.js";
import { openAIClient } from "../llm/openai-client.js";
import { withRetries, type RetryPolicy, type RetryReporting } from "../llm/retry-policy.js";
import { normaliseL2 } from "../vectors/l2-normalise.js";
import type { Embedder } from "./embedder.js";

/** Native sizes of OpenAI's own models, so their dimensions are known without a probe. */
const KNOWN_DIMENSIONS: Record<string, number> = {
  "text-embedding-3-small": 1536,
  "text-embedding-3-large": 3072,
  "text-embedding-ada-002": 1536,
};

export interface OpenAIEmbedderOptions {
  /** e.g. http://localhost:11434/v1 for Ollama; the SDK's default (api.openai.com) when unset. */
  baseURL?: string;
  apiKey: string;
  model: string;
  /** Sent as `dimensions` when set; the model's native size otherwise. */
  dimensions?: number;
  /** Inputs per request; 64 by default (JETQ_EMBED_BATCH). */
  batchSize?: number;
  /** Retries per request after the first attempt; 5 by default (JETQ_LLM_MAX_RETRIES). */
  maxRetries?: number;
  /** Backoff between retries when the server does not say how long to wait. */
  backoff?: BackoffPolicy;
  /** A Retry-After longer than this is not waited out here: the error goes up, retryable, and the
   * task runtime's own backoff takes over instead of a worker slot idling. 60 s by default. */
  maxRetryAfterMs?: number;
  /** Per-request time limit; 60 s by default. */
  timeoutMs?: number;
  /** Called before each retry, for logs and metrics. */
  onRetry?: (info: { attempt: number; delayMs: number; status?: number; message: string }) => void;
}

/** Thrown when the API stays unavailable after every retry; retryable at the task level. */
export class EmbeddingServiceError extends Error {
  readonly code = "embedding_unavailable";
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "EmbeddingServiceError";
  }
}

export class OpenAIEmbedder implements Embedder {
  /** openai:<model>:<dims>, or openai:<model> when the size is the model's own and not known in
   * advance. Fixed at construction, so that every process names the same setup the same way. */
  readonly name: string;
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly requestedDimensions?: number;
  private knownDimensions?: number;
  private readonly batchSize: number;
  private readonly retry: RetryPolicy;
  private readonly report: RetryReporting;

  constructor(options: OpenAIEmbedderOptions) {
    this.client = openAIClient({ apiKey: options.apiKey, ...(options.baseURL ? { baseURL: options.baseURL } : {}), timeoutMs: options.timeoutMs ?? 60_000 });
    this.model = options.model;
    this.requestedDimensions = options.dimensions;
    this.knownDimensions = options.dimensions ?? KNOWN_DIMENSIONS[options.model];
    this.name = this.knownDimensions === undefined ? `openai:${options.model}` : `openai:${options.model}:${this.knownDimensions}`;
    this.batchSize = Math.max(1, options.batchSize ?? 64);
    this.retry = {
      maxRetries: Math.max(0, options.maxRetries ?? 5),
      backoff: options.backoff ?? { baseMs: 500, maxMs: 30_000 },
      maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
    };
    this.report = {
      rejected: (f) => new NonRetryableError(f.message, "embedding_request_rejected"),
      exhausted: (f, attempts) => new EmbeddingServiceError(`embedding API still failing after ${attempts} attempts: ${f.message}`, f.status),
      waitTooLong: (f, waitMs) => new EmbeddingServiceError(`embedding API asks to retry after ${Math.round(waitMs / 1000)} s: ${f.message}`, f.status),
      ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    };
  }

  get dimensions(): number {
    if (this.knownDimensions === undefined) {
      throw new Error(
        `embedding dimensions of model ${this.model} are not known yet: set JETQ_EMBEDDING_DIMENSIONS, or call init() or embed() before reading them`,
      );
    }
    return this.knownDimensions;
  }

  /** Makes `dimensions` known, with one probe request when neither configuration nor the model name tells. */
  async init(signal?: AbortSignal): Promise<void> {
    if (this.knownDimensions === undefined) await this.embed(["dimension probe"], signal);
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    const out: Float32Array[] = new Array(texts.length);
    // Blank inputs are rejected by OpenAI (400); they embed to the zero vector without a request.
    const sendable: number[] = [];
    for (let i = 0; i < texts.length; i++) if (texts[i]!.trim() !== "") sendable.push(i);
    for (let from = 0; from < sendable.length; from += this.batchSize) {
      const indexes = sendable.slice(from, from + this.batchSize);
      const vectors = await withRetries(() => this.request(indexes.map((i) => texts[i]!), signal), this.retry, this.report, signal);
      indexes.forEach((textIndex, k) => (out[textIndex] = vectors[k]!));
    }
    if (sendable.length < texts.length) {
      await this.init(signal); // only every text blank and the size still unknown costs a probe
      const dims = this.dimensions;
      for (let i = 0; i < texts.length; i++) out[i] ??= new Float32Array(dims);
    }
    return out;
  }

  private async request(inputs: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const res = await this.client.embeddings.create(
      {
        model: this.model,
        input: inputs,
        // Floats, not the SDK's default base64: several compatible servers ignore encoding_format.
        encoding_format: "float",
        ...(this.requestedDimensions ? { dimensions: this.requestedDimensions } : {}),
      },
      signal ? { signal } : {},
    );
    if (!Array.isArray(res.data) || res.data.length !== inputs.length) {
      throw new NonRetryableError(
        `embedding API returned ${Array.isArray(res.data) ? res.data.length : "no"} vectors for ${inputs.length} inputs`,
        "embedding_response_invalid",
      );
    }
    const vectors: Float32Array[] = new Array(inputs.length);
    for (const item of res.data) {
      const index = item.index;
      if (!Number.isInteger(index) || index < 0 || index >= inputs.length || vectors[index]) {
        throw new NonRetryableError(`embedding API returned an invalid index ${index}`, "embedding_response_invalid");
      }
      vectors[index] = this.toUnitVector(item.embedding);
    }
    return vectors;
  }

  private toUnitVector(embedding: number[] | string): Float32Array {
    if (!Array.isArray(embedding)) throw new NonRetryableError("embedding API returned a non-float embedding", "embedding_response_invalid");
    if (this.knownDimensions === undefined) this.knownDimensions = embedding.length;
    if (embedding.length !== this.knownDimensions) {
      throw new NonRetryableError(
        `embedding API returned ${embedding.length} dimensions, expected ${this.knownDimensions} (model ${this.model})`,
        "embedding_dimensions_mismatch",
      );
    }
    const v = Float32Array.from(embedding);
    normaliseL2(v);
    return v;
  }
}
