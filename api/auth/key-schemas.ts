// The key endpoints' requests and answers as zod schemas: the route validates with them, the
// OpenAPI document is generated from them, the typed client parses with them. Only zod: no express
// or NATS, so a browser or the CLI can import it.
import { z } from "zod";
import { dateTimeString, uuidString } from "../../kernel/api-schemas.js";
import { ROLES, TENANT_PATTERN } from "./roles.js";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * Milliseconds since the epoch of an RFC 3339 date-time (the document's `format: date-time`), or
 * null if it is not one: every field in range (a leap second counts as the next second), offsets
 * at most ±23:59. Stricter than Date.parse, which takes "2021-02-30" and more.
 */
export function parseDateTime(s: string): number | null {
  const m = RFC3339.exec(s);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 60) return null;
  let offsetMinutes = 0;
  if (m[9]) {
    const [oh, om] = [Number(m[10]), Number(m[11])];
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const ms = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMinutes * 60_000;
}

const expiresAt = z
  .string()
  .refine((s) => parseDateTime(s) !== null, "an RFC 3339 date-time, e.g. 2027-01-31T00:00:00Z")
  .meta({ format: "date-time", description: "when the key stops working (absent: never); must be in the future" });

/** `POST /api/keys`. */
export const KeyCreateSchema = z
  .object({
    tenant: z.string().regex(TENANT_PATTERN, "a tenant name: lower-case letters, digits and inner dashes, at most 63").describe("the tenant the key acts for"),
    role: z.enum(ROLES).describe("viewer: read; member: read, create, cancel, upload, search, delete its own; admin: every tenant, queue-wide views, DLQ bulk actions, key management"),
    expiresAt: expiresAt.optional(),
    name: z.string().min(1).max(200).optional().describe("what the key is for, e.g. the service that uses it"),
  })
  .strict();
export type KeyCreate = z.infer<typeof KeyCreateSchema>;

/** A key as `GET /api/keys` shows it: never its secret, never its hash. */
export const KeySchema = z.looseObject({
  id: uuidString,
  tenant: z.string(),
  role: z.enum(ROLES),
  name: z.string().nullable(),
  /** The start of the key (`jetq_<id>_`), to recognise it in a config or a leak report. */
  prefix: z.string(),
  createdAt: dateTimeString,
  /** Who made it: the key id of the admin, or `first-start` / `JETQ_ADMIN_KEY` for the ones jetq made. */
  createdBy: z.string(),
  expiresAt: dateTimeString.nullable(),
  expired: z.boolean(),
});
export type KeyView = z.infer<typeof KeySchema>;

/** The answer to `POST /api/keys` (201): the key itself, this once. */
export const KeyCreatedSchema = KeySchema.extend({ key: z.string().describe("the API key: shown this once, stored only as a hash") });
export type KeyCreated = z.infer<typeof KeyCreatedSchema>;

export const KeyListSchema = z.looseObject({ items: z.array(KeySchema), total: z.int() });
export type KeyList = z.infer<typeof KeyListSchema>;
