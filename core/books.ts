// BookStore: what jetq knows about each book. The record (KV `jetq-books`), the uploaded bytes
// (object store `jetq-uploads`, `books/<bookId>`) and the chunks (object store `jetq-chunks`,
// one JSON line per chunk) — all streamed, so a large book is never held whole.
import { Readable } from "node:stream";
import { createInterface } from "node:readline";
import type { JetqConnection } from "./connection.js";

/** Where a book's uploaded bytes live in the uploads bucket. */
export const bookObjectName = (bookId: string) => `books/${bookId}`;

export interface StoredChunk {
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
  status: "processing" | "ready" | "failed";
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
  error?: string;
  createdAt: string;
  updatedAt: string;
}

export class BookStore {
  constructor(private readonly conn: JetqConnection) {}

  async get(bookId: string): Promise<BookRecord | null> {
    const e = await this.conn.books.get(bookId);
    return e && e.operation === "PUT" && e.value.length ? e.json<BookRecord>() : null;
  }

  async put(record: BookRecord): Promise<void> {
    await this.conn.books.put(record.bookId, JSON.stringify({ ...record, updatedAt: new Date().toISOString() }));
  }

  async list(): Promise<BookRecord[]> {
    const keys: string[] = [];
    for await (const k of await this.conn.books.keys()) keys.push(k);
    const out = (await Promise.all(keys.map((k) => this.get(k)))).filter((b): b is BookRecord => b !== null);
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  }

  /** The uploaded file as a web stream, with its upload metadata; null if it is not there. */
  async openUpload(bookId: string) {
    const info = await this.conn.uploads.info(bookObjectName(bookId));
    if (!info || info.deleted) return null;
    const result = await this.conn.uploads.get(bookObjectName(bookId));
    if (!result) return null;
    return { info, stream: result.data, error: result.error };
  }

  /** Streams chunks into the book's chunk object, replacing the previous ones; returns the count. */
  async writeChunks(bookId: string, chunks: AsyncIterable<StoredChunk>): Promise<number> {
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
  async *readChunks(bookId: string, only?: ReadonlySet<string>): AsyncIterable<StoredChunk> {
    const result = await this.conn.chunks.get(bookId);
    if (!result) return;
    const lines = createInterface({ input: Readable.fromWeb(result.data as never), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      const chunk = JSON.parse(line) as StoredChunk;
      if (!only || only.has(chunk.chunkId)) yield chunk;
    }
    const err = await result.error;
    if (err) throw err;
  }

  /** Removes the record, the chunks and the upload. */
  async delete(bookId: string): Promise<void> {
    await Promise.allSettled([this.conn.chunks.delete(bookId), this.conn.uploads.delete(bookObjectName(bookId))]);
    await this.conn.books.delete(bookId);
  }
}
