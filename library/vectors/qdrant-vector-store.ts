// Vectors in Qdrant (QDRANT_URL), through @qdrant/js-client-rest: one collection with cosine
// distance and keyword indexes on bookId and tenant, so filtered searches and book deletions stay
// fast. Qdrant's planner searches a tenant too small for its graph exactly through the index, and
// a large one through HNSW with the extra links it builds per indexed keyword value, so neither is
// cut short by a graph that mostly links other tenants' points; is_tenant (its multitenancy
// guidance) also keeps each tenant's points together in storage.
import { QdrantClient, type Schemas } from "@qdrant/js-client-rest";
import { NonRetryableError } from "../../kernel/errors.js";
import { DEFAULT_TENANT } from "../../kernel/task.js";
import type { ChunkPayload, SearchHit, VectorFilter, VectorPoint, VectorStore } from "./vector-store.js";

export interface QdrantVectorStoreOptions {
  url: string;
  apiKey?: string;
  /** QDRANT_COLLECTION; jetq_chunks by default. */
  collection: string;
  /** Points per upsert request; 256 by default (keeps requests well under Qdrant's 32 MiB limit). */
  upsertBatch?: number;
  /** Per-request time limit; 60 s by default. */
  timeoutMs?: number;
}

export class QdrantVectorStore implements VectorStore {
  readonly name: string;
  private readonly client: QdrantClient;
  private readonly collection: string;
  private readonly upsertBatch: number;
  /** The size already checked against the server, so each task does not ask again. */
  private ensuredSize?: number;

  constructor(options: QdrantVectorStoreOptions) {
    // checkCompatibility off: it would fetch the server version (and warn) at construction.
    this.client = new QdrantClient({
      url: options.url,
      ...(options.apiKey ? { apiKey: options.apiKey } : {}),
      timeout: options.timeoutMs ?? 60_000,
      checkCompatibility: false,
    });
    this.collection = options.collection;
    this.upsertBatch = Math.max(1, options.upsertBatch ?? 256);
    this.name = `qdrant:${options.collection}`;
  }

  async ensureCollection(dimensions: number): Promise<void> {
    if (this.ensuredSize === dimensions) return;
    const { exists } = await this.client.collectionExists(this.collection);
    if (!exists) {
      try {
        await this.client.createCollection(this.collection, { vectors: { size: dimensions, distance: "Cosine" } });
      } catch (err) {
        // Another worker created it first: fine, it is checked below like any existing one.
        if (statusOf(err) !== 409 && !/already exists/i.test(errorText(err))) throw err;
      }
    }
    const info = await this.client.getCollection(this.collection);
    const vectors = info.config.params.vectors as { size?: unknown; distance?: unknown } | undefined;
    if (!vectors || typeof vectors.size !== "number") {
      throw new NonRetryableError(`Qdrant collection ${this.collection} uses named vectors; jetq needs a single unnamed vector`, "vector_collection_incompatible");
    }
    if (vectors.size !== dimensions) {
      throw new NonRetryableError(
        `Qdrant collection ${this.collection} holds vectors of size ${vectors.size}, but the embedder makes ${dimensions}: ` +
          `set QDRANT_COLLECTION to another name, or delete the collection to re-embed everything`,
        "vector_size_mismatch",
      );
    }
    if (vectors.distance !== "Cosine") {
      throw new NonRetryableError(`Qdrant collection ${this.collection} uses ${String(vectors.distance)} distance; jetq needs Cosine`, "vector_collection_incompatible");
    }
    if (!info.payload_schema?.["bookId"]) {
      await this.client.createPayloadIndex(this.collection, { field_name: "bookId", field_schema: "keyword", wait: true });
    }
    // Added to collections made before tenants too; their points without a tenant are DEFAULT_TENANT's (see tenantCondition).
    if (!info.payload_schema?.["tenant"]) {
      await this.client.createPayloadIndex(this.collection, { field_name: "tenant", field_schema: { type: "keyword", is_tenant: true }, wait: true });
    }
    this.ensuredSize = dimensions;
  }

  async upsert(points: VectorPoint[]): Promise<void> {
    for (let i = 0; i < points.length; i += this.upsertBatch) {
      const batch = points.slice(i, i + this.upsertBatch);
      await this.client.upsert(this.collection, {
        wait: true,
        points: batch.map((p) => ({ id: p.id, vector: Array.from(p.vector), payload: { ...p.payload } })),
      });
    }
  }

  async search(vector: Float32Array, k: number, filter: VectorFilter = {}): Promise<SearchHit[]> {
    if (k <= 0) return [];
    try {
      const where = qdrantFilter(filter);
      const res = await this.client.query(this.collection, { query: Array.from(vector), limit: k, with_payload: true, ...(where ? { filter: where } : {}) });
      return res.points.map((p) => ({ score: p.score, payload: p.payload as unknown as ChunkPayload }));
    } catch (err) {
      if (statusOf(err) === 404) return []; // nothing embedded yet
      throw err;
    }
  }

  async deleteBook(bookId: string): Promise<void> {
    try {
      await this.client.delete(this.collection, { wait: true, filter: byBook(bookId) });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  async count(filter: VectorFilter = {}): Promise<number> {
    try {
      const where = qdrantFilter(filter);
      const res = await this.client.count(this.collection, { exact: true, ...(where ? { filter: where } : {}) });
      return res.count;
    } catch (err) {
      if (statusOf(err) === 404) return 0;
      throw err;
    }
  }

  async close(): Promise<void> {
    // The REST client holds no connection that needs closing.
  }
}

type QdrantFilter = Schemas["Filter"];
type QdrantCondition = Schemas["Condition"];

const byBook = (bookId: string): QdrantFilter => ({ must: [{ key: "bookId", match: { value: bookId } }] });

/** The tenant's points; DEFAULT_TENANT's also include points written before tenants, which have none. */
function tenantCondition(tenant: string): QdrantCondition {
  const named: QdrantCondition = { key: "tenant", match: { value: tenant } };
  return tenant === DEFAULT_TENANT ? { should: [named, { is_empty: { key: "tenant" } }] } : named;
}

/** The filter for `filter`; undefined when it filters nothing. */
function qdrantFilter(filter: VectorFilter): QdrantFilter | undefined {
  const must: QdrantCondition[] = [];
  if (filter.bookId !== undefined) must.push({ key: "bookId", match: { value: filter.bookId } });
  if (filter.tenant !== undefined) must.push(tenantCondition(filter.tenant));
  return must.length > 0 ? { must } : undefined;
}

/** HTTP status of a client error: ApiError carries it; the client's own error only says it in words. */
function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown })?.status;
  if (typeof status === "number") return status;
  const m = /Unexpected Response: (\d{3})/.exec(errorText(err));
  return m ? Number(m[1]) : undefined;
}

function errorText(err: unknown): string {
  const e = err as { message?: unknown; data?: unknown };
  return `${typeof e?.message === "string" ? e.message : String(err)} ${e?.data ? JSON.stringify(e.data) : ""}`;
}
