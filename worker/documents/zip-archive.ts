// A ZIP archive (an EPUB) read through yauzl: the central directory first, then one entry at a
// time, inflated as a stream and only after its declared sizes passed the limits (entry count,
// bytes per entry, bytes inflated in total, compression ratio). yauzl checks that an entry never
// inflates past its declared size, so the declared sizes are a bound, not a hint.
import yauzl, { type Entry, type ZipFile } from "yauzl";
import type { DocumentLimits } from "../../library/document-limits.js";
import { NonRetryableError } from "../../kernel/errors.js";
import { corruptDocument, documentError } from "./document-errors.js";
import { enforceLimit } from "./limits.js";

/** Small entries may compress very well (a page of spaces) without being a threat. */
export const RATIO_EXEMPT_BYTES = 1024 * 1024;

export class ZipArchive {
  /** Bytes this archive has inflated or agreed to inflate so far. */
  private inflated = 0;

  private constructor(
    private readonly zip: ZipFile,
    private readonly entries: ReadonlyMap<string, Entry>,
    private readonly limits: DocumentLimits,
  ) {}

  /** Opens the archive and reads its central directory; the entry count is checked before any entry is. */
  static async open(filePath: string, limits: DocumentLimits): Promise<ZipArchive> {
    const zip = await yauzl
      .openPromise(filePath, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false, decodeStrings: true })
      .catch((err: unknown) => {
        throw corruptDocument("EPUB", err);
      });
    try {
      enforceLimit(limits, "maxArchiveEntries", zip.entryCount, (n) => `the EPUB archive has ${n} entries`);
      const entries = new Map<string, Entry>();
      for await (const entry of zip.eachEntry()) entries.set(entry.fileName, entry);
      return new ZipArchive(zip, entries, limits);
    } catch (err) {
      zip.close();
      throw asArchiveError(err);
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * Checks the declared sizes of entries about to be read, all at once, so a document over a limit
   * fails before its first chapter is inflated rather than halfway through the book.
   */
  reserve(names: readonly string[]): void {
    let total = this.inflated;
    for (const name of names) {
      const entry = this.entry(name);
      checkEntry(entry, this.limits);
      total += entry.uncompressedSize;
    }
    enforceLimit(this.limits, "maxInflatedBytes", total, (n) => `the EPUB's entries inflate to ${n} bytes`);
    this.inflated = total;
  }

  /** One entry's bytes, inflated as a stream; `reserved` entries were already counted by reserve(). */
  async read(name: string, { reserved = false, signal }: { reserved?: boolean; signal?: AbortSignal } = {}): Promise<Buffer> {
    if (!reserved) this.reserve([name]);
    const entry = this.entry(name);
    if (entry.isEncrypted()) throw documentError("encrypted_document", `the EPUB entry ${JSON.stringify(name)} is encrypted (DRM); upload a copy without DRM`);
    try {
      const stream = await this.zip.openReadStreamPromise(entry);
      const pieces: Buffer[] = [];
      let length = 0;
      for await (const piece of stream as AsyncIterable<Buffer>) {
        signal?.throwIfAborted();
        length += piece.length;
        // yauzl already stops at the declared size; this keeps the bound if that ever changes.
        if (length > entry.uncompressedSize) throw new Error(`entry ${name} inflates past its declared size`);
        pieces.push(piece);
      }
      return Buffer.concat(pieces, length);
    } catch (err) {
      if (signal?.aborted) throw err; // the caller's abort, not a broken archive
      throw asArchiveError(err);
    }
  }

  close(): void {
    this.zip.close();
  }

  private entry(name: string): Entry {
    const entry = this.entries.get(name);
    if (!entry) throw documentError("corrupt_document", `the file is not a readable EPUB document: it names ${JSON.stringify(name)}, which the archive does not hold`);
    return entry;
  }
}

function checkEntry(entry: Entry, limits: DocumentLimits): void {
  const name = JSON.stringify(entry.fileName);
  if (entry.uncompressedSize > RATIO_EXEMPT_BYTES) {
    const ratio = entry.compressedSize > 0 ? Math.floor(entry.uncompressedSize / entry.compressedSize) : Infinity;
    enforceLimit(limits, "maxCompressionRatio", ratio, (n) => `the EPUB entry ${name} inflates to ${n} times its compressed size (${entry.uncompressedSize.toLocaleString("en-US")} bytes from ${entry.compressedSize.toLocaleString("en-US")})`);
  }
  enforceLimit(limits, "maxPartBytes", entry.uncompressedSize, (n) => `the EPUB entry ${name} inflates to ${n} bytes`);
}

/** Limits and encryption keep their own errors; whatever yauzl or zlib says means the archive is broken. */
function asArchiveError(err: unknown): Error {
  return err instanceof NonRetryableError ? err : corruptDocument("EPUB", err);
}
