// One collection of the embedded store: every point of one vector size, in one LanceDB table on
// local disk. The table is the only copy: each process reads it through LanceDB (file reads that
// the OS page cache shares between processes), not a copy of its own.
//
// Search: cosine over an IVF_RQ index (RaBitQ) with a refine step (the rows of the best nprobes
// partitions scored by their indexBits-bit codes, then refineFactor × k candidates re-scored with
// their full vectors: 4-bit codes rank well enough that 5 × k suffice, where 1-bit ones needed 30),
// plus an exact scan of the rows not yet in the index, which LanceDB does by itself: a point is
// searchable as soon as its upsert returns. Until the table holds `indexMinRows` points there is
// no index and every search is exact. A search for one book is always exact over that book's rows
// (found through a scalar index on bookId): an IVF search restricted to a small book would only
// see the book's rows in the probed partitions, and could return fewer than k. A search for one
// tenant is exact over a small tenant's rows and uses the index for a large one, probing more
// partitions the smaller its share (tenant-search-plan.ts says why a column and not a table each).
// Tables written before tenants get the `tenant` column at open, DEFAULT_TENANT in every row.
//
// Several processes may use the table at once: LanceDB commits each write as a new table version
// (atomic rename on a local filesystem), conflicting commits are run again (commit-retry.ts),
// and readers look for a newer version before every read (readConsistencyInterval 0).
// Maintenance — building the index, folding new rows into it, compacting small fragments, pruning
// old versions — runs in the background of a writing process, one process at a time (file-lock.ts).
// Its cost is LanceDB's optimize(), the one call (in the TypeScript SDK) that adds new rows to an
// index; it also compacts, and compaction merges every fragment under ~1M rows, so each fold
// rewrites the table's newest fragment whatever the size of the tail (lancedb/lancedb#2325):
// 43 s at 1,000,000 points on this machine. Hence folds only every indexTailRows rows.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Index, type Connection, type Table } from "@lancedb/lancedb";
import { DEFAULT_TENANT } from "../../kernel/task.js";
import { chunkRows, chunkTableSchema, TENANT_COLUMN, unitVector } from "./chunk-table-rows.js";
import { retryingConflicts } from "./commit-retry.js";
import { tryLock } from "./file-lock.js";
import { partitionsFor, tenantSearchPlan } from "./tenant-search-plan.js";
import type { ChunkPayload, SearchHit, VectorFilter, VectorPoint } from "./vector-store.js";
import type { VectorIndexSettings } from "./vector-index-settings.js";

const VECTOR_INDEX = "vector_idx";
/** A maintenance lock older than this is taken over even if its holder seems alive. */
const MAINTENANCE_LOCK_STALE_MS = 2 * 60 * 60_000;
/** Writes between two compactions of small fragments, whatever the index needs. */
const WRITES_PER_COMPACTION = 200;
/** Train the index again once the table holds this many times the rows it was trained on. */
const RETRAIN_GROWTH = 4;
/**
 * An index built with fewer bits than the settings ask for (one of an earlier version: 1 bit, whose
 * note names no bits) serves until its replacement commits; its coarser codes need this many
 * candidates re-scored per result to keep recall@10 ≈ 0.99 (bench/vector-store-scale.ts).
 */
const COARSE_INDEX_REFINE_FACTOR = 30;
/** How long a process trusts what it last read of the index's note (which bits it was built with). */
const NOTE_CACHE_MS = 30_000;

export class LanceCollection {
  private maintaining?: Promise<void>;
  private writesSinceMaintenance = 0;
  private writtenWhileMaintaining = false;
  private closed = false;
  private note?: { read: number; value: Promise<TrainingNote | undefined> };

  private constructor(
    private readonly table: Table,
    readonly dimensions: number,
    private readonly lockPath: string,
    /** Notes how many rows the index was trained on (written by whoever built it). */
    private readonly trainingPath: string,
    private readonly settings: VectorIndexSettings,
  ) {}

  /** Opens the table for vectors of this size, creating it if missing. */
  static async open(db: Connection, lockDir: string, dimensions: number, settings: VectorIndexSettings): Promise<LanceCollection> {
    const name = tableName(dimensions);
    let table: Table;
    try {
      table = await db.createEmptyTable(name, chunkTableSchema(dimensions), { mode: "create", existOk: true });
    } catch (err) {
      // Another process created it between our look and our create; or it was written before
      // tenants, without the tenant column (added below).
      if (!/already exists|does not match existing table schema/i.test(String((err as Error).message))) throw err;
      table = await db.openTable(name);
    }
    await addTenantColumn(table);
    return new LanceCollection(table, dimensions, join(lockDir, `maintain-${name}.lock`), join(lockDir, `index-${name}.json`), settings);
  }

  async upsert(points: VectorPoint[]): Promise<void> {
    if (points.length === 0) return;
    const rows = chunkRows(points, this.dimensions);
    await retryingConflicts(() => this.table.mergeInsert("id").whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(rows));
    this.wrote();
  }

  /** Adds the points whose ids are not in the table yet; never overwrites (used by migration). */
  async insertMissing(points: VectorPoint[]): Promise<void> {
    if (points.length === 0) return;
    const rows = chunkRows(points, this.dimensions);
    await retryingConflicts(() => this.table.mergeInsert("id").whenNotMatchedInsertAll().execute(rows));
    this.wrote();
  }

  async deleteBook(bookId: string): Promise<void> {
    await retryingConflicts(() => this.table.delete(`bookId = ${sqlString(bookId)}`));
    this.wrote();
  }

  count(filter: VectorFilter = {}): Promise<number> {
    return this.table.countRows(whereOf(filter));
  }

  async search(vector: Float32Array, k: number, filter: VectorFilter = {}): Promise<SearchHit[]> {
    if (k <= 0) return [];
    let query = this.table.vectorSearch(unitVector(vector, this.dimensions)).distanceType("cosine").limit(k).select(["payload", "_distance"]);
    const where = whereOf(filter);
    if (where === undefined) {
      query = query.nprobes(this.settings.nprobes).refineFactor(await this.refineFactor());
    } else if (filter.bookId !== undefined) {
      query = query.where(where).bypassVectorIndex(); // a book's rows are few: exact
    } else {
      // A tenant alone: prefiltered (the default) through the bitmap index on tenant.
      const [tenantRows, totalRows, note] = await Promise.all([this.table.countRows(where), this.table.countRows(), this.cachedNote()]);
      const plan = tenantSearchPlan({
        tenantRows,
        totalRows,
        partitions: partitionsFor(note?.trainedRows ?? totalRows),
        nprobes: this.settings.nprobes,
        indexMinRows: this.settings.indexMinRows,
      });
      query = plan.exact ? query.where(where).bypassVectorIndex() : query.where(where).nprobes(plan.nprobes).refineFactor(await this.refineFactor());
    }
    const rows = (await query.toArray()) as { payload: string; _distance: number }[];
    return rows.map((r) => ({ score: Math.max(-1, Math.min(1, 1 - r._distance)), payload: JSON.parse(r.payload) as ChunkPayload }));
  }

  /** Runs maintenance now and waits for it (tests, benchmarks, the migration). */
  async maintainNow(): Promise<void> {
    await this.maintaining;
    this.maintaining = this.maintain(true);
    await this.maintaining.finally(() => (this.maintaining = undefined));
  }

  /** What the vector index covers: undefined while there is none. */
  async indexCoverage(): Promise<{ indexedRows: number; unindexedRows: number } | undefined> {
    const index = (await this.table.listIndices()).find((i) => i.name === VECTOR_INDEX);
    return index && { indexedRows: index.numIndexedRows ?? 0, unindexedRows: index.numUnindexedRows ?? 0 };
  }

  /** Waits for maintenance this process started, then closes the table. */
  async close(): Promise<void> {
    this.closed = true;
    await this.maintaining?.catch(() => undefined);
    this.table.close();
  }

  // ——— maintenance ———

  /** What the index's builder noted next to the lock (rows trained on, code bits); undefined if unknown. */
  private async trainingNote(): Promise<TrainingNote | undefined> {
    try {
      const noted = JSON.parse(await readFile(this.trainingPath, "utf8")) as { trainedRows?: unknown; bits?: unknown };
      if (typeof noted.trainedRows !== "number") return undefined;
      // Notes written before the bits were a setting name none: those indexes have 1-bit codes.
      return { trainedRows: noted.trainedRows, bits: typeof noted.bits === "number" ? noted.bits : 1 };
    } catch {
      return undefined;
    }
  }

  /** The training note as last read, at most NOTE_CACHE_MS ago. */
  private cachedNote(): Promise<TrainingNote | undefined> {
    const now = Date.now();
    if (!this.note || now - this.note.read > NOTE_CACHE_MS) this.note = { read: now, value: this.trainingNote() };
    return this.note.value;
  }

  /** The refine factor for the index that serves now: more re-scoring for one with coarser codes. */
  private async refineFactor(): Promise<number> {
    const note = await this.cachedNote();
    return note && note.bits < this.settings.indexBits ? Math.max(this.settings.refineFactor, COARSE_INDEX_REFINE_FACTOR) : this.settings.refineFactor;
  }

  private wrote(): void {
    this.writesSinceMaintenance++;
    this.scheduleMaintenance();
  }

  private scheduleMaintenance(): void {
    if (this.closed) return;
    if (this.maintaining) {
      this.writtenWhileMaintaining = true; // looked at again once the current run ends
      return;
    }
    this.writtenWhileMaintaining = false;
    this.maintaining = this.maintain(false)
      .catch((err: unknown) => process.emitWarning(`vector index maintenance of ${this.table.name} failed: ${(err as Error).message}`, "JetqVectorStoreWarning"))
      .finally(() => {
        this.maintaining = undefined;
        if (this.writtenWhileMaintaining) this.scheduleMaintenance();
      });
  }

  private async maintain(force: boolean): Promise<void> {
    const lock = await tryLock(this.lockPath, MAINTENANCE_LOCK_STALE_MS);
    if (!lock) return; // another process is at it
    try {
      const writes = this.writesSinceMaintenance;
      const listed = await this.table.listIndices();
      const indices = new Set(listed.map((i) => i.name));
      const rows = await this.table.countRows();
      if (rows === 0) return;
      // Scalar indices: bookId for filtered search, count and delete; id for the upsert's join;
      // tenant (few distinct values: a bitmap) for a tenant's search and count.
      if (!indices.has("bookId_idx")) await retryingConflicts(() => this.table.createIndex("bookId", { config: Index.btree() }));
      if (!indices.has(`${TENANT_COLUMN}_idx`)) await retryingConflicts(() => this.table.createIndex(TENANT_COLUMN, { config: Index.bitmap() }));
      if (!indices.has("id_idx")) await retryingConflicts(() => this.table.createIndex("id", { config: Index.btree() }));
      // The IVF partitions are trained once; new rows are added to them by optimize. Once the table
      // has grown to RETRAIN_GROWTH times the rows they were trained on, partitions hold too many
      // rows each, so the index is trained again (the old one serves until the new one commits).
      // …and when it was built with other code bits than the settings ask for (an upgrade).
      const note = await this.trainingNote();
      const vectorIndexDue =
        !indices.has(VECTOR_INDEX) || (note !== undefined && (rows >= RETRAIN_GROWTH * note.trainedRows || note.bits !== this.settings.indexBits));
      if (vectorIndexDue && rows >= this.settings.indexMinRows) {
        await retryingConflicts(() =>
          this.table.createIndex("vector", {
            name: VECTOR_INDEX,
            replace: true,
            config: Index.ivfRq({
              distanceType: "cosine",
              numPartitions: partitionsFor(rows),
              // RaBitQ codes (1 bit a dimension: 64 bytes a point at 512) need no codebook training,
              // so the build is the IVF k-means alone: measured 36 s at 100,000 points where IVF_PQ
              // took over 6 minutes (bench/vector-store-scale.ts)
              numBits: this.settings.indexBits,
              maxIterations: 10,
              sampleRate: 128,
            }),
          }),
        );
        await writeFile(this.trainingPath, JSON.stringify({ trainedRows: rows, bits: this.settings.indexBits, at: new Date().toISOString() }));
        this.note = undefined; // this process searches the new index with its own refine factor at once
        this.writesSinceMaintenance -= writes;
        return;
      }
      // Rows no index covers yet: scanned in full by every search (vector) and every upsert's join (id).
      const unindexed = Math.max(0, ...listed.map((i) => i.numUnindexedRows ?? 0));
      if (!force && unindexed < this.settings.indexTailRows && writes < WRITES_PER_COMPACTION) return;
      // Compacts small fragments, adds new rows to every index (into the trained partitions: no
      // retraining), and removes versions past the retention.
      await retryingConflicts(() => this.table.optimize({ cleanupOlderThan: new Date(Date.now() - this.settings.versionRetentionMs) }));
      this.writesSinceMaintenance -= writes;
    } finally {
      await lock.release();
    }
  }
}

export const tableName = (dimensions: number) => `dim_${dimensions}`;
export const TABLE_NAME = /^dim_(\d+)$/;

/**
 * Gives a table written before tenants its tenant column: DEFAULT_TENANT in every row, as its
 * points (whose payloads name no tenant) are that tenant's. Idempotent, and safe when several
 * processes open the table at once: the one that loses the race finds the column there.
 */
async function addTenantColumn(table: Table): Promise<void> {
  const hasColumn = async () => (await table.schema()).fields.some((f) => f.name === TENANT_COLUMN);
  if (await hasColumn()) return;
  try {
    await retryingConflicts(() => table.addColumns([{ name: TENANT_COLUMN, valueSql: sqlString(DEFAULT_TENANT) }]));
  } catch (err) {
    if (!(await hasColumn())) throw err;
  }
}

/** The SQL filter for `filter`; undefined when it filters nothing. */
function whereOf(filter: VectorFilter): string | undefined {
  const terms: string[] = [];
  if (filter.bookId !== undefined) terms.push(`bookId = ${sqlString(filter.bookId)}`);
  if (filter.tenant !== undefined) terms.push(`${TENANT_COLUMN} = ${sqlString(filter.tenant)}`);
  return terms.length > 0 ? terms.join(" AND ") : undefined;
}

/** A SQL string literal for LanceDB filters. */
function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** The note an index's builder leaves next to the maintenance lock. */
interface TrainingNote {
  trainedRows: number;
  bits: number;
}
