// The embedded default vector store: LanceDB tables on local disk under one directory, no server.
// One table per vector size (dim_<n>), so switching to an embedder of another size starts a fresh
// collection instead of mixing incomparable vectors; see lance-collection.ts for search, indexing
// and how several processes share the tables.
//
// Layout of `dir` ($JETQ_DATA_DIR/vectors):
//   lance/dim_<n>.lance/      the tables (LanceDB)
//   maintain-dim_<n>.lock     held while one process maintains a table's indices
//   index-dim_<n>.json        how many rows the table's ANN index was trained on
//   dim-<n>/                  a collection of the earlier store (append-only point logs): migrated
//                             into lance/ at first use, then moved to migrated/dim-<n>/ (kept:
//                             nothing stored is lost; delete it once satisfied)
//   migrate.lock              held by the process migrating; the others wait for it
//
// Several processes on one machine may use the same directory at once (the local worker pool
// writes, the API searches). Not for network filesystems, nor for pods on different nodes: use
// Qdrant there.
import { mkdir, readdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { connect, type Connection } from "@lancedb/lancedb";
import { lock } from "./file-lock.js";
import { LanceCollection, TABLE_NAME } from "./lance-collection.js";
import { legacyLogFiles, readLegacyPoints } from "./legacy-point-log.js";
import type { SearchHit, VectorFilter, VectorPoint, VectorStore } from "./vector-store.js";
import { DEFAULT_VECTOR_INDEX_SETTINGS, type VectorIndexSettings } from "./vector-index-settings.js";

export interface LocalVectorStoreOptions {
  index?: Partial<VectorIndexSettings>;
  /** How long a process waits for another to finish migrating legacy data; 1 hour by default. */
  migrationWaitMs?: number;
}

const LEGACY_COLLECTION_DIR = /^dim-(\d+)$/;
const MIGRATION_BATCH = 2_000;
const MIGRATION_LOCK_STALE_MS = 6 * 60 * 60_000;

export class LocalVectorStore implements VectorStore {
  readonly name = "local-lancedb";
  private readonly settings: VectorIndexSettings;
  private readonly collections = new Map<number, Promise<LanceCollection>>();
  private opened?: Promise<Connection>;

  constructor(
    readonly dir: string,
    private readonly options: LocalVectorStoreOptions = {},
  ) {
    this.settings = { ...DEFAULT_VECTOR_INDEX_SETTINGS, ...options.index };
  }

  async ensureCollection(dimensions: number): Promise<void> {
    if (!Number.isInteger(dimensions) || dimensions < 1) throw new RangeError(`vector size must be a positive integer, got ${dimensions}`);
    await this.collection(dimensions);
  }

  async upsert(points: VectorPoint[]): Promise<void> {
    const bySize = new Map<number, VectorPoint[]>();
    for (const p of points) {
      if (typeof p.payload?.bookId !== "string") throw new Error(`point ${p.id} has no payload.bookId`);
      if (p.payload.tenant !== undefined && typeof p.payload.tenant !== "string") throw new Error(`point ${p.id} has a payload.tenant that is not a string`);
      const group = bySize.get(p.vector.length) ?? [];
      group.push(p);
      bySize.set(p.vector.length, group);
    }
    for (const [dimensions, group] of bySize) await (await this.collection(dimensions)).upsert(group);
  }

  async search(vector: Float32Array, k: number, filter: VectorFilter = {}): Promise<SearchHit[]> {
    const c = await this.existing(vector.length);
    return c ? c.search(vector, k, filter) : [];
  }

  async deleteBook(bookId: string): Promise<void> {
    for (const c of await this.all()) await c.deleteBook(bookId);
  }

  /** Points in every collection (every vector size) of the directory. */
  async count(filter: VectorFilter = {}): Promise<number> {
    let n = 0;
    for (const c of await this.all()) n += await c.count(filter);
    return n;
  }

  /** Builds or updates every collection's indices now and waits (otherwise done in the background after writes). */
  async maintain(): Promise<void> {
    for (const c of await this.all()) await c.maintainNow();
  }

  /** The collection of this size, if there is one: for benchmarks and tests that look at its index. */
  async collectionOf(dimensions: number): Promise<LanceCollection | undefined> {
    return this.existing(dimensions);
  }

  async close(): Promise<void> {
    const open = [...this.collections.values()];
    this.collections.clear();
    for (const p of open) await (await p.catch(() => undefined))?.close();
    const db = await this.opened?.catch(() => undefined);
    this.opened = undefined;
    db?.close();
  }

  // ——— opening ———

  private db(): Promise<Connection> {
    this.opened ??= this.openDatabase();
    this.opened.catch(() => (this.opened = undefined)); // a failed open is tried again next time
    return this.opened;
  }

  private async openDatabase(): Promise<Connection> {
    await mkdir(this.dir, { recursive: true });
    // Strong consistency: every read first looks for versions other processes committed.
    const db = await connect(join(this.dir, "lance"), { readConsistencyInterval: 0 });
    if ((await this.legacyCollections()).length > 0) await this.migrateLegacy(db);
    return db;
  }

  private collection(dimensions: number): Promise<LanceCollection> {
    let c = this.collections.get(dimensions);
    if (!c) {
      c = this.db().then((db) => LanceCollection.open(db, this.dir, dimensions, this.settings));
      this.collections.set(dimensions, c);
      c.catch(() => this.collections.delete(dimensions));
    }
    return c;
  }

  /** The collection for this size if its table exists; never creates one. */
  private async existing(dimensions: number): Promise<LanceCollection | undefined> {
    if (this.collections.has(dimensions)) return this.collection(dimensions);
    return (await this.sizesOnDisk()).includes(dimensions) ? this.collection(dimensions) : undefined;
  }

  private async all(): Promise<LanceCollection[]> {
    const sizes = new Set([...this.collections.keys(), ...(await this.sizesOnDisk())]);
    return Promise.all([...sizes].map((d) => this.collection(d)));
  }

  private async sizesOnDisk(): Promise<number[]> {
    const names = await (await this.db()).tableNames();
    return names.map((n) => TABLE_NAME.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
  }

  // ——— migrating the earlier store's point logs ———

  private async legacyCollections(): Promise<{ dir: string; dimensions: number }[]> {
    const found: { dir: string; dimensions: number }[] = [];
    for (const e of await readdir(this.dir, { withFileTypes: true })) {
      const m = e.isDirectory() ? LEGACY_COLLECTION_DIR.exec(e.name) : null;
      if (m && (await legacyLogFiles(join(this.dir, e.name))).length > 0) found.push({ dir: join(this.dir, e.name), dimensions: Number(m[1]) });
    }
    return found;
  }

  /**
   * Copies every live point of the legacy logs into the tables, then moves the logs aside. One
   * process migrates while the others wait, so nothing is written meanwhile. Idempotent: a run cut
   * short leaves the logs in place, and the next one inserts only the points still missing.
   */
  private async migrateLegacy(db: Connection): Promise<void> {
    const held = await lock(join(this.dir, "migrate.lock"), MIGRATION_LOCK_STALE_MS, this.options.migrationWaitMs ?? 60 * 60_000, 200);
    try {
      for (const legacy of await this.legacyCollections()) {
        const c = await LanceCollection.open(db, this.dir, legacy.dimensions, this.settings);
        try {
          for await (const batch of readLegacyPoints(legacy.dir, legacy.dimensions, MIGRATION_BATCH)) await c.insertMissing(batch);
          await c.maintainNow();
        } finally {
          await c.close();
        }
        await mkdir(join(this.dir, "migrated"), { recursive: true });
        let target = join(this.dir, "migrated", `dim-${legacy.dimensions}`);
        if (await exists(target)) target += `-${Date.now()}`;
        await rename(legacy.dir, target);
      }
    } finally {
      await held.release();
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
