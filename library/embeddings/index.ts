// Picks the embedder from configuration: an OpenAI-compatible API when one is configured,
// the offline lexical embedder otherwise.
import type { DocumentsConfig } from "../config.js";
import type { Embedder } from "./embedder.js";
import { LexicalEmbedder } from "./lexical-embedder.js";
import { OpenAIEmbedder } from "./openai-embedder.js";

export type { Embedder } from "./embedder.js";
export { LexicalEmbedder } from "./lexical-embedder.js";
export { EmbeddingServiceError, OpenAIEmbedder } from "./openai-embedder.js";

export function createEmbedder(cfg: DocumentsConfig): Embedder {
  if (cfg.openai) {
    return new OpenAIEmbedder({
      ...(cfg.openai.baseURL ? { baseURL: cfg.openai.baseURL } : {}),
      apiKey: cfg.openai.apiKey,
      model: cfg.openai.embeddingModel,
      ...(cfg.openai.embeddingDimensions ? { dimensions: cfg.openai.embeddingDimensions } : {}),
      batchSize: cfg.embedBatch,
      maxRetries: cfg.openai.maxRetries,
    });
  }
  return new LexicalEmbedder({ dimensions: cfg.lexicalDimensions });
}
