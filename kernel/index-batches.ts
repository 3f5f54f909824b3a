// Batches of the queued index. One index message per task cost the hot path an acknowledged write
// per create and a delete marker per task taken (bench/README.md, "(a) after tenants"), so the
// tasks a process creates at about the same time share one entry: the key `batch.<key>` holds
// every one of their sequences and queued records. A task's id names its batch. It is a version-8
// UUID whose first 15 hex digits are the batch key (shared by up to BATCH_MAX tasks) and whose
// other 62 random bits are the task's own. So a lookup by id is still one direct get, and nothing
// maps ids to batches. A batch key starts with the time its batch was opened (6 hex digits of
// milliseconds, wrapping every 4.7 hours) and ends with 36 random bits: a lookup in another
// process can tell an id minted a moment ago, whose batch may still be on its way, from one that
// names nothing.
//
// The entries are group-committed, off the creates' critical path. The open batch gathers the
// creates started in one turn of the event loop (up to BATCH_MAX); once each of them has its
// publish answered, one write stores the entries of those that were queued. A create answers as
// soon as its own publish is acknowledged (waiting for the batch's write as well cost one process
// publishing alone a second round trip per create, bench/README.md "(a) with the index write after
// the answer"). Until its batch is stored, this process finds the task from the batcher's pending
// entries, and another process waits for the batch when it looks up an id that recent
// (QueuedIndex.entryOfRecent). Nothing removes a single entry. The keeper
// (queued-index-keeper.ts) drops a batch once the work stream no longer holds any of its tasks,
// and thins out older ones whose tasks have started.
import { randomUUID } from "node:crypto";
import { entryParts } from "./queued-entry.js";
import type { ConfirmOptions } from "./stream-publisher.js";

/** Tasks in one batch at most: about 70 KiB with every record inline, far below NATS's max_payload. */
export const BATCH_MAX = 64;
/** KV key prefix of batches; task ids (UUIDs) and the index's own keys ("_…") never start with it. */
export const BATCH_KEY_PREFIX = "batch.";

const BATCH_KEY_DIGITS = 15;
/** The key's leading time: milliseconds modulo 2^24 (about 4.7 hours), as 6 hex digits. */
const TIME_DIGITS = 6;
const TIME_MODULO = 2 ** 24;

// Random digits come from randomUUID(), which draws from a cached pool: a randomBytes() call per
// id cost more CPU than the rest of a create.

/** A fresh batch key: 15 lower-case hex digits, the time (6) then 9 random ones (a v4 UUID's first 9). */
export function newBatchKey(now = Date.now()): string {
  const u = randomUUID();
  return (now % TIME_MODULO).toString(16).padStart(TIME_DIGITS, "0") + u.slice(0, 8) + u.slice(9, 10);
}

/**
 * How long ago batch `key` was opened, by this process's clock (ms, between 0 and 4.7 hours: older
 * keys wrap around). A key from a clock up to `skewMs` ahead of ours counts as just opened.
 */
export function batchAgeMs(key: string, now = Date.now(), skewMs = 0): number {
  const opened = parseInt(key.slice(0, TIME_DIGITS), 16);
  const age = (((now - opened) % TIME_MODULO) + TIME_MODULO) % TIME_MODULO;
  return age > TIME_MODULO - skewMs ? 0 : age;
}

/**
 * A new task id in batch `key`: a version-8 UUID (RFC 9562) that carries the key in its first 15
 * hex digits; its last two groups (the variant, then 62 random bits) are a v4 UUID's.
 */
export function taskIdInBatch(key: string, prefix = batchIdPrefix(key)): string {
  return prefix + randomUUID().slice(18);
}

/** The first 18 characters of every id in batch `key` (the key, the dashes and the version digit). */
const batchIdPrefix = (key: string) => `${key.slice(0, 8)}-${key.slice(8, 12)}-8${key.slice(12, BATCH_KEY_DIGITS)}`;

/** The batch key a task id names, or null for an id that names none (the random UUIDs of earlier versions). */
export function batchKeyOf(taskId: string): string | null {
  if (taskId.length !== 36 || taskId[14] !== "8" || taskId[8] !== "-" || taskId[13] !== "-") return null;
  const key = (taskId.slice(0, 8) + taskId.slice(9, 13) + taskId.slice(15, 18)).toLowerCase();
  return /^[0-9a-f]{15}$/.test(key) ? key : null;
}

/**
 * Header on a batch with the highest work-stream sequence in it: once the work stream's first
 * sequence is past it, the batch can go without being read (queued-index-keeper.ts).
 */
export const BATCH_MAX_SEQ_HEADER = "Jetq-Max-Seq";

/** The entries of a batch: task id → its work-stream sequence and, when small, its queued record. */
export type BatchEntries = Record<string, { seq: number; task?: unknown }>;

/** One entry as a JSON member, built from the record's bytes as the work message carried them. */
export function batchMember(taskId: string, seq: number, record: Uint8Array): Buffer {
  return Buffer.concat(memberParts(taskId, seq, record));
}

/** A batch's stored value holding `ids` of `entries` (as read back), to write it again without the others. */
export function batchValueOf(entries: BatchEntries, ids: string[]): Buffer {
  return batchValue(ids.map((id) => Buffer.from(`${JSON.stringify(id)}:${JSON.stringify(entries[id])}`)));
}

/** A batch's stored value from its members. */
export function batchValue(members: Uint8Array[]): Buffer {
  return Buffer.concat(valueParts(members.map((m) => [m])));
}

/** A new batch's stored value, with one copy of each record (this runs once per 64 creates). */
export function newBatchValue(entries: readonly BatchMember[]): Buffer {
  return Buffer.concat(valueParts(entries.map((e) => memberParts(e.id, e.seq, e.record))));
}

/** A member's parts: its key, then its entry as queued-entry.ts encodes it. */
const memberParts = (taskId: string, seq: number, record: Uint8Array) => entryParts(seq, record, `"${taskId}":`);

function valueParts(members: Uint8Array[][]): Uint8Array[] {
  const parts: Uint8Array[] = [OPEN];
  members.forEach((m, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(...m);
  });
  parts.push(CLOSE_ALL);
  return parts;
}
const OPEN = Buffer.from('{"tasks":{');
const COMMA = Buffer.from(",");
const CLOSE_ALL = Buffer.from("}}");

/** A batch's entries from its stored value; empty when unreadable. */
export function readBatch(value: Uint8Array | string): BatchEntries {
  try {
    const parsed = JSON.parse(typeof value === "string" ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString()) as { tasks?: BatchEntries };
    return parsed.tasks && typeof parsed.tasks === "object" ? parsed.tasks : {};
  } catch {
    return {};
  }
}

/**
 * One task's entry in a batch's stored value, without parsing the other 63: the member is found by
 * its key and cut out where its braces close (JSON strings taken into account). The caller checks
 * that the record found is the task's; a payload that happened to hold the same text would fail
 * that check, and then the whole batch is parsed.
 */
export function batchEntry(value: Uint8Array, taskId: string): { seq: number; task?: unknown } | undefined {
  const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString();
  const at = text.indexOf(`"${taskId}":{"seq":`);
  if (at < 0) return undefined;
  const start = at + taskId.length + 3;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123) depth++;
    else if (c === 125 && --depth === 0) {
      try {
        return JSON.parse(text.slice(start, i + 1)) as { seq: number; task?: unknown };
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** A slot in the open batch: the id to give the task, and how to say what became of it. */
export interface BatchSlot {
  readonly id: string;
  /**
   * Says the task is queued at `seq`. The promise resolves at once, the entry pending until its
   * batch is stored; only when more than MAX_PENDING entries (or MAX_PENDING_BYTES of records)
   * wait for their batches does it resolve once this one is stored (or handed to the fallback), so
   * a NATS slow to store the index slows creates down rather than letting entries pile up in memory.
   */
  queued(seq: number, record: Uint8Array): Promise<void>;
  /** Says the task was not queued after all. Once a slot is queued or released, later calls do nothing. */
  release(): void;
}

/** Entries waiting for their batch's write at most before creates wait for it too (about 1 KiB each)... */
export const MAX_PENDING = 16_384;
/** ...and their records' bytes at most (records of up to NATS's max_payload, 1 MiB by default). */
export const MAX_PENDING_BYTES = 32 * 1024 * 1024;

/** What a batch's write stores of each task: its id, work-stream sequence and queued record. */
export interface BatchMember {
  readonly id: string;
  readonly seq: number;
  readonly record: Uint8Array;
}

interface OpenBatch {
  key: string;
  /** What every id in the batch starts with (made once per batch, not once per id). */
  idPrefix: string;
  confirm: ConfirmOptions;
  members: number;
  settled: number;
  sealed: boolean;
  entries: Slot[];
  written: Promise<void>;
  resolveWritten: () => void;
}

const RESOLVED = Promise.resolve();
const NO_RECORD = new Uint8Array(0);

/** A slot is also its batch member once queued: one object per create. */
class Slot implements BatchSlot, BatchMember {
  seq = 0;
  record: Uint8Array = NO_RECORD;
  settled = false;

  constructor(
    private readonly batcher: IndexBatcher,
    readonly batch: OpenBatch,
    readonly id: string,
  ) {}

  queued(seq: number, record: Uint8Array): Promise<void> {
    if (this.settled) return RESOLVED;
    this.seq = seq;
    this.record = record;
    return this.batcher.settle(this, true);
  }

  release(): void {
    if (!this.settled) void this.batcher.settle(this, false);
  }
}

/**
 * Gathers one process's creates into batches. `write` stores a batch (and never throws: it falls
 * back to per-task entries when the batch cannot be stored).
 */
export class IndexBatcher {
  private open: OpenBatch | null = null;
  /** Batches holding queued entries not stored yet (being gathered or written), by key. */
  private readonly unwritten = new Map<string, OpenBatch>();
  private pendingEntries = 0;
  private pendingBytes = 0;

  constructor(private readonly write: (key: string, members: readonly BatchMember[], confirm: ConfirmOptions) => Promise<void>) {}

  /** A slot in the open batch (a new one when there is none): every slot must be queued or released. */
  slot(confirm: ConfirmOptions): BatchSlot {
    let batch = this.open;
    if (!batch) {
      let resolveWritten!: () => void;
      const written = new Promise<void>((r) => (resolveWritten = r));
      const key = newBatchKey();
      const opened: OpenBatch = { key, idPrefix: batchIdPrefix(key), confirm, members: 0, settled: 0, sealed: false, entries: [], written, resolveWritten };
      batch = this.open = opened;
      // The creates started in this turn of the event loop share the batch.
      setImmediate(() => this.seal(opened));
    }
    batch.members++;
    if (batch.members >= BATCH_MAX) this.seal(batch);
    return new Slot(this, batch, taskIdInBatch(batch.key, batch.idPrefix));
  }

  /** @internal Slot's: records what became of a slot, and writes its batch once every member has said. */
  settle(slot: Slot, queued: boolean): Promise<void> {
    slot.settled = true;
    const b = slot.batch;
    if (queued) {
      b.entries.push(slot);
      this.pendingEntries++;
      this.pendingBytes += slot.record.byteLength;
      this.unwritten.set(b.key, b);
    }
    b.settled++;
    this.flushIfDone(b);
    return queued && (this.pendingEntries > MAX_PENDING || this.pendingBytes > MAX_PENDING_BYTES) ? b.written : RESOLVED;
  }

  /** A queued task's entry while its batch is not stored yet (this process answered its create). */
  pendingEntry(taskId: string): BatchMember | undefined {
    const key = batchKeyOf(taskId);
    return key === null ? undefined : this.unwritten.get(key)?.entries.find((e) => e.id === taskId);
  }

  /** Entries waiting for their batch's write (for tests and metrics). */
  get pendingCount(): number {
    return this.pendingEntries;
  }

  /**
   * Resolves once every entry settled so far is stored (or handed to the fallback), or after
   * `timeoutMs`: what a process does before it closes its connection, so that the creates it
   * answered last are found by id from any process.
   */
  async flush(timeoutMs = 10_000): Promise<void> {
    const giveUpAt = Date.now() + timeoutMs;
    while (this.unwritten.size > 0 && Date.now() < giveUpAt) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((r) => (timer = setTimeout(r, giveUpAt - Date.now())));
      await Promise.race([Promise.all([...this.unwritten.values()].map((b) => b.written)), timeout]);
      clearTimeout(timer);
    }
  }

  private seal(b: OpenBatch) {
    if (b.sealed) return;
    b.sealed = true;
    if (this.open === b) this.open = null;
    this.flushIfDone(b);
  }

  private flushIfDone(b: OpenBatch) {
    if (!b.sealed || b.settled < b.members) return;
    if (b.entries.length === 0) return b.resolveWritten();
    void this.write(b.key, b.entries, b.confirm).finally(() => {
      this.pendingEntries -= b.entries.length;
      for (const e of b.entries) this.pendingBytes -= e.record.byteLength;
      this.unwritten.delete(b.key);
      b.resolveWritten();
    });
  }
}
