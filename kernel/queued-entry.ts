// One entry of the queued index, as stored on its own (`<task id>`) and as a member of a batch
// (index-batches.ts): the task's work-stream sequence and, when small, its queued record. One
// encoding and one check for both, so the two kinds can never drift apart.
import type { TaskRecord } from "./task.js";

/**
 * Records up to this size are kept in the entry; a larger one is read from the work stream by its
 * sequence instead (a slower lookup, but the bucket's memory stays about 1 KiB per waiting task
 * whatever the payloads).
 */
export const INLINE_RECORD_BYTES = 1024;

/** What an entry says: where the task's message is, and its record when it was small enough. */
export interface QueuedEntry {
  seq: number;
  record?: TaskRecord;
}

/**
 * An entry's JSON: its sequence, and its record if that fits. Takes the record as the bytes already
 * encoded for its work message, so a create encodes it once.
 */
export function entryValue(streamSeq: number, record: Uint8Array | string): Uint8Array {
  return Buffer.concat(entryParts(streamSeq, typeof record === "string" ? Buffer.from(record) : record));
}

/** entryValue() in parts, after `lead` (a batch member's key): a batch concatenates all its members' parts once. */
export function entryParts(streamSeq: number, record: Uint8Array, lead = ""): Uint8Array[] {
  if (record.byteLength > INLINE_RECORD_BYTES) return [Buffer.from(`${lead}{"seq":${streamSeq}}`)];
  return [Buffer.from(`${lead}{"seq":${streamSeq},"task":`), record, CLOSING_BRACE];
}
const CLOSING_BRACE = Buffer.from("}");

/** The entry `raw` (parsed JSON) if it is one for `taskId`: a valid sequence, and the task's own record if any. */
export function queuedEntryOf(raw: unknown, taskId: string): QueuedEntry | null {
  const { seq, task } = (raw ?? {}) as { seq?: unknown; task?: TaskRecord | null };
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq <= 0) return null;
  if (task === undefined) return { seq };
  return task?.id === taskId ? { seq, record: task } : null;
}
