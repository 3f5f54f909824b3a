// Picks the vector store from configuration: Qdrant when QDRANT_URL is set, the embedded
// on-disk store (LanceDB) under vectorDir otherwise.
import type { DocumentsConfig } from "../config.js";
import { LocalVectorStore } from "./local-vector-store.js";
import { QdrantVectorStore } from "./qdrant-vector-store.js";
import type { VectorStore } from "./vector-store.js";

export type { ChunkPayload, SearchHit, VectorPoint, VectorStore } from "./vector-store.js";
export { pointId } from "./vector-store.js";
export { LocalVectorStore } from "./local-vector-store.js";
export { QdrantVectorStore } from "./qdrant-vector-store.js";

export function createVectorStore(cfg: DocumentsConfig): VectorStore {
  if (cfg.qdrant) {
    return new QdrantVectorStore({ url: cfg.qdrant.url, ...(cfg.qdrant.apiKey ? { apiKey: cfg.qdrant.apiKey } : {}), collection: cfg.qdrant.collection });
  }
  return new LocalVectorStore(cfg.vectorDir, cfg.vectorIndex ? { index: cfg.vectorIndex } : {});
}
