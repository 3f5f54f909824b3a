// BookStore: what jetq knows about each book. The record (KV `jetq-books`), the uploaded bytes
// (object store `jetq-uploads`, `books/<bookId>`) and the chunks (object store `jetq-chunks`,
// one JSON line per chunk) — all streamed, so a large book is never held whole.
import { Readable } from "node:stream";
import { createInterface } from "node:readline";
import type { ObjectInfo, ObjectStore } from "@nats-io/obj";
import type { LibraryConnection } from "./connection.js";
import type { KvSortedIndex, Page, PageQuery } from "../kernel/kv-index.js";
import { createdAtIndex } from "./created-at-index.js";
import { isLiveEntry } from "../kernel/kv-live.js";
import { digestHex, readObject } from "../kernel/object-read.js";
import { isConflict } from "../kernel/state-store.js";
import { TOPOLOGY } from "../kernel/topology.js";
import { DEFAULT_TENANT } from "../kernel/task.js";
import { LIBRARY_TOPOLOGY } from "./topology.js";
import type { VectorStore } from "./vectors/vector-store.js";

/** Where a book's uploaded bytes live in the uploads bucket. */
export const bookObjectName = (bookId: string) => `books/${bookId}`;

/** What an upload is stored with; process_book and the book views read it back. */
export interface UploadMetadata {
  bookId: string;
  filename: string;
  contentType: string;
  /** Set for documents a registered source brought in. */
  sourceId?: string;
  /** Whose book this is (issue #11); absent on uploads stored before tenants: DEFAULT_TENANT's. */
  tenant?: string;
}

/** The tenant a book or upload belongs to: what was stored before tenants is DEFAULT_TENANT's. */
export const bookTenantOf = (r: { tenant?: string | undefined } | null | undefined): string => r?.tenant || DEFAULT_TENANT;

/** Whether a book (record or upload view) may be read in this scope (an empty scope reads every tenant's). */
export const inScope = (r: { tenant?: string | undefined }, scope: { tenant?: string }): boolean => scope.tenant === undefined || bookTenantOf(r) === scope.tenant;

/**
 * The one upload write: a book's bytes, streamed into the uploads bucket under its book id, with
 * the metadata every reader of uploads expects. Replaces an earlier upload of the same book.
 */
export function storeUpload(store: ObjectStore, meta: UploadMetadata, bytes: Readable): Promise<ObjectInfo> {
  const { bookId, filename, contentType, sourceId, tenant } = meta;
  return store.put(
    { name: bookObjectName(bookId), description: filename, metadata: { filename, contentType, bookId, ...(sourceId ? { sourceId } : {}), ...(tenant ? { tenant } : {}) } },
    Readable.toWeb(bytes) as unknown as ReadableStream<Uint8Array>,
  );
}

/** A piece of a book's text, as the chunker makes it and the chunk store keeps it. */
export interface Chunk {
  /** Stable within a book: `c` + zero-padded index (c000001). */
  chunkId: string;
  index: number;
  page: number;
  section?: string;
  text: string;
}

export interface BookRecord {
  bookId: string;
  filename: string;
  contentType: string;
  title?: string;
  format?: string;
  status: "processing" | "ready" | "failed" | "cancelled";
  pages: number;
  chunks: number;
  characters: number;
  contentHash: string;
  chunkSize: number;
  chunkOverlap: number;
  /** Embedder name and chunk count of the last complete embedding run. */
  embeddedWith?: string;
  embeddedChunks?: number;
  /** Set for books that came from a registered source. */
  sourceId?: string;
  sourceKey?: string;
  /** Whose book this is (issue #11): the tenant of the task that processed it; absent on records written before tenants: DEFAULT_TENANT's. */
  tenant?: string;
  error?: string;
  createdAt: string;
  updatedAt: string;
}

/** Who holds some uploaded content: the book made from it and the task that processes it. */
export interface ContentClaim {
  bookId: string;
  taskId?: string;
}

/**
 * The claim on some content, per tenant (issue #11): a duplicate is found only among the uploader's
 * own tenant's books, so an upload never reveals another tenant's book. DEFAULT_TENANT keeps the key
 * it had before tenants.
 */
const contentKey = (sha256: string, tenant: string = DEFAULT_TENANT) => (tenant === DEFAULT_TENANT ? `hash.${sha256}` : `hash.${sha256}.${tenant}`);

/** What `GET /api/books/{id}` shows of a book that is uploaded and waiting for its process_book. */
export interface UploadedBookView {
  bookId: string;
  filename: string;
  contentType: string;
  tenant: string;
  status: "queued";
  size: number;
  pages: 0;
  chunks: 0;
  createdAt: string;
  updatedAt: string;
}

export class BookStore {
  /** The listing indexes, built at the first page asked for: "" for every tenant's, else one per tenant. */
  private readonly indexes = new Map<string, KvSortedIndex>();

  constructor(private readonly conn: LibraryConnection) {}

  async get(bookId: string): Promise<BookRecord | null> {
    const e = await this.conn.books.get(bookId);
    return isLiveEntry(e) ? e.json<BookRecord>() : null;
  }

  async put(record: BookRecord): Promise<void> {
    await this.conn.books.put(record.bookId, JSON.stringify({ ...record, updatedAt: new Date().toISOString() }));
  }

  /**
   * Writes the record only while the book still exists (compare-and-set on its revision), so a
   * book deleted while it was being processed is not brought back by the processing's last write.
   * Returns false when the book is gone.
   */
  async putIfPresent(record: BookRecord): Promise<boolean> {
    for (let i = 0; i < 5; i++) {
      const current = await this.conn.books.get(record.bookId);
      if (!isLiveEntry(current)) return false;
      try {
        await this.conn.books.update(record.bookId, JSON.stringify({ ...record, updatedAt: new Date().toISOString() }), current.revision);
        return true;
      } catch (err) {
        if (!isConflict(err)) throw err; // someone wrote in between: read again
      }
    }
    throw new Error(`book ${record.bookId} kept changing while its record was written`);
  }

  /**
   * One page of book records, newest first (see KvSortedIndex: no consumer, no full scan); with
   * `scope.tenant`, only that tenant's.
   */
  page(q: PageQuery, scope: { tenant?: string } = {}): Promise<Page<BookRecord>> {
    const key = scope.tenant ?? "";
    let index = this.indexes.get(key);
    // Book records are the single-token keys (book ids); `hash.<sha256>` claims are not listed.
    if (!index) this.indexes.set(key, (index = createdAtIndex(this.conn.jsm, LIBRARY_TOPOLOGY.booksBucket, "*", "desc", scope.tenant)));
    return index.page<BookRecord>(q);
  }

  /**
   * The tenant a book belongs to: its record's, or before it has one its upload's; null when
   * neither exists. Handlers compare it with their task's tenant before they touch the book.
   */
  async tenantOfBook(bookId: string): Promise<string | null> {
    const record = await this.get(bookId);
    if (record) return bookTenantOf(record);
    const info = await this.conn.uploads.info(bookObjectName(bookId));
    return info && !info.deleted ? bookTenantOf(info.metadata) : null;
  }

  /**
   * Claims uploaded content (its sha-256, hex) for `bookId`: first writer wins. When another book
   * that still exists holds it, that book is the owner and nothing changes; a claim whose book is
   * gone is taken over.
   */
  async claimContent(sha256: string, bookId: string, tenant?: string): Promise<{ won: boolean; owner: ContentClaim }> {
    const key = contentKey(sha256, tenant);
    const mine: ContentClaim = { bookId };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.conn.books.create(key, JSON.stringify(mine)); // also writes over a delete marker
        return { won: true, owner: mine };
      } catch (err) {
        if (!isConflict(err) && !/exists/i.test(String((err as Error).message))) throw err;
      }
      const current = await this.conn.books.get(key);
      if (!isLiveEntry(current)) continue; // released meanwhile
      const owner = current.json<ContentClaim>();
      if (owner.bookId === bookId || (await this.exists(owner.bookId))) return { won: owner.bookId === bookId, owner };
      try {
        await this.conn.books.update(key, JSON.stringify(mine), current.revision);
        return { won: true, owner: mine };
      } catch (err) {
        if (!isConflict(err)) throw err; // someone else took it over first: look again
      }
    }
    throw new Error(`the claim on content ${sha256} kept changing`);
  }

  /** Notes the task that processes the content's owner, for later duplicates to point at. */
  async recordContentTask(sha256: string, bookId: string, taskId: string, tenant?: string): Promise<void> {
    const current = await this.conn.books.get(contentKey(sha256, tenant));
    if (!isLiveEntry(current) || current.json<ContentClaim>().bookId !== bookId) return;
    await this.conn.books.update(contentKey(sha256, tenant), JSON.stringify({ bookId, taskId } satisfies ContentClaim), current.revision).catch((err) => {
      if (!isConflict(err)) throw err;
    });
  }

  /** The current claim on some content, if any. */
  async contentOwner(sha256: string, tenant?: string): Promise<ContentClaim | null> {
    const current = await this.conn.books.get(contentKey(sha256, tenant));
    return isLiveEntry(current) ? current.json<ContentClaim>() : null;
  }

  /**
   * Gives the content up if `bookId` holds it, so the same file can be uploaded again. (A claim left
   * behind is harmless: the next claim of that content finds its book gone and takes it over.)
   */
  async releaseContent(sha256: string, bookId: string, tenant?: string): Promise<void> {
    const current = await this.conn.books.get(contentKey(sha256, tenant));
    if (!isLiveEntry(current) || current.json<ContentClaim>().bookId !== bookId) return;
    await this.conn.books.delete(contentKey(sha256, tenant), { previousSeq: current.revision }).catch((err) => {
      if (!isConflict(err)) throw err; // claimed anew meanwhile: not ours to release
    });
  }

  /** A book exists once its upload is stored, before its record is written. */
  private async exists(bookId: string): Promise<boolean> {
    if (await this.get(bookId)) return true;
    const info = await this.conn.uploads.info(bookObjectName(bookId));
    return !!info && !info.deleted;
  }

  /**
   * A book that is uploaded but not processed yet has no record: its view comes from the upload
   * (status `queued`), so the bookId an upload answers with can be looked up at once.
   */
  async uploadedView(bookId: string): Promise<UploadedBookView | null> {
    const info = await this.conn.uploads.info(bookObjectName(bookId));
    if (!info || info.deleted) return null;
    return {
      bookId,
      filename: info.metadata?.filename || info.description || `${bookId}.bin`,
      contentType: info.metadata?.contentType || "application/octet-stream",
      tenant: bookTenantOf(info.metadata),
      status: "queued",
      size: info.size,
      pages: 0,
      chunks: 0,
      createdAt: info.mtime,
      updatedAt: info.mtime,
    };
  }

  /** Whether the book's uploaded file is stored. */
  async hasUpload(bookId: string): Promise<boolean> {
    const info = await this.conn.uploads.info(bookObjectName(bookId));
    return !!info && !info.deleted;
  }

  /** The uploaded file as a web stream, with its upload metadata; null if it is not there. */
  async openUpload(bookId: string) {
    const info = await this.conn.uploads.info(bookObjectName(bookId));
    if (!info || info.deleted) return null;
    const result = readObject(this.conn.jsm, info); // not uploads.get: that leaves a consumer behind
    return { info, stream: result.data, error: result.error };
  }

  /** Streams chunks into the book's chunk object, replacing the previous ones; returns the count. */
  async writeChunks(bookId: string, chunks: AsyncIterable<Chunk>): Promise<number> {
    let count = 0;
    async function* lines() {
      for await (const c of chunks) {
        count++;
        yield Buffer.from(JSON.stringify(c) + "\n");
      }
    }
    await this.conn.chunks.put({ name: bookId }, Readable.toWeb(Readable.from(lines())) as unknown as ReadableStream<Uint8Array>);
    return count;
  }

  /** The book's chunks in order, read as a stream. */
  async *readChunks(bookId: string, only?: ReadonlySet<string>): AsyncIterable<Chunk> {
    const info = await this.conn.chunks.info(bookId);
    if (!info || info.deleted) return;
    const result = readObject(this.conn.jsm, info);
    const lines = createInterface({ input: Readable.fromWeb(result.data as never), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      const chunk = JSON.parse(line) as Chunk;
      if (!only || only.has(chunk.chunkId)) yield chunk;
    }
    const err = await result.error;
    if (err) throw err;
  }

  /**
   * The one book deletion: its vectors, chunks, upload, content claim and record, in that order.
   * Vectors first, so a book that is going never turns up in searches; the record last, so a
   * deletion cut short leaves a book that can be deleted again. A vector store that fails stops
   * it there (the caller sees the error); chunks or an upload already gone are no matter.
   */
  async delete(bookId: string, vectors: Pick<VectorStore, "deleteBook">): Promise<void> {
    const record = await this.get(bookId);
    const upload = record ? null : await this.conn.uploads.info(bookObjectName(bookId));
    const sha256 = record?.contentHash || digestHex(upload?.digest);
    // The claim is the book's own tenant's (claimContent is per tenant).
    const tenant = bookTenantOf(record ?? upload?.metadata);
    await vectors.deleteBook(bookId);
    await this.conn.chunks.delete(bookId).catch(() => undefined);
    await this.conn.uploads.delete(bookObjectName(bookId)).catch(() => undefined);
    if (sha256) await this.releaseContent(sha256, bookId, tenant);
    await this.conn.books.delete(bookId);
  }
}
