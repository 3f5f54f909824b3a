// The NonRetryableError codes a document can fail with, so every parser names problems the same way.
import { NonRetryableError } from "../../core/errors.js";

export type DocumentErrorCode =
  | "unsupported_format"
  | "corrupt_document"
  | "encrypted_document"
  | "empty_document"
  | "invalid_chunking";

export function documentError(code: DocumentErrorCode, message: string): NonRetryableError {
  return new NonRetryableError(message, code);
}

/** Wraps a library's parse failure: retrying the same bytes cannot help. */
export function corruptDocument(format: string, cause: unknown): NonRetryableError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return documentError("corrupt_document", `the file is not a readable ${format} document: ${reason}`);
}
