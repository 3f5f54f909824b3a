// The NonRetryableError codes a document can fail with, so every parser names problems the same way.
import { NonRetryableError } from "../../kernel/errors.js";

export type DocumentErrorCode =
  | "unsupported_format"
  | "corrupt_document"
  | "encrypted_document"
  | "empty_document"
  | "invalid_chunking"
  /** Over one of the limits in library/config.ts (pages, characters, chunks, bytes, archive entries, ratio). */
  | "document_limit_exceeded"
  /** Structure a parser cannot follow without exhausting its stack or memory (nesting 100,000 deep, say). */
  | "document_too_complex";

export function documentError(code: DocumentErrorCode, message: string): NonRetryableError {
  return new NonRetryableError(message, code);
}

/** Wraps a library's parse failure: retrying the same bytes cannot help. */
export function corruptDocument(format: string, cause: unknown): NonRetryableError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return documentError("corrupt_document", `the file is not a readable ${format} document: ${reason}`);
}
