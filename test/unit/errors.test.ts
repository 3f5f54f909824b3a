import { describe, expect, it } from "vitest";
import {
  ConflictError,
  ERROR_KINDS,
  InvalidError,
  InvalidRequestError,
  JetqError,
  jetqError,
  NonRetryableError,
  notFound,
  NotFoundError,
  toTaskError,
  TooLargeError,
  UnavailableError,
  UnsupportedError,
} from "../../kernel/errors.js";

describe("the jetq error family", () => {
  const cases = [
    [InvalidRequestError, "invalid_request"],
    [InvalidError, "invalid"],
    [NotFoundError, "not_found"],
    [ConflictError, "conflict"],
    [TooLargeError, "too_large"],
    [UnsupportedError, "unsupported"],
    [UnavailableError, "unavailable"],
  ] as const;

  it.each(cases.map(([Class, kind]) => ({ Class, kind })))("$kind: carries its kind, code, message and details", ({ Class, kind }) => {
    const err = new Class("some_code", "what went wrong", { field: "x" });
    expect(err).toBeInstanceOf(JetqError);
    expect(err).toBeInstanceOf(Error);
    expect(err.kind).toBe(kind);
    expect(err.code).toBe("some_code");
    expect(err.message).toBe("what went wrong");
    expect(err.details).toEqual({ field: "x" });
    expect(err.name).toBe(Class.name);
  });

  it("has one class per kind, and builds each kind as an instance of that class", () => {
    const classes = new Map<string, unknown>([...cases, [NonRetryableError, "non_retryable"] as const].map(([c, k]) => [k, c]));
    expect([...classes.keys()].sort()).toEqual([...ERROR_KINDS].sort());
    for (const kind of ERROR_KINDS) {
      const err = jetqError(kind, "c", "m", { a: 1 });
      expect(err).toBeInstanceOf(classes.get(kind) as typeof JetqError);
      expect({ kind: err.kind, code: err.code, message: err.message, details: err.details }).toEqual({ kind, code: "c", message: "m", details: { a: 1 } });
    }
  });

  it("adds details without losing the kind, the class or the code", () => {
    const err = new UnavailableError("outcome_unknown", "may or may not be queued", { outcome: "unknown", taskId: "t1" });
    const more = err.withDetails({ bookId: "b1" });
    expect(more).toBeInstanceOf(UnavailableError);
    expect(more.kind).toBe("unavailable");
    expect(more.code).toBe("outcome_unknown");
    expect(more.message).toBe(err.message);
    expect(more.details).toEqual({ outcome: "unknown", taskId: "t1", bookId: "b1" });
    expect(err.details).toEqual({ outcome: "unknown", taskId: "t1" }); // the original is untouched
  });

  it("says what was not found", () => {
    const err = notFound("task", "abc");
    expect(err).toBeInstanceOf(NotFoundError);
    expect({ code: err.code, message: err.message, details: err.details }).toEqual({ code: "not_found", message: "task abc not found", details: undefined });
  });

  it("keeps NonRetryableError's handler-facing signature, and only it ends a task at once", () => {
    const verdict = new NonRetryableError("this input can never work", "bad_input");
    expect(verdict).toBeInstanceOf(JetqError);
    expect(verdict.kind).toBe("non_retryable");
    expect(verdict.name).toBe("NonRetryableError");
    expect(new NonRetryableError("no").code).toBe("non_retryable");
    expect(toTaskError(verdict, 2)).toEqual({ code: "bad_input", message: "this input can never work", retryable: false, attempt: 2 });
    // Any other error of the family (a refused ctx.enqueue, say) leaves the task to its retries.
    expect(toTaskError(new UnavailableError("unavailable", "NATS is away"), 1)).toEqual({ code: "unavailable", message: "NATS is away", retryable: true, attempt: 1 });
  });
});
