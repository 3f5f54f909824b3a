import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_KINDS, jetqError, NonRetryableError, type ErrorKind } from "../../kernel/errors.js";
import { silentLogger } from "../../kernel/logger.js";
import { errorHandler } from "../../api/http.js";
import { HTTP_STATUS_OF_KIND, httpAnswerOf } from "../../api/http-errors.js";

const EXPECTED: Record<ErrorKind, number | undefined> = {
  invalid_request: 400,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported: 415,
  invalid: 422,
  unavailable: 503,
  non_retryable: undefined,
};

describe("kinds to HTTP statuses", () => {
  it("gives every kind its status", () => {
    expect(Object.keys(HTTP_STATUS_OF_KIND).sort()).toEqual([...ERROR_KINDS].sort());
    for (const kind of ERROR_KINDS) expect([kind, HTTP_STATUS_OF_KIND[kind]]).toEqual([kind, EXPECTED[kind]]);
  });

  it("answers with the error's code, message and details, and Retry-After on 503 only", () => {
    for (const kind of ERROR_KINDS) {
      const answer = httpAnswerOf(jetqError(kind, "a_code", "a message", { x: 1 }));
      if (EXPECTED[kind] === undefined) {
        expect(answer).toBeUndefined();
        continue;
      }
      expect(answer).toEqual({
        status: EXPECTED[kind],
        headers: kind === "unavailable" ? { "Retry-After": "2" } : {},
        body: { error: { code: "a_code", message: "a message", details: { x: 1 } } },
      });
    }
    expect(httpAnswerOf(jetqError("conflict", "c", "m"))?.body.error.details).toBeNull();
    expect(httpAnswerOf(new Error("plain"))).toBeUndefined();
  });
});

describe("the API's error handler", () => {
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const app = express();
    app.get("/kind/:kind", (req) => {
      throw jetqError(req.params.kind as ErrorKind, "the_code", `a ${req.params.kind} error`, [{ path: "p", message: "m" }]);
    });
    app.get("/verdict", () => {
      throw new NonRetryableError("a handler's verdict", "bad_input");
    });
    app.use(errorHandler(silentLogger()));
    const server = app.listen(0);
    await new Promise((r) => server.once("listening", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((r) => server.close(() => r()));
  });
  afterAll(() => close());

  it.each(ERROR_KINDS.filter((k) => EXPECTED[k] !== undefined))("answers an error of kind %s with its status and body", async (kind) => {
    const res = await fetch(`${base}/kind/${kind}`);
    expect(res.status).toBe(EXPECTED[kind]);
    expect(res.headers.get("retry-after")).toBe(kind === "unavailable" ? "2" : null);
    expect(await res.json()).toEqual({ error: { code: "the_code", message: `a ${kind} error`, details: [{ path: "p", message: "m" }] } });
  });

  it("answers a NonRetryableError as any unexpected error: 500, nothing of it shown", async () => {
    const res = await fetch(`${base}/verdict`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: "internal", message: "internal error", details: null } });
  });
});
