// Errors that carry a code a client (or the worker runtime) can act on.

/** Thrown by a handler when retrying cannot help: the task goes to the dead-letter queue at once. */
export class NonRetryableError extends Error {
  readonly code: string;
  constructor(message: string, code = "non_retryable") {
    super(message);
    this.name = "NonRetryableError";
    this.code = code;
  }
}

/** An error the API turns into `{error:{code,message,details}}` with an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const notFound = (what: string, id: string) => new ApiError(404, "not_found", `${what} ${id} not found`);

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
