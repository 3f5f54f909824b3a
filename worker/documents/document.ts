// What a parser yields: the document's text in reading order, one part per page (PDF) or section
// (Markdown, HTML, EPUB chapters, plain text blocks), so chunks can cite where they came from.
import type { DocumentLimits } from "../../library/document-limits.js";

export interface DocumentPart {
  /** 1-based page or section number. */
  page: number;
  /** Heading or chapter title when the format has one. */
  section?: string;
  text: string;
}

export interface ParsedDocumentInfo {
  format: "pdf" | "text" | "markdown" | "html" | "epub";
  title?: string;
  /** Total pages/sections when known up front (PDF), for progress reporting. */
  totalParts?: number;
}

export interface ParseContext {
  /** Checked by each parser where it can stop early: before reading pages, entries or whole files. */
  limits: DocumentLimits;
  signal?: AbortSignal;
}

export interface DocumentParser {
  readonly format: ParsedDocumentInfo["format"];
  /**
   * Parses a file on disk part by part, so a 1,000-page book is never held as one string.
   * Throws NonRetryableError (kernel/errors.ts) with a code naming the problem for corrupt, empty,
   * encrypted or unsupported input, and "document_limit_exceeded" for input over a limit.
   */
  parse(filePath: string, context: ParseContext): Promise<{ info: ParsedDocumentInfo; parts: AsyncIterable<DocumentPart> }>;
}

/** Chunks are what the library stores (library/books.ts): one type on both sides. */
export type { Chunk } from "../../library/books.js";
