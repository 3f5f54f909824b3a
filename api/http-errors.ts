// The one place where a jetq error becomes an HTTP status. The kernel and the library say what
// went wrong (a kind); how the API answers each kind is written here, once.
import { type ErrorKind, JetqError } from "../kernel/errors.js";

/**
 * The HTTP status of each kind. `non_retryable` is a handler's verdict on its task, never an
 * answer to a request: should one reach the API it is answered as any unexpected error (500).
 */
export const HTTP_STATUS_OF_KIND = {
  invalid_request: 400,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported: 415,
  invalid: 422,
  unavailable: 503,
  non_retryable: undefined,
} as const satisfies Record<ErrorKind, number | undefined>;

/** How long a client should wait before retrying an `unavailable` answer (Retry-After). */
export const RETRY_AFTER_SECONDS = 2;

export interface HttpErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: { error: { code: string; message: string; details: unknown } };
}

/** The answer for an error the API can explain to its client, or undefined for any other error. */
export function httpAnswerOf(err: unknown): HttpErrorAnswer | undefined {
  if (!(err instanceof JetqError)) return undefined;
  const status = HTTP_STATUS_OF_KIND[err.kind];
  if (status === undefined) return undefined;
  const headers: Record<string, string> = status === 503 ? { "Retry-After": String(RETRY_AFTER_SECONDS) } : {};
  return { status, headers, body: { error: { code: err.code, message: err.message, details: err.details ?? null } } };
}
