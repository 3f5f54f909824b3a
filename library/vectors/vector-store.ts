// A VectorStore keeps chunk vectors with their metadata and finds the nearest ones. One file per
// implementation behind this interface: the embedded on-disk default and Qdrant.
import { v5 as uuidv5 } from "uuid";

export interface ChunkPayload {
  bookId: string;
  /** The book's tenant (issue #11); absent on points written before tenants: DEFAULT_TENANT's. */
  tenant?: string;
  chunkId: string;
  /** 1-based page (PDF) or section (other formats) the chunk starts on. */
  page: number;
  text: string;
  title?: string;
  section?: string;
}

export interface VectorPoint {
  /** Deterministic (pointId): re-embedding a chunk overwrites its point instead of adding one. */
  id: string;
  vector: Float32Array;
  payload: ChunkPayload;
}

export interface SearchHit {
  score: number;
  payload: ChunkPayload;
}

/**
 * Which points a search or count considers: one book's, one tenant's (a point without a tenant is
 * DEFAULT_TENANT's), or both; absent fields do not filter.
 */
export interface VectorFilter {
  bookId?: string;
  tenant?: string;
}

export interface VectorStore {
  readonly name: string;
  /** Creates the collection for vectors of this size if missing (cosine distance). */
  ensureCollection(dimensions: number): Promise<void>;
  upsert(points: VectorPoint[]): Promise<void>;
  /** Best first; scores are cosine similarities. */
  search(vector: Float32Array, k: number, filter?: VectorFilter): Promise<SearchHit[]>;
  /** Removes every point of a book; returns how many were removed when the store can tell. */
  deleteBook(bookId: string): Promise<void>;
  count(filter?: VectorFilter): Promise<number>;
  close(): Promise<void>;
}

const POINT_NAMESPACE = "6f1c2b1e-8a34-4c8e-9a57-2f0f4b7d9c11";

/** UUIDv5 of book and chunk: the same chunk always maps to the same point. */
export const pointId = (bookId: string, chunkId: string) => uuidv5(`${bookId}/${chunkId}`, POINT_NAMESPACE);
