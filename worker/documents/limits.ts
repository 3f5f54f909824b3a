// A document over one of its limits fails with one error a client can act on: non-retryable
// (the same bytes always cross the same limit), naming the limit, its value and its setting.
import { DOCUMENT_LIMIT_SETTINGS, type DocumentLimits } from "../../library/document-limits.js";
import type { NonRetryableError } from "../../kernel/errors.js";
import { documentError } from "./document-errors.js";

export type DocumentLimit = keyof DocumentLimits;

/** `found` says what crossed the limit, e.g. "the PDF has 1,000,000 pages". */
export function overLimit(limits: DocumentLimits, limit: DocumentLimit, found: string): NonRetryableError {
  return documentError(
    "document_limit_exceeded",
    `${found}; the limit is ${limits[limit].toLocaleString("en-US")} (${DOCUMENT_LIMIT_SETTINGS[limit]})`,
  );
}

/** Throws overLimit when `value` is above the limit. */
export function enforceLimit(limits: DocumentLimits, limit: DocumentLimit, value: number, found: (value: string) => string): void {
  if (value > limits[limit]) throw overLimit(limits, limit, found(value.toLocaleString("en-US")));
}
