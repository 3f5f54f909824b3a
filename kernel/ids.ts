// What a jetq id looks like. Tasks, books, sources, quizzes and dead letters are all named by
// UUIDs (written lower-case); anything else names nothing. Checked before an id goes near a NATS
// subject or KV key, where `*` or `>` would match every entry — in paths and payloads alike.
import { z } from "zod";

// No /i flag: z.toJSONSchema drops flags, and the OpenAPI document must accept what the server does.
export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const isJetqId = (id: string): boolean => UUID_PATTERN.test(id);

/** A payload field holding a jetq id: a UUID, stored lower-case as jetq writes them. */
export const jetqId = (what: string) =>
  z
    .string()
    .regex(UUID_PATTERN, `${what} ids are UUIDs`)
    .transform((id) => id.toLowerCase());
