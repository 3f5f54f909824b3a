// The one error family every jetq layer throws: a stable `code` a client (or the worker runtime)
// can act on, a `kind` that says what sort of failure it is, and `details`. The kernel knows no
// transport: each program maps kinds to its own answers (api/http-errors.ts to HTTP statuses).

/**
 * What sort of failure an error is, a closed set: a program can answer each one without knowing
 * any code. `invalid_request` is a request jetq cannot read (its shape), `invalid` one it reads
 * but refuses (what it asks for); `non_retryable` is a handler's verdict on its task.
 */
export const ERROR_KINDS = ["invalid_request", "invalid", "not_found", "conflict", "too_large", "unsupported", "unavailable", "non_retryable"] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** The base of the family. Its constructor is protected so that each kind has exactly one class. */
export abstract class JetqError extends Error {
  protected constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** The same error with more details, e.g. the id of what it concerns, added by a caller. */
  withDetails(more: Record<string, unknown>): JetqError {
    return jetqError(this.kind, this.code, this.message, { ...(this.details as object), ...more });
  }
}

/** The request cannot be read as one: a malformed body, query or form. */
export class InvalidRequestError extends JetqError {
  constructor(code: string, message: string, details?: unknown) {
    super("invalid_request", code, message, details);
  }
}

/** The request reads well but asks for something jetq refuses: an unknown type, a payload that does not fit. */
export class InvalidError extends JetqError {
  constructor(code: string, message: string, details?: unknown) {
    super("invalid", code, message, details);
  }
}

export class NotFoundError extends JetqError {
  constructor(code: string, message: string, details?: unknown) {
    super("not_found", code, message, details);
  }
}

/** The thing is not in a state that allows this (already finished, changed meanwhile). */
export class ConflictError extends JetqError {
  constructor(code: string, message: string, details?: unknown) {
    super("conflict", code, message, details);
  }
}

export class TooLargeError extends JetqError {
  constructor(code: string, message: string, details?: unknown) {
    super("too_large", code, message, details);
  }
}

/** The request comes in a form (media type) jetq does not read. */
export class UnsupportedError extends JetqError {
  constructor(code: string, message: string, details?: unknown) {
    super("unsupported", code, message, details);
  }
}

/** NATS (or a store) did not answer or refused for now: the same request may work later. */
export class UnavailableError extends JetqError {
  constructor(code: string, message: string, details?: unknown) {
    super("unavailable", code, message, details);
  }
}

/** Thrown by a handler when retrying cannot help: the task goes to the dead-letter queue at once. */
export class NonRetryableError extends JetqError {
  constructor(message: string, code = "non_retryable", details?: unknown) {
    super("non_retryable", code, message, details);
  }
}

const CLASS_OF_KIND: { [K in ErrorKind]: (code: string, message: string, details?: unknown) => JetqError } = {
  invalid_request: (c, m, d) => new InvalidRequestError(c, m, d),
  invalid: (c, m, d) => new InvalidError(c, m, d),
  not_found: (c, m, d) => new NotFoundError(c, m, d),
  conflict: (c, m, d) => new ConflictError(c, m, d),
  too_large: (c, m, d) => new TooLargeError(c, m, d),
  unsupported: (c, m, d) => new UnsupportedError(c, m, d),
  unavailable: (c, m, d) => new UnavailableError(c, m, d),
  non_retryable: (c, m, d) => new NonRetryableError(m, c, d),
};

/** The error of a kind known only at run time, as an instance of that kind's class. */
export function jetqError(kind: ErrorKind, code: string, message: string, details?: unknown): JetqError {
  return CLASS_OF_KIND[kind](code, message, details);
}

export const notFound = (what: string, id: string) => new NotFoundError("not_found", `${what} ${id} not found`);

/** The JSON shape a task's error takes in its state record. */
export interface TaskError {
  code: string;
  message: string;
  retryable: boolean;
  attempt: number;
}

export function toTaskError(err: unknown, attempt: number): TaskError {
  if (err instanceof NonRetryableError) return { code: err.code, message: err.message, retryable: false, attempt };
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  const code = typeof e?.code === "string" ? e.code : typeof e?.name === "string" && e.name !== "Error" ? e.name : "handler_error";
  const message = typeof e?.message === "string" ? e.message : String(err);
  return { code, message, retryable: true, attempt };
}
