// The one error a JetqClient throws: the server's {error:{code,message,details}} with its HTTP
// status, or a stand-in code when there was no such answer (network failure, a body that is not
// the documented shape).
export class JetqClientError extends Error {
  override readonly name = "JetqClientError";
  constructor(
    /** The HTTP status; 0 when no answer came (the request did not reach the server). */
    readonly status: number,
    /**
     * The server's error code (`not_found`, `invalid_request`…; for access: 401 `unauthenticated`,
     * `invalid_credentials`, `credentials_expired`, `invalid_token`, 403 `forbidden`), or
     * `network_error`, `invalid_response`, `http_<status>`.
     */
    readonly code: string,
    message: string,
    /** The server's details (a list of {path, message} for schema errors), or null. */
    readonly details: unknown = null,
    /** Seconds the server asked to wait (Retry-After on a 503). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /** The error body as the server sends it. */
  get body() {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}
