// The one JSON body parser every router uses. JSON is UTF-8 (RFC 8259): body-parser would decode
// invalid bytes as U+FFFD, so two different idempotency keys could arrive as one and return
// another client's task. Invalid UTF-8 is refused with 400 before anything reads the body.
import { isUtf8 } from "node:buffer";
import express, { type RequestHandler } from "express";
import { InvalidRequestError } from "../kernel/errors.js";

export function jsonBody(limitBytes: number): RequestHandler {
  return express.json({
    limit: limitBytes,
    strict: true,
    verify: (_req, _res, buf) => {
      if (!isUtf8(buf)) throw new InvalidRequestError("invalid_utf8", "the body is not valid UTF-8 (JSON must be UTF-8)");
    },
  });
}
