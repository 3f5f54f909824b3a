// The messages between the worker and a document's extraction thread. Chunks travel in batches,
// and the thread sends a batch only while it holds a credit, so a slow consumer (the chunk
// store) holds back extraction instead of letting chunks pile up in memory.
import type { DocumentLimits } from "../../library/document-limits.js";
import type { ChunkingOptions } from "./chunker.js";
import type { Chunk, ParsedDocumentInfo } from "./document.js";
import type { WireError } from "./extraction-errors.js";
import type { DocumentSource, ReadDocumentStats } from "./read-document.js";

export interface ExtractionJob {
  filePath: string;
  source: DocumentSource;
  chunking: ChunkingOptions;
  limits: DocumentLimits;
  heapMb: number;
}

export type ThreadMessage =
  | { kind: "info"; info: ParsedDocumentInfo }
  | { kind: "part"; partNo: number; total?: number }
  | { kind: "chunks"; chunks: Chunk[]; stats: ReadDocumentStats }
  | { kind: "done"; stats: ReadDocumentStats }
  | { kind: "error"; error: WireError };

/** Sent by the worker when it takes a batch: the thread may send one more. */
export type WorkerMessage = { kind: "credit" };

/** Batches the thread may send ahead of the consumer. */
export const BATCHES_IN_FLIGHT = 2;
/** A batch closes at this many chunks or characters, whichever comes first. */
export const BATCH_CHUNKS = 64;
export const BATCH_CHARACTERS = 256 * 1024;
