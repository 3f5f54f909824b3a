// TaskQueue.validate on its own: no NATS. Every refusal a create body can meet, with the kind, code
// and details a client acts on, and what validation fills in. The connection is a trap that throws
// on any use, so a validation that reached for NATS would fail here rather than pass silently.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { JetqConnection } from "../../kernel/connection.js";
import { InvalidError, InvalidRequestError, JetqError } from "../../kernel/errors.js";
import { TaskTypeRegistry } from "../../kernel/registry.js";
import { TaskQueue } from "../../kernel/task-queue.js";

const untouchable = new Proxy({} as JetqConnection, {
  get(_target, property) {
    throw new Error(`validate used the connection (conn.${String(property)})`);
  },
});

const registry = new TaskTypeRegistry()
  .register({ name: "echo", description: "anything in value", payload: z.object({ value: z.unknown().optional() }).strict() })
  .register({
    name: "resize",
    description: "a payload with required fields, bounds and a default",
    payload: z.object({ url: z.string().url(), width: z.number().int().min(1).max(4096), format: z.enum(["png", "jpeg"]).default("png") }).strict(),
  })
  .register({ name: "nightly", description: "no payload fields", payload: z.object({}).strict() });

const MAX_DELIVER = 4;
const queue = new TaskQueue(untouchable, registry, { defaultTimeoutSeconds: 60, maxDeliver: MAX_DELIVER });

/** The JetqError validate throws for `body` (fails the test if it accepts it). */
function refusal(body: unknown): JetqError {
  try {
    queue.validate(body);
  } catch (err) {
    expect(err).toBeInstanceOf(JetqError);
    return err as JetqError;
  }
  throw new Error(`validate accepted ${JSON.stringify(body)}`);
}

/** `depth` arrays, one inside the other, around a number. */
const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

describe("TaskQueue.validate: what it accepts", () => {
  it("fills in the defaults: priority normal, an absent payload as {}, the payload schema's own defaults", () => {
    expect(queue.validate({ type: "nightly" })).toEqual({ type: "nightly", priority: "normal", payload: {} });
    expect(queue.validate({ type: "resize", payload: { url: "https://example.org/a.png", width: 10 } })).toEqual({
      type: "resize",
      priority: "normal",
      payload: { url: "https://example.org/a.png", width: 10, format: "png" },
    });
  });

  it("keeps every optional field it was given", () => {
    const body = { type: "echo", payload: { value: "x" }, priority: "high", idempotencyKey: "key-ü-😀", maxAttempts: MAX_DELIVER, timeoutSeconds: 30 };
    expect(queue.validate(body)).toEqual(body);
  });

  it("accepts a payload nested exactly as deep as allowed (64 levels)", () => {
    // The payload object is level 1, so 63 arrays inside `value` make 64.
    expect(queue.validate({ type: "echo", payload: { value: nested(63) } }).payload).toEqual({ value: nested(63) });
  });
});

describe("TaskQueue.validate: refusals", () => {
  it("an unknown type: invalid, unknown_task_type, with the list of known types", () => {
    const err = refusal({ type: "no_such_type", payload: {} });
    expect(err).toBeInstanceOf(InvalidError);
    expect(err).toMatchObject({ kind: "invalid", code: "unknown_task_type", details: { known: ["echo", "resize", "nightly"] } });
    expect(err.message).toContain('"no_such_type"');
  });

  it("a payload that does not fit its schema: invalid_payload, one issue per problem with its path", () => {
    const err = refusal({ type: "resize", payload: { url: "not a url", width: 0, format: "gif", extra: true } });
    expect(err).toMatchObject({ kind: "invalid", code: "invalid_payload" });
    expect(err.message).toContain("resize");
    const issues = err.details as { path: string; message: string }[];
    expect(issues.map((i) => i.path).sort()).toEqual(["", "format", "url", "width"]);
    expect(issues.every((i) => typeof i.message === "string" && i.message.length > 0)).toBe(true);
    expect(issues.find((i) => i.path === "")!.message).toContain("extra"); // the unknown key is named
  });

  it("a missing required payload field is named by its path", () => {
    const err = refusal({ type: "resize", payload: { url: "https://example.org/a.png" } });
    expect(err).toMatchObject({ kind: "invalid", code: "invalid_payload" });
    expect(err.details).toEqual([{ path: "width", message: expect.any(String) }]);
  });

  it("a payload nested deeper than 64 levels: invalid_payload at path payload, before any schema runs", () => {
    const err = refusal({ type: "echo", payload: { value: nested(64) } });
    expect(err).toMatchObject({ kind: "invalid", code: "invalid_payload", details: [{ path: "payload", message: "at most 64 levels of arrays and objects" }] });
    // Far deeper than the stack would allow a recursive schema walk: still a clean refusal.
    expect(refusal({ type: "echo", payload: { value: nested(200_000) } })).toMatchObject({ code: "invalid_payload", details: [{ path: "payload" }] });
    // Even for a type that does not exist: depth is checked first.
    expect(refusal({ type: "no_such_type", payload: nested(100) })).toMatchObject({ code: "invalid_payload" });
  });

  it("a null payload: invalid_request at path payload (leave it out or send {})", () => {
    const err = refusal({ type: "nightly", payload: null });
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err).toMatchObject({ kind: "invalid_request", code: "invalid_request" });
    expect(err.details).toEqual([{ path: "payload", message: "must be an object: send {} or leave it out, not null" }]);
  });

  it("maxAttempts above the consumers' max_deliver: invalid, naming the ceiling", () => {
    const err = refusal({ type: "nightly", maxAttempts: MAX_DELIVER + 1 });
    expect(err).toMatchObject({ kind: "invalid", code: "invalid_request", details: [{ path: "maxAttempts", message: `at most ${MAX_DELIVER}` }] });
    expect(err.message).toContain(`at most ${MAX_DELIVER}`);
  });

  it("maxAttempts and timeoutSeconds out of their absolute ranges or not integers: invalid_request with their paths", () => {
    for (const [field, value] of [["maxAttempts", 0], ["maxAttempts", 101], ["maxAttempts", 1.5], ["timeoutSeconds", 0], ["timeoutSeconds", 7 * 24 * 3600 + 1], ["timeoutSeconds", "60"]] as const) {
      const err = refusal({ type: "nightly", [field]: value });
      expect(err, `${field}=${value}`).toMatchObject({ kind: "invalid_request", code: "invalid_request" });
      expect((err.details as { path: string }[]).map((i) => i.path), `${field}=${value}`).toEqual([field]);
    }
  });

  it("an idempotencyKey with a lone surrogate: invalid_request at path idempotencyKey", () => {
    for (const key of ["abc\uD800", "\uDC00xyz", "a\uDFFFb"]) {
      const err = refusal({ type: "nightly", idempotencyKey: key });
      expect(err).toMatchObject({ kind: "invalid_request", code: "invalid_request", details: [{ path: "idempotencyKey", message: "must be well-formed Unicode (no lone surrogates)" }] });
    }
    // An empty key and one over 256 characters are refused too; a surrogate pair is fine.
    expect(refusal({ type: "nightly", idempotencyKey: "" })).toMatchObject({ details: [{ path: "idempotencyKey" }] });
    expect(refusal({ type: "nightly", idempotencyKey: "k".repeat(257) })).toMatchObject({ details: [{ path: "idempotencyKey" }] });
    expect(queue.validate({ type: "nightly", idempotencyKey: "\uD83D\uDE00" }).idempotencyKey).toBe("😀");
  });

  it("unknown top-level fields: invalid_request naming them", () => {
    const err = refusal({ type: "nightly", payload: {}, delaySeconds: 5, queue: "x" });
    expect(err).toMatchObject({ kind: "invalid_request", code: "invalid_request" });
    const issues = err.details as { path: string; message: string }[];
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe("");
    expect(issues[0]!.message).toContain("delaySeconds");
    expect(issues[0]!.message).toContain("queue");
  });

  it("an unknown priority, a missing or empty or overlong type: invalid_request with the path", () => {
    expect(refusal({ type: "nightly", priority: "urgent" })).toMatchObject({ kind: "invalid_request", details: [{ path: "priority" }] });
    expect(refusal({ payload: {} })).toMatchObject({ kind: "invalid_request", details: [{ path: "type" }] });
    expect(refusal({ type: "" })).toMatchObject({ kind: "invalid_request", details: [{ path: "type" }] });
    expect(refusal({ type: "t".repeat(65) })).toMatchObject({ kind: "invalid_request", details: [{ path: "type" }] });
  });

  it("a body that is not an object: invalid_request", () => {
    for (const body of [null, undefined, "echo", 42, ["echo"]]) {
      expect(refusal(body), JSON.stringify(body)).toMatchObject({ kind: "invalid_request", code: "invalid_request" });
    }
  });

  it("several problems at once are all listed", () => {
    const err = refusal({ type: "nightly", priority: "urgent", maxAttempts: 0, timeoutSeconds: -1 });
    expect((err.details as { path: string }[]).map((i) => i.path).sort()).toEqual(["maxAttempts", "priority", "timeoutSeconds"]);
  });
});
