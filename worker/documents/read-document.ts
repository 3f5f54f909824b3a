// The one entry point a handler needs: detect the format, parse part by part, normalise, chunk.
import { open } from "node:fs/promises";
import { basename } from "node:path";
import { chunkDocument, type ChunkingOptions } from "./chunker.js";
import { detectFormat, FORMAT_HEAD_BYTES, parserFor } from "./detect-format.js";
import type { Chunk, DocumentPart, ParsedDocumentInfo } from "./document.js";
import { DEFAULT_DOCUMENT_LIMITS, type DocumentLimits } from "../../library/document-limits.js";
import { documentError } from "./document-errors.js";
import { enforceLimit, overLimit } from "./limits.js";
import { normaliseLabel, normaliseText } from "./normalise.js";

export interface DocumentSource {
  /** The uploaded name; its extension is a format clue. Defaults to the file path's name. */
  filename?: string;
  contentType?: string;
}

export interface ReadDocumentOptions extends ChunkingOptions {
  /** Called as each part (page, section, chapter) is read: partNo counts from 1. */
  onPart?: (partNo: number, total?: number) => void;
  signal?: AbortSignal;
  /** What the document may cost; DEFAULT_DOCUMENT_LIMITS when absent. */
  limits?: DocumentLimits;
}

export interface ReadDocumentStats {
  parts: number;
  chunks: number;
  /** Characters of normalised text extracted. */
  characters: number;
}

export interface DocumentReading {
  info: ParsedDocumentInfo;
  /** Iterate once. Throws NonRetryableError "empty_document" at the end if no chunk came out. */
  chunks: AsyncIterable<Chunk>;
  /** Counts so far; final once `chunks` is exhausted. */
  stats(): ReadDocumentStats;
}

export async function readDocument(filePath: string, source: DocumentSource, options: ReadDocumentOptions): Promise<DocumentReading> {
  const { onPart, signal } = options;
  const limits = options.limits ?? DEFAULT_DOCUMENT_LIMITS;
  signal?.throwIfAborted();
  const format = detectFormat({
    filename: source.filename ?? basename(filePath),
    contentType: source.contentType,
    head: await readHead(filePath, FORMAT_HEAD_BYTES),
  });
  const { info, parts } = await parserFor(format).parse(filePath, { limits, signal });
  const what = `the ${FORMAT_NAMES[info.format]} document`;
  const unit = format === "pdf" || format === "text" ? "pages" : "sections";
  // Known up front for PDFs (the page tree's count), EPUBs (the spine), paged text: nothing is read yet.
  if (info.totalParts !== undefined) enforceLimit(limits, "maxPages", info.totalParts, (n) => `${what} has ${n} ${unit}`);
  const stats: ReadDocumentStats = { parts: 0, chunks: 0, characters: 0 };

  async function* normalisedParts(): AsyncIterable<DocumentPart> {
    for await (const part of parts) {
      signal?.throwIfAborted();
      stats.parts++;
      if (stats.parts > limits.maxPages) throw overLimit(limits, "maxPages", `${what} has more than ${count(limits.maxPages)} ${unit}`);
      onPart?.(stats.parts, info.totalParts);
      const text = normaliseText(part.text);
      stats.characters += text.length;
      if (stats.characters > limits.maxCharacters) throw overLimit(limits, "maxCharacters", `${what} holds more than ${count(limits.maxCharacters)} characters of text (${count(stats.parts)} ${unit} read)`);
      yield { page: part.page, section: normaliseLabel(part.section), text };
    }
  }

  async function* chunks(): AsyncIterable<Chunk> {
    for await (const chunk of chunkDocument(normalisedParts(), options)) {
      stats.chunks++;
      if (stats.chunks > limits.maxChunks) throw overLimit(limits, "maxChunks", `${what} splits into more than ${count(limits.maxChunks)} chunks of up to ${count(options.chunkSize)} characters`);
      yield chunk;
    }
    // Empty files and scanned PDFs without a text layer both end here.
    if (stats.chunks === 0) {
      const hint = info.format === "pdf" ? "; a scanned PDF needs OCR first" : "";
      throw documentError("empty_document", `no extractable text in the ${info.format} document (${stats.parts} parts read)${hint}`);
    }
  }

  return { info, chunks: chunks(), stats: () => ({ ...stats }) };
}

const FORMAT_NAMES: Record<ParsedDocumentInfo["format"], string> = { pdf: "PDF", epub: "EPUB", html: "HTML", markdown: "Markdown", text: "text" };

const count = (n: number) => n.toLocaleString("en-US");

async function readHead(filePath: string, bytes: number): Promise<Buffer> {
  const file = await open(filePath, "r");
  try {
    const head = Buffer.alloc(bytes);
    const { bytesRead } = await file.read(head, 0, bytes, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}
