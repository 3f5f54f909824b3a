// What one document may cost to read, with the defaults and the setting behind each limit.
// library/config.ts reads the settings (JETQ_DOC_*); this module holds no parsing, so the document
// extraction thread can import it without loading the configuration's dependencies.
/** What one document may cost to read; each is a setting (DOCUMENT_LIMIT_SETTINGS names them). */
export interface DocumentLimits {
  /** Pages (PDF, paged text) or sections/chapters a document may have; checked before any is read. */
  maxPages: number;
  /** Characters of normalised text extracted from one document. */
  maxCharacters: number;
  /** Chunks one book may be split into. */
  maxChunks: number;
  /** Bytes of one file that is parsed whole: an HTML or Markdown upload, an EPUB chapter or its package files. */
  maxPartBytes: number;
  /** Bytes an EPUB's entries may inflate to in total (declared sizes, checked before inflating). */
  maxInflatedBytes: number;
  /** Entries an EPUB archive may hold, read from its central directory before anything else. */
  maxArchiveEntries: number;
  /** Inflated / compressed size of one archive entry (entries of 1 MiB or less inflated are exempt). */
  maxCompressionRatio: number;
  /**
   * Seconds the parser may spend on one part (a page, a section, opening the document) before the
   * document counts as too complex: a few KB of PDF can nest drawing instructions that take hours.
   */
  maxPartSeconds: number;
}

export const DEFAULT_DOCUMENT_LIMITS: DocumentLimits = {
  maxPages: 5_000,
  maxCharacters: 20_000_000,
  maxChunks: 50_000,
  maxPartBytes: 16 * 1024 * 1024,
  maxInflatedBytes: 256 * 1024 * 1024,
  maxArchiveEntries: 10_000,
  maxCompressionRatio: 100,
  maxPartSeconds: 60,
};

/** Heap (MB) of the thread a document is extracted in: memory exhaustion there kills only that thread. */
export const DEFAULT_PARSER_HEAP_MB = 1024;

/** Documents one worker process reads at once, so its parsers' memory is bounded whatever its concurrency. */
export const DEFAULT_PARSER_THREADS = 2;

/** The environment variable behind each limit, so an error can say what to change. */
export const DOCUMENT_LIMIT_SETTINGS: Record<keyof DocumentLimits, string> = {
  maxPages: "JETQ_DOC_MAX_PAGES",
  maxCharacters: "JETQ_DOC_MAX_CHARACTERS",
  maxChunks: "JETQ_DOC_MAX_CHUNKS",
  maxPartBytes: "JETQ_DOC_MAX_PART_BYTES",
  maxInflatedBytes: "JETQ_DOC_MAX_INFLATED_BYTES",
  maxArchiveEntries: "JETQ_DOC_MAX_ARCHIVE_ENTRIES",
  maxCompressionRatio: "JETQ_DOC_MAX_COMPRESSION_RATIO",
  maxPartSeconds: "JETQ_DOC_MAX_PART_SECONDS",
};
