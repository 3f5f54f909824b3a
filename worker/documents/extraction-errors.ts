// Which failures of a document extraction are worth another attempt. Reading the same bytes with
// the same code fails the same way, so parse failures — corrupt structure, a stack overflow, memory
// exhaustion in the extraction thread — are non-retryable; only the machine's own trouble (a
// system error such as EMFILE or ENOSPC, a thread that could not start) is retried.
import { NonRetryableError } from "../../kernel/errors.js";
import { documentError } from "./document-errors.js";

/** An error as it crosses from the extraction thread to the worker (structured clone loses classes). */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  retryable: boolean;
}

export function classifyExtractionError(err: unknown, heapMb: number): Error {
  if (err instanceof NonRetryableError) return err;
  const e = (err ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  const name = typeof e.name === "string" ? e.name : "";
  const code = typeof e.code === "string" ? e.code : "";
  const message = typeof e.message === "string" ? e.message : String(err);
  if (name === "AbortError" || name === "TaskAbort") return err as Error;
  if (code === "ERR_WORKER_OUT_OF_MEMORY") {
    return documentError("document_limit_exceeded", `reading the document needed more memory than its thread may use; the limit is ${heapMb.toLocaleString("en-US")} MB (JETQ_DOC_PARSER_HEAP_MB)`);
  }
  if (/Maximum call stack size exceeded/.test(message)) {
    return documentError("document_too_complex", "the document is nested too deeply to read (the parser ran out of stack); flatten its structure or convert it to another format");
  }
  if (code === "ERR_STRING_TOO_LONG" || /Invalid string length|Invalid array length|Array buffer allocation failed/.test(message)) {
    return documentError("document_limit_exceeded", `the document expands to more text than one part can hold (${message}); the limit on a part is JETQ_DOC_MAX_PART_BYTES`);
  }
  // The machine's trouble, not the document's: EMFILE, ENOSPC, EIO… and threads that failed to start.
  if (/^E[A-Z0-9]+$/.test(code) || code.startsWith("ERR_WORKER_")) return err instanceof Error ? err : new Error(message);
  return documentError("corrupt_document", `the file is not a readable document: ${message}`);
}

export function toWire(err: Error): WireError {
  const code = (err as { code?: unknown }).code;
  return { name: err.name, message: err.message, ...(typeof code === "string" ? { code } : {}), retryable: !(err instanceof NonRetryableError) };
}

export function fromWire(wire: WireError): Error {
  if (!wire.retryable) return new NonRetryableError(wire.message, wire.code);
  return Object.assign(new Error(wire.message), { name: wire.name, ...(wire.code ? { code: wire.code } : {}) });
}
