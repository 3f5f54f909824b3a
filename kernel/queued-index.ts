// QueuedIndex: queued tasks by id. Work subjects carry no task id (topology.ts), so a task that no
// worker has taken yet, and so has no state record, is found through this bucket: task id → its
// work-stream sequence and (when small) its queued record, one direct get whatever the depth of
// the queue. The tasks a process creates together share one entry, `batch.<key>`, whose key their
// ids carry (index-batches.ts): written once their publishes are acknowledged, just after those
// creates have answered (this process finds them meanwhile, and another one waits a moment for a
// batch that recent), and removed a batch at a time by the keeper's compaction once its tasks have
// left the work stream or started. Tasks of earlier versions (random UUIDs), and the rare create
// whose batch could not be stored, have an entry of their own, which the first state write of the
// task (a worker taking it, a cancel) removes with a delete marker that expires by itself. An
// entry NATS did not confirm is written again in the background.
//
// The bucket is held in memory by NATS: at a million entries a file-stored bucket answered a cold
// lookup in 140 ms at p99 (each one loads a 4 MB block), a memory-stored one in 8 ms. Everything in
// it can be derived from the work stream, so when it is lost (a NATS restart) it is rebuilt from
// there (queued-index-keeper.ts). The key COMPLETE_KEY says it covers the whole work stream: until
// it is there, a task that is neither in the index nor in the state bucket may still be waiting,
// and a lookup says "try again" rather than "not found".
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { BATCH_KEY_PREFIX, BATCH_MAX_SEQ_HEADER, batchAgeMs, batchEntry, batchKeyOf, IndexBatcher, newBatchValue, readBatch, type BatchMember, type BatchSlot } from "./index-batches.js";
import { isLiveEntry } from "./kv-live.js";
import { entryValue, queuedEntryOf, type QueuedEntry } from "./queued-entry.js";
import { isNoMessage } from "./kv-scan.js";
import { isConflict } from "./state-store.js";
import type { ConfirmOptions, StreamPublisher } from "./stream-publisher.js";
import type { TaskRecord } from "./task.js";
import { TOPOLOGY, workMessageTaskId } from "./topology.js";

export const queuedIndexSubject = (key: string) => `$KV.${TOPOLOGY.queuedBucket}.${key}`;

/** Present once the index covers every message of the work stream (task ids never start with "_"). */
export const COMPLETE_KEY = "_complete";
/** Held (with a TTL) by the process rebuilding the index, so replicas do not all rebuild at once. */
export const REBUILD_LOCK_KEY = "_rebuilding";

/** How often entries NATS did not confirm are sent again, and for how long at most. */
const RETRY_EVERY_MS = 1_000;
const RETRY_FOR_MS = 10 * 60_000;
/**
 * Entries kept for a retry at most (about 1 KiB each), and their records' bytes at most (a record
 * may be up to NATS's max_payload); beyond, a task is found once a worker takes it.
 */
const MAX_UNCONFIRMED = 10_000;
export const MAX_UNCONFIRMED_BYTES = 32 * 1024 * 1024;
const RETRY_CONFIRM: ConfirmOptions = { deadlineMs: 2_000, attemptMs: 1_000 };
/**
 * How long after its batch was opened a lookup from another process waits for the batch to be
 * stored: past the time its creates take to publish (3 s at most) and its write to be confirmed
 * or handed to the fallback (3 s more). Normally the batch is there a few milliseconds after the
 * creates answered.
 */
const RECENT_BATCH_MS = 8_000;
/** Clocks of API replicas may differ by this much: a batch opened "in the future" is a recent one. */
const CLOCK_SKEW_MS = 2_000;
/** The longest pause between two looks for a recent batch. */
const RECENT_POLL_MAX_MS = 1_000;

interface Unconfirmed {
  seq: number;
  record: Uint8Array;
  giveUpAt: number;
}

export class QueuedIndex {
  /**
   * Entries whose write NATS did not confirm (it froze, or the bucket's leader was being elected),
   * sent again in the background; meanwhile this process finds those tasks from here.
   */
  private readonly unconfirmed = new Map<string, Unconfirmed>();
  private unconfirmedBytes = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private retrying = false;
  /** Every delete marker's headers, the same each time: made once (the client encodes them per publish). */
  private readonly markerHeaders = markerHeaders();
  private readonly batcher = new IndexBatcher((key, entries, confirm) => this.writeBatch(key, entries, confirm));

  constructor(
    private readonly nc: NatsConnection,
    private readonly publisher: StreamPublisher,
    private readonly kv: KV,
  ) {}

  /**
   * A new task's id and its place in the batch of entries being gathered (index-batches.ts): say
   * `queued` with the task's sequence once its publish is acknowledged, or `release` it if the task
   * was not queued. Every slot must be one or the other.
   */
  slot(confirm: ConfirmOptions): BatchSlot {
    return this.batcher.slot(confirm);
  }

  /** Resolves once the entries of the creates answered so far are stored (before the connection closes). */
  flush(timeoutMs?: number): Promise<void> {
    return this.batcher.flush(timeoutMs);
  }

  /** Entries of answered creates whose batch is not stored yet (for tests and metrics). */
  get pendingCount(): number {
    return this.batcher.pendingCount;
  }

  /** Stores a batch; when NATS refuses or does not confirm it, each entry on its own instead. Never throws. */
  private async writeBatch(key: string, entries: readonly BatchMember[], confirm: ConfirmOptions): Promise<void> {
    const value = newBatchValue(entries);
    try {
      const maxSeq = String(Math.max(...entries.map((e) => e.seq)));
      await this.publisher.publishConfirmed(queuedIndexSubject(BATCH_KEY_PREFIX + key), value, { expectLastSubjectSequence: 0, headers: { [BATCH_MAX_SEQ_HEADER]: maxSeq } }, confirm);
    } catch {
      await Promise.all(entries.map((e) => this.putOrRetry(e.id, e.seq, e.record, confirm)));
    }
  }

  /**
   * put(), and when NATS does not confirm the write, again in the background until it does (for
   * up to ten minutes). Never throws: the task is queued whatever becomes of its entry.
   */
  async putOrRetry(taskId: string, streamSeq: number, record: Uint8Array, confirm: ConfirmOptions): Promise<void> {
    try {
      await this.put(taskId, streamSeq, record, confirm);
    } catch {
      // Past the bounds the task is found once a worker takes it.
      if (this.unconfirmed.size >= MAX_UNCONFIRMED || this.unconfirmedBytes + record.byteLength > MAX_UNCONFIRMED_BYTES) return;
      if (this.unconfirmed.has(taskId)) return;
      this.unconfirmed.set(taskId, { seq: streamSeq, record, giveUpAt: Date.now() + RETRY_FOR_MS });
      this.unconfirmedBytes += record.byteLength;
      this.retryTimer ??= setInterval(() => void this.retryUnconfirmed(), RETRY_EVERY_MS);
      this.retryTimer.unref();
    }
  }

  private forgetUnconfirmed(taskId: string, u: Unconfirmed) {
    if (this.unconfirmed.delete(taskId)) this.unconfirmedBytes -= u.record.byteLength;
  }

  /** Entries waiting to be written again (for tests and metrics). */
  get unconfirmedCount(): number {
    return this.unconfirmed.size;
  }

  private async retryUnconfirmed(): Promise<void> {
    if (this.retrying) return;
    this.retrying = true;
    try {
      for (const [taskId, u] of this.unconfirmed) {
        if (this.nc.isClosed() || Date.now() > u.giveUpAt) {
          this.forgetUnconfirmed(taskId, u); // the task still runs; it is found once a worker takes it
          continue;
        }
        try {
          await this.put(taskId, u.seq, u.record, RETRY_CONFIRM);
          this.forgetUnconfirmed(taskId, u);
        } catch {
          break; // NATS still does not confirm: try again on the next tick, oldest first
        }
      }
    } finally {
      this.retrying = false;
      if (this.unconfirmed.size === 0 && this.retryTimer) {
        clearInterval(this.retryTimer);
        this.retryTimer = null;
      }
    }
  }

  /**
   * Records where a task's message is, unless the subject has been written already: a worker that
   * took the task at once may have removed the entry before it was made (its delete marker is
   * there), and the entry must not come back after it.
   */
  async put(taskId: string, streamSeq: number, record: Uint8Array | string, confirm?: ConfirmOptions): Promise<void> {
    const opts = { expectLastSubjectSequence: 0 };
    const value = entryValue(streamSeq, record);
    try {
      if (confirm) await this.publisher.publishConfirmed(queuedIndexSubject(taskId), value, opts, confirm);
      else await this.publisher.publish(queuedIndexSubject(taskId), value, opts);
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }

  /** A waiting task's work-stream sequence and (if small) its queued record, or null. */
  async entry(taskId: string): Promise<QueuedEntry | null> {
    return (await this.lookup(taskId)).entry;
  }

  /**
   * entry() for an id whose batch another process opened a moment ago and may not have stored
   * yet (its creates answer before their batch is written, index-batches.ts): looks again, more
   * slowly each time, until the batch is there or is too old to be on its way. Null at once for an
   * id that names no batch, or one written without it.
   */
  async entryOfRecent(taskId: string): Promise<QueuedEntry | null> {
    for (let pause = 5; ; pause = Math.min(pause * 2, RECENT_POLL_MAX_MS)) {
      const left = this.recentFor(taskId);
      if (left <= 0) return null;
      await sleep(Math.min(pause, left));
      const { entry, batchStored } = await this.lookup(taskId);
      if (entry || batchStored) return entry;
    }
  }

  /** Whether the id's batch was opened recently enough to be still on its way (entryOfRecent waits for it). */
  isRecent(taskId: string): boolean {
    return this.recentFor(taskId) > 0;
  }

  /** How much longer the id's batch may still be on its way, in ms (0 or less: it is not, or the id names none). */
  private recentFor(taskId: string): number {
    const key = batchKeyOf(taskId);
    return key === null ? 0 : RECENT_BATCH_MS - batchAgeMs(key, Date.now(), CLOCK_SKEW_MS);
  }

  private async lookup(taskId: string): Promise<{ entry: QueuedEntry | null; batchStored: boolean }> {
    const local = this.unconfirmed.get(taskId) ?? this.batcher.pendingEntry(taskId);
    if (local) return { entry: { seq: local.seq, record: JSON.parse(Buffer.from(local.record).toString()) as TaskRecord }, batchStored: false };
    const key = batchKeyOf(taskId);
    let batchStored = false;
    if (key) {
      const batch = await this.kv.get(BATCH_KEY_PREFIX + key);
      if (isLiveEntry(batch)) {
        batchStored = true;
        const found = queuedEntryOf(batchEntry(batch.value, taskId), taskId) ?? queuedEntryOf(readBatch(batch.value)[taskId], taskId);
        if (found) return { entry: found, batchStored };
      }
      // Not in its batch: an entry of its own (the batch could not be stored, or the index was rebuilt).
    }
    const entry = await this.kv.get(taskId);
    if (!isLiveEntry(entry)) return { entry: null, batchStored };
    try {
      return { entry: queuedEntryOf(entry.json(), taskId), batchStored };
    } catch {
      return { entry: null, batchStored };
    }
  }

  /** The work-stream sequence of a task that is (or was) waiting, or null. */
  async seqOf(taskId: string): Promise<number | null> {
    return (await this.entry(taskId))?.seq ?? null;
  }

  /**
   * Whether the index covers the whole work stream (so a task found in neither it nor the state
   * bucket is not there). False while it is being rebuilt, and when NATS lost it and the rebuild
   * has not started yet.
   */
  async complete(): Promise<boolean> {
    try {
      return isLiveEntry(await this.kv.get(COMPLETE_KEY));
    } catch {
      return false; // the bucket itself is gone until the keeper makes it again
    }
  }

  /**
   * Removes the entry once the task has a state record: a delete marker that expires by itself,
   * sent without asking for an acknowledgement (the hot path neither waits for it nor pays for
   * the reply). A lost one leaves an entry that lookups pass over (the state record is read first).
   */
  forget(taskId: string): void {
    if (batchKeyOf(taskId)) return; // batched: the keeper removes its entries a batch at a time
    try {
      this.nc.publish(queuedIndexSubject(taskId), EMPTY, { headers: this.markerHeaders });
    } catch {
      // closed or draining: the entry stays until the task's next write, harmless
    }
  }
}

/** Delete markers of the queued index vanish after this long. */
const MARKER_TTL_SECONDS = 60;
const EMPTY = new Uint8Array(0);

function markerHeaders() {
  const h = headers();
  h.set("KV-Operation", "DEL");
  h.set("Nats-TTL", `${MARKER_TTL_SECONDS}s`);
  return h;
}

/** The work message at `seq` if it exists and belongs to `taskId` (sequences are never reused). */
export async function workMessageAt(jsm: JetStreamManager, seq: number, taskId: string): Promise<StoredMsg | null> {
  try {
    const msg = await jsm.direct.getMessage(TOPOLOGY.tasksStream, { seq });
    if (!msg) return null;
    const id = workMessageTaskId(msg.header) || msg.json<{ id?: string }>().id;
    return id === taskId ? msg : null;
  } catch (err) {
    if (isNoMessage(err)) return null;
    throw err;
  }
}
