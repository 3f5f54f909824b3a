// The embedded default vector store: everything on local disk under one directory, no server.
// One collection per vector size (subdirectory dim-<n>), so switching to an embedder of another
// size starts a fresh collection instead of mixing incomparable vectors. Search is exact: a
// brute-force cosine scan over the vectors held in memory (≈ dims × 4 bytes per point plus its
// payload), which stays in the tens of milliseconds up to ~100,000 chunks of 512 dimensions.
//
// Several processes on one machine may use the same directory at once (the local worker pool
// writes, the API searches): see local-collection.ts for how. Not for network filesystems, and not
// for pods on different nodes — use Qdrant there.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { LocalCollection, type LocalCollectionOptions } from "./local-collection.js";
import type { SearchHit, VectorPoint, VectorStore } from "./vector-store.js";

export type LocalVectorStoreOptions = LocalCollectionOptions;

const COLLECTION_DIR = /^dim-(\d+)$/;

export class LocalVectorStore implements VectorStore {
  readonly name = "local-disk";
  private readonly collections = new Map<number, Promise<LocalCollection>>();

  constructor(
    readonly dir: string,
    private readonly options: LocalVectorStoreOptions = {},
  ) {}

  async ensureCollection(dimensions: number): Promise<void> {
    if (!Number.isInteger(dimensions) || dimensions < 1) throw new RangeError(`vector size must be a positive integer, got ${dimensions}`);
    await this.collection(dimensions);
  }

  async upsert(points: VectorPoint[]): Promise<void> {
    const bySize = new Map<number, VectorPoint[]>();
    for (const p of points) {
      if (typeof p.payload?.bookId !== "string") throw new Error(`point ${p.id} has no payload.bookId`);
      const group = bySize.get(p.vector.length) ?? [];
      group.push(p);
      bySize.set(p.vector.length, group);
    }
    for (const [dimensions, group] of bySize) await (await this.collection(dimensions)).upsert(group);
  }

  async search(vector: Float32Array, k: number, filter: { bookId?: string } = {}): Promise<SearchHit[]> {
    const c = await this.existing(vector.length);
    return c ? c.search(vector, k, filter.bookId) : [];
  }

  async deleteBook(bookId: string): Promise<void> {
    for (const c of await this.all()) await c.deleteBook(bookId);
  }

  /** Points in every collection (every vector size) of the directory. */
  async count(filter: { bookId?: string } = {}): Promise<number> {
    let n = 0;
    for (const c of await this.all()) n += await c.count(filter.bookId);
    return n;
  }

  /** Compacts every open collection whose log has outgrown its live points (or all, with force). */
  async compact(force = false): Promise<void> {
    for (const c of await this.all()) await c.compactIfNeeded(force);
  }

  async close(): Promise<void> {
    const open = [...this.collections.values()];
    this.collections.clear();
    for (const p of open) await (await p.catch(() => undefined))?.close();
  }

  private collection(dimensions: number): Promise<LocalCollection> {
    let c = this.collections.get(dimensions);
    if (!c) {
      c = LocalCollection.open(join(this.dir, `dim-${dimensions}`), dimensions, this.options);
      this.collections.set(dimensions, c);
      c.catch(() => this.collections.delete(dimensions)); // a failed open is tried again next time
    }
    return c;
  }

  /** The collection for this size if it exists on disk; never creates one. */
  private async existing(dimensions: number): Promise<LocalCollection | undefined> {
    if (this.collections.has(dimensions)) return this.collection(dimensions);
    return (await this.sizesOnDisk()).includes(dimensions) ? this.collection(dimensions) : undefined;
  }

  private async all(): Promise<LocalCollection[]> {
    const sizes = new Set([...this.collections.keys(), ...(await this.sizesOnDisk())]);
    return Promise.all([...sizes].map((d) => this.collection(d)));
  }

  private async sizesOnDisk(): Promise<number[]> {
    try {
      return (await readdir(this.dir, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => COLLECTION_DIR.exec(e.name))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }
}
