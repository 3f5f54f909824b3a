// Parsers that must read a whole file anyway (Markdown, HTML) hand their parts over through this,
// after checking that the file is small enough to hold whole (JETQ_DOC_MAX_PART_BYTES).
import { stat } from "node:fs/promises";
import type { DocumentLimits } from "../../library/document-limits.js";
import type { DocumentPart } from "./document.js";
import { enforceLimit } from "./limits.js";

export async function* partsFrom(parts: readonly DocumentPart[]): AsyncIterable<DocumentPart> {
  yield* parts;
}

/** A file parsed whole costs many times its size in memory (a DOM, a token list): checked before it is read. */
export async function enforceFileSize(filePath: string, limits: DocumentLimits, format: string): Promise<void> {
  const { size } = await stat(filePath);
  enforceLimit(limits, "maxPartBytes", size, (n) => `the ${format} file is ${n} bytes, and it is parsed whole`);
}
