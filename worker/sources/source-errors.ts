// How a source read fails: SourceFetchError for what may work later (timeouts, 5xx, connection
// errors, name resolution), NonRetryableError (kernel/errors.ts) for what never will.

/** A failure worth retrying later; the code says which (fetch_timeout, fetch_failed, dns_lookup_failed). */
export class SourceFetchError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = "SourceFetchError";
  }
}

// System error codes that describe the moment, not the source: the same read may work later.
const TRANSIENT_SYSTEM_CODES = new Set(["EAGAIN", "EBUSY", "EMFILE", "ENFILE", "ETIMEDOUT", "ECONNRESET", "ECONNREFUSED", "EPIPE", "EAI_AGAIN"]);

/**
 * Whether a failure to read a source may go away by itself. Everything else (a refused address,
 * an invalid URL, a directory outside the root, a 4xx, a bug) fails the same way every time.
 */
export function isTransientSourceError(err: unknown): boolean {
  if (err instanceof SourceFetchError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && TRANSIENT_SYSTEM_CODES.has(code);
}
