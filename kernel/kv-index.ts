// KvSortedIndex: an in-process index of a KV bucket's keys in a fixed order (for example newest
// first), for paged listings. It is kept current without a consumer: each listing first reads
// what was written to the bucket since the last one (batched direct gets from the last applied
// sequence on, usually an empty answer), so a page costs a binary search plus one multi-get of
// the page's records, however many keys there are, and a write acked before the listing began is
// always in it. The first listing reads the bucket once to build the index.
import type { JetStreamManager } from "@nats-io/jetstream";
import { InvalidRequestError } from "./errors.js";
import { isKvMarker } from "./kv-live.js";
import { forEachMessage, getMany, kvStream, type ScannedEntry } from "./kv-scan.js";

export interface PageQuery {
  limit: number;
  /** Position of the first item; ignored when a cursor is given. */
  offset?: number;
  /** `nextCursor` of the previous page: the page starts right after the item it names. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  /** Position of the first item in the whole listing. */
  offset: number;
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** A cursor this index did not give out: the listing's query is not valid. */
export class InvalidCursorError extends InvalidRequestError {
  constructor() {
    const message = "the cursor is not one this listing gave out";
    super("invalid_query", message, [{ path: "cursor", message }]);
  }
}

interface Slot {
  key: string;
  sort: string;
}

export interface KvSortedIndexOptions {
  bucket: string;
  /** KV key filter of the keys listed (`*`, `src.*`…). */
  keyFilter: string;
  /** The sort key of a stored value (for example its createdAt), or null to leave it out. */
  sortKeyOf: (entry: ScannedEntry) => string | null;
  order: "asc" | "desc";
}

export class KvSortedIndex {
  private readonly slots: Slot[] = [];
  private readonly sortOf = new Map<string, string>();
  private readonly prefix: string;
  /** Highest stream sequence applied so far; the next refresh reads from the one after it. */
  private applied = 0;
  private refreshing: Promise<void> | null = null;
  private again: Promise<void> | null = null;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly opts: KvSortedIndexOptions,
  ) {
    this.prefix = `$KV.${opts.bucket}.`;
  }

  /** One page of keys, in order, after bringing the index up to date with the bucket. */
  async pageKeys(q: PageQuery): Promise<{ keys: string[]; total: number; offset: number; nextCursor: string | null }> {
    await this.refresh();
    const start = q.cursor !== undefined ? this.after(decodeCursor(q.cursor)) : Math.min(q.offset ?? 0, this.slots.length);
    const page = this.slots.slice(start, start + q.limit);
    const last = page[page.length - 1];
    const nextCursor = last && start + page.length < this.slots.length ? encodeCursor(last) : null;
    return { keys: page.map((s) => s.key), total: this.slots.length, offset: start, nextCursor };
  }

  /** One page of stored values, read fresh; a key deleted since the index saw it is left out. */
  async page<T>(q: PageQuery, decode: (entry: ScannedEntry) => T | null = (e) => e.json<T>()): Promise<Page<T>> {
    const { keys, total, offset, nextCursor } = await this.pageKeys(q);
    const entries = await getMany(this.jsm, this.opts.bucket, keys);
    const items: T[] = [];
    for (const k of keys) {
      const e = entries.get(k);
      const item = e ? decode(e) : null;
      if (item !== null) items.push(item);
    }
    return { items, total, offset, nextCursor };
  }

  /**
   * Applies every write since the last refresh. Concurrent callers share a refresh; one that
   * arrives while a refresh runs waits for the next, which starts after its request did.
   */
  refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.catchUp().finally(() => (this.refreshing = null));
      return this.refreshing;
    }
    this.again ??= this.refreshing.catch(() => undefined).then(() => {
      this.again = null;
      return this.refresh();
    });
    return this.again;
  }

  private async catchUp(): Promise<void> {
    await forEachMessage(
      this.jsm,
      kvStream(this.opts.bucket),
      this.prefix + this.opts.keyFilter,
      (m) => {
        this.applied = Math.max(this.applied, m.seq);
        const key = m.subject.slice(this.prefix.length);
        if (isKvMarker(m)) return this.remove(key);
        const sort = this.opts.sortKeyOf({ key, revision: m.seq, value: m.data, json: <T>() => m.json<T>() });
        if (sort === null) this.remove(key);
        else this.upsert(key, sort);
      },
      this.applied + 1,
    );
  }

  private upsert(key: string, sort: string) {
    const current = this.sortOf.get(key);
    if (current === sort) return;
    if (current !== undefined) this.remove(key);
    const slot = { key, sort };
    this.slots.splice(this.after(slot), 0, slot);
    this.sortOf.set(key, sort);
  }

  private remove(key: string) {
    const sort = this.sortOf.get(key);
    if (sort === undefined) return;
    const i = this.after({ key, sort }) - 1; // the slot itself sorts just before its upper bound
    if (this.slots[i]?.key === key) this.slots.splice(i, 1);
    this.sortOf.delete(key);
  }

  /** Index of the first slot that sorts after `s` (binary search). */
  private after(s: Slot): number {
    let lo = 0;
    let hi = this.slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(this.slots[mid]!, s) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private compare(a: Slot, b: Slot): number {
    const c = a.sort < b.sort ? -1 : a.sort > b.sort ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
    return this.opts.order === "asc" ? c : -c;
  }
}

function encodeCursor(s: Slot): string {
  return Buffer.from(JSON.stringify([s.sort, s.key])).toString("base64url");
}

function decodeCursor(cursor: string): Slot {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && typeof v[1] === "string") return { sort: v[0], key: v[1] };
  } catch {
    // fall through
  }
  throw new InvalidCursorError();
}
