// Small express helpers shared by the routers: JSON errors, query parsing, 405s.
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from "express";
import { z } from "zod";
import { InvalidRequestError, NotFoundError, UnsupportedError } from "../kernel/errors.js";
import { isJetqId } from "../kernel/ids.js";
import type { Logger } from "../kernel/logger.js";
import { httpAnswerOf, RETRY_AFTER_SECONDS } from "./http-errors.js";

export function sendError(res: Response, status: number, code: string, message: string, details?: unknown) {
  res.status(status).json({ error: { code, message, details: details ?? null } });
}


/**
 * The id in the path (`:id`, or `name`), which must look like a jetq id (all are UUIDs) before it
 * goes near a NATS subject or KV key: there `*` or `>` would match every task. Anything else names
 * nothing that exists: 404.
 */
export function idParam(req: Request, what: string, name = "id"): string {
  const id = String(req.params[name] ?? "").toLowerCase(); // jetq writes them lower-case
  if (!isJetqId(id)) throw new NotFoundError("not_found", `${what} ${JSON.stringify(id.slice(0, 100))} not found: ids are UUIDs`);
  return id;
}

/** Parses `req.query` with a schema; a bad query is a 400 naming each problem. */
export function parseQuery<T extends z.ZodType>(schema: T, req: Request): z.infer<T> {
  const parsed = schema.safeParse(req.query);
  if (!parsed.success) {
    throw new InvalidRequestError("invalid_query", "the query parameters are not valid", parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
  }
  return parsed.data;
}

/**
 * A whole number in a query string, written as digits only: `Number()` would also take "0x10",
 * "1e3", " 5" or "", none of which the document's `type: integer` allows.
 */
export function queryInt(min: number, max: number, fallback: number) {
  return z
    .string()
    .regex(/^[0-9]{1,16}$/, "a whole number, in digits")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .default(fallback);
}

/**
 * An optional string filter where an empty value (`?type=`, as a form or a URL template sends it)
 * means the same as no value: no filter.
 */
export function optionalFilter<T extends z.ZodType<string | undefined>>(schema: T) {
  return z.preprocess((v) => (v === "" ? undefined : v), schema.optional());
}

export const PAGE_LIMIT_MAX = 500;
export const PAGE_OFFSET_MAX = 1_000_000;

export const pagination = {
  limit: queryInt(1, PAGE_LIMIT_MAX, 50),
  offset: queryInt(0, PAGE_OFFSET_MAX, 0),
};

/** For `.all()` after a route's real methods: a wrong method gets 405 with an Allow header. */
export function methodNotAllowed(...allowed: string[]): RequestHandler {
  return (req, res) => {
    res.setHeader("Allow", allowed.join(", "));
    sendError(res, 405, "method_not_allowed", `${req.method} is not allowed on ${req.path}; use ${allowed.join(" or ")}`);
  };
}

/** JSON bodies only where JSON is expected: anything else is a 415, not a silent empty body. */
export const requireJson: RequestHandler = (req, _res, next) => {
  if (req.headers["content-length"] === "0" && !req.is("application/json")) return next();
  if (!req.is("application/json")) {
    throw new UnsupportedError("unsupported_media_type", "send the body as application/json");
  }
  next();
};

// nats.js errors that mean NATS is away or too slow right now: the same request may work later.
const NATS_UNAVAILABLE = new Set(["TimeoutError", "ConnectionError", "ClosedConnectionError", "DrainingConnectionError", "NoResponders", "RequestError"]);

function unavailable(res: Response, cause: string) {
  res.setHeader("Retry-After", String(RETRY_AFTER_SECONDS));
  sendError(res, 503, "unavailable", "jetq cannot reach NATS right now; try again shortly", { cause });
}

/**
 * While the NATS connection is down, the routes that need it answer 503 at once instead of
 * waiting out request timeouts. Health and metrics stay up.
 */
export function requireNats(isConnected: () => boolean): RequestHandler {
  return (req, res, next) => {
    const needsNats = (req.path.startsWith("/api/") && !req.path.startsWith("/api/search")) || req.path.startsWith("/rag/");
    if (isConnected() || !needsNats) return next(); // search reads the vector store, not NATS
    unavailable(res, "not connected to NATS (reconnecting)");
  };
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    const answer = httpAnswerOf(err);
    if (answer) return res.status(answer.status).set(answer.headers).json(answer.body);
    // body-parser's errors carry a `type` and a status.
    const e = err as { type?: string; status?: number; message?: string; limit?: number };
    if (e?.type === "entity.parse.failed") return sendError(res, 400, "malformed_json", `the body is not valid JSON: ${e.message}`);
    if (e?.type === "entity.too.large") return sendError(res, 413, "payload_too_large", `the body is larger than ${e.limit} bytes`);
    if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported") return sendError(res, 415, "unsupported_media_type", String(e.message));
    if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) return sendError(res, e.status, "bad_request", String(e.message));
    if (NATS_UNAVAILABLE.has((err as Error)?.name)) return unavailable(res, String((err as Error).message));
    log.error("request failed", { method: req.method, path: req.path, error: String(err), stack: (err as Error)?.stack });
    sendError(res, 500, "internal", "internal error");
  };
}
