// How the embedded store indexes and searches its vectors (see lance-collection.ts). Kept apart
// from the store so the settings module can name the defaults without loading LanceDB.

export interface VectorIndexSettings {
  /**
   * Build the ANN index once a collection holds this many points; below, search is an exact scan
   * (LanceDB's flat scan measured ≈ 5 µs a 512-dimension row on this 2-core machine under load).
   * A tenant with fewer points is searched exactly too, within a larger table (tenant-search-plan.ts).
   */
  indexMinRows: number;
  /**
   * Fold rows written since the index was last updated into it once this many have accumulated:
   * every search scans them in full, and every fold costs a rewrite (measured 43 s at 1,000,000).
   */
  indexTailRows: number;
  /**
   * Bits per dimension of the index's RaBitQ codes (1–8). More bits estimate distances better, so
   * fewer candidates need re-scoring with their full vectors (refineFactor), at a larger index.
   */
  indexBits: number;
  /** IVF partitions searched per query. */
  nprobes: number;
  /**
   * Candidates re-scored with their full vectors: refineFactor × k. Recall@10 at 1,000,000 points
   * (bench/vector-store-scale.ts): with 4-bit codes 0.984 at 10 × 2, 0.998 at 10 × 3, 0.999 at
   * 10 × 5; with 1-bit codes 0.83 at 20 × 10, 0.95 at 20 × 20, 0.99 at 10 × 30.
   */
  refineFactor: number;
  /**
   * Table versions (and the files only they use) older than this are removed by maintenance. Every
   * search reads the newest version, so this only has to outlast one query; kept short because each
   * fold rewrites the table's newest fragment (see lance-collection.ts) and the old copy waits this long.
   */
  versionRetentionMs: number;
}

export const DEFAULT_VECTOR_INDEX_SETTINGS: VectorIndexSettings = {
  indexMinRows: 5_000,
  indexTailRows: 2_000,
  indexBits: 4,
  nprobes: 10,
  refineFactor: 5,
  versionRetentionMs: 60_000,
};
