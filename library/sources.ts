// SourceRegistry: external sources (HTTP(S) URLs, local directories) that sync_sources keeps in
// step with the library. Definitions and what the last sync saw of each document live in KV
// `jetq-sources` (`src.<id>` and `docs.<id>`).
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { LibraryConnection } from "./connection.js";
import type { KvSortedIndex, Page, PageQuery } from "../kernel/kv-index.js";
import { createdAtIndex } from "./created-at-index.js";
import { isLiveEntry } from "../kernel/kv-live.js";
import { scanKv } from "../kernel/kv-scan.js";
import { TOPOLOGY } from "../kernel/topology.js";
import { LIBRARY_TOPOLOGY } from "./topology.js";
import { DEFAULT_TENANT } from "../kernel/task.js";

// Discriminated on `kind`, so an unknown kind gets one issue that names the kinds there are,
// instead of every variant's complaints.
export const SourceCreateSchema = z.discriminatedUnion(
  "kind",
  [
    z
      .object({
        kind: z.literal("http"),
        name: z.string().min(1).max(200).optional(),
        urls: z.array(z.string().url().refine((u) => /^https?:\/\//i.test(u), "only http and https URLs")).min(1).max(1000),
        intervalSeconds: z.number().int().min(60).max(30 * 24 * 3600).optional(),
      })
      .strict(),
    z
      .object({
        kind: z.literal("directory"),
        name: z.string().min(1).max(200).optional(),
        path: z.string().min(1).max(4096).regex(/^[^\u0000]*$/, "the path contains a NUL character"),
        intervalSeconds: z.number().int().min(60).max(30 * 24 * 3600).optional(),
      })
      .strict(),
  ],
  { error: unknownKindMessage },
);

function unknownKindMessage(issue: { code?: string; input?: unknown; options?: unknown }): string | undefined {
  if (issue.code !== "invalid_union" || !Array.isArray(issue.options)) return undefined;
  const kinds = issue.options.map((o) => JSON.stringify(o)).join(" or ");
  const given = (issue.input as { kind?: unknown } | null)?.kind;
  return given === undefined ? `kind is required: ${kinds}` : `unknown kind ${JSON.stringify(given)}: kind must be ${kinds}`;
}
export type SourceCreate = z.infer<typeof SourceCreateSchema>;

export interface SyncSummary {
  new: number;
  changed: number;
  unchanged: number;
  deleted: number;
  errors: { key: string; code: string; message: string }[];
  enqueued: string[];
}

export type SourceRecord = SourceCreate & {
  id: string;
  /** Whose source this is (issue #11); absent on sources registered before tenants: DEFAULT_TENANT. */
  tenant?: string;
  createdAt: string;
  lastSyncAt?: string;
  lastResult?: SyncSummary;
};

/** Where a source's documents are: what a source reader needs of its record. */
export type SourceSpec = { kind: "http"; urls: string[] } | { kind: "directory"; path: string };

export const specOf = (s: SourceCreate): SourceSpec => (s.kind === "http" ? { kind: "http", urls: s.urls } : { kind: "directory", path: s.path });

/** What the last sync saw of a document. */
export interface KnownDocument {
  key: string;
  hash: string;
  etag?: string;
  lastModified?: string;
}

/** What the last sync saw of one document, and the book it became. */
export interface SourceDocumentState extends KnownDocument {
  bookId: string;
}

const src = (id: string) => `src.${id}`;
const docs = (id: string) => `docs.${id}`;

export class SourceRegistry {
  /** The API's listing indexes, built at the first page asked for: "" for every tenant's, else one per tenant. */
  private readonly indexes = new Map<string, KvSortedIndex>();

  constructor(private readonly conn: LibraryConnection) {}

  async create(def: SourceCreate, tenant: string = DEFAULT_TENANT): Promise<SourceRecord> {
    const record: SourceRecord = { ...def, id: randomUUID(), tenant, createdAt: new Date().toISOString() };
    await this.conn.sources.create(src(record.id), JSON.stringify(record));
    return record;
  }

  async get(id: string): Promise<SourceRecord | null> {
    const e = await this.conn.sources.get(src(id));
    return isLiveEntry(e) ? e.json<SourceRecord>() : null;
  }

  /** Every source, oldest first: a consumer-less scan of the bucket, for the workers' sync runs. */
  async list(): Promise<SourceRecord[]> {
    const all = (await scanKv(this.conn.jsm, LIBRARY_TOPOLOGY.sourcesBucket, "src.*")).map((e) => e.json<SourceRecord>());
    return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** One page of sources, oldest first, for the API (see KvSortedIndex: no consumer, no full scan). */
  page(q: PageQuery, scope: { tenant?: string } = {}): Promise<Page<SourceRecord>> {
    const key = scope.tenant ?? "";
    let index = this.indexes.get(key);
    if (!index) this.indexes.set(key, (index = createdAtIndex(this.conn.jsm, LIBRARY_TOPOLOGY.sourcesBucket, "src.*", "asc", scope.tenant)));
    return index.page<SourceRecord>(q);
  }

  async recordSync(id: string, result: SyncSummary): Promise<void> {
    const current = await this.get(id);
    if (!current) return;
    await this.conn.sources.put(src(id), JSON.stringify({ ...current, lastSyncAt: new Date().toISOString(), lastResult: result }));
  }

  async documents(id: string): Promise<Record<string, SourceDocumentState>> {
    const e = await this.conn.sources.get(docs(id));
    return isLiveEntry(e) ? e.json<Record<string, SourceDocumentState>>() : {};
  }

  async saveDocuments(id: string, state: Record<string, SourceDocumentState>): Promise<void> {
    await this.conn.sources.put(docs(id), JSON.stringify(state));
  }

  async delete(id: string): Promise<void> {
    await this.conn.sources.delete(src(id));
    await this.conn.sources.delete(docs(id));
  }

  /**
   * Due for a sync: its interval has elapsed (or it never synced). A source without an interval
   * is synced on demand only, so it is due whenever a sync of "every due source" is asked for.
   */
  static isDue(s: SourceRecord, now = Date.now()): boolean {
    if (!s.intervalSeconds) return true;
    return !s.lastSyncAt || Date.parse(s.lastSyncAt) + s.intervalSeconds * 1000 <= now;
  }
}
