// Keeps the queued index whole. NATS holds the index in memory, so a NATS restart (of a one-node
// server) drops it; its contents can be derived from the work stream, whose messages are the queued
// records with the task id in a header (Nats-Msg-Id, or Jetq-Task-Id for a replay). The API runs a
// keeper: every few seconds it looks for the index's COMPLETE_KEY, and when that is missing it
// makes the bucket again if need be, indexes every waiting message of the work stream, then writes
// COMPLETE_KEY. This is also how a store written by a version with the file-stored index is
// migrated: the new bucket starts without COMPLETE_KEY.
//
// Safe alongside live traffic: entries are written create-only, so a create's own entry or a
// worker's delete marker written meanwhile wins; a message whose task has a state record already
// is in a worker's hands and gets no entry. Replicas take a lock (a key with a TTL) so that one
// rebuilds at a time.
import { JetStreamApiError, type StoredMsg } from "@nats-io/jetstream";
import type { JetqConnection } from "./connection.js";
import { getMany, isNoMessage, kvStream } from "./kv-scan.js";
import { isKvMarker } from "./kv-live.js";
import type { Logger } from "./logger.js";
import { BATCH_KEY_PREFIX, BATCH_MAX_SEQ_HEADER, batchValueOf, readBatch } from "./index-batches.js";
import { entryValue, queuedEntryOf } from "./queued-entry.js";
import { COMPLETE_KEY, queuedIndexSubject, REBUILD_LOCK_KEY } from "./queued-index.js";
import { isConflict } from "./state-store.js";
import { ensureQueuedIndexBucket, TOPOLOGY, workMessageTaskId } from "./topology.js";

export interface QueuedIndexKeeperOptions {
  /** How often to look for COMPLETE_KEY (one direct get), and to compact. Default 2 s. */
  checkEveryMs?: number;
  /**
   * A batch this old that still names a task on the work stream is thinned: its tasks that have a
   * state record (they started) are dropped from it. Default 60 s.
   */
  thinAfterMs?: number;
  logger?: Logger;
  /** Names the lock's holder; default the connection's name and pid. */
  owner?: string;
}

export interface CompactOutcome {
  /** Batches and entries removed whole. */
  removed: number;
  /** Batches written again without their started tasks. */
  thinned: number;
  /** Index messages read. */
  read: number;
}

/**
 * Index bytes read per compaction at most: a deep backlog's index is gone through a slice at a
 * time, and the API's event loop (which parses what it reads) is never held for long.
 */
const COMPACT_BYTES = 1024 * 1024;
/** Batches whose last thinning look is remembered (so each is looked at once per thinAfterMs). */
const THIN_LOOKS_KEPT = 100_000;

export type CheckOutcome = { outcome: "complete" } | { outcome: "rebuilt"; entries: number; skipped: number; ms: number } | { outcome: "busy" } | { outcome: "failed"; error: string };

/** Messages read per batched direct get while rebuilding. */
const BATCH = 512;
/** Index writes in flight while rebuilding (about four batches). */
const WRITES_IN_FLIGHT = 2048;
const LOCK_TTL_SECONDS = 30;
const LOCK_RENEW_MS = 10_000;
/** The work stream's subjects of today's layout (the legacy layout's are found by subject). */
const WORK_SUBJECTS = "jetq.tasks.*.*";

export class QueuedIndexKeeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<CheckOutcome> | null = null;
  private compacting: Promise<CompactOutcome> | null = null;
  /** Where the next compaction goes on reading the index (it wraps around at the end). */
  private cursor = 0;
  /** When each batch was last looked up in the state bucket to be thinned (index sequence → ms). */
  private readonly thinLooks = new Map<number, number>();
  private readonly owner: string;

  constructor(
    private readonly conn: JetqConnection,
    private readonly opts: QueuedIndexKeeperOptions = {},
  ) {
    this.owner = opts.owner ?? `${conn.nc.info?.client_id ?? "client"}-${process.pid}`;
  }

  /** Checks (and rebuilds if needed) now, then every checkEveryMs; resolves after the first check. */
  async start(): Promise<CheckOutcome> {
    const first = await this.check();
    const every = this.opts.checkEveryMs ?? 2_000;
    const tick = () => {
      this.timer = setTimeout(() => void this.checkAndCompact().then(() => this.timer && tick()), every);
      this.timer.unref();
    };
    tick();
    return first;
  }

  /** A check, then a compaction once the index is complete. Never throws. */
  private async checkAndCompact(): Promise<void> {
    if ((await this.check()).outcome !== "complete") return;
    await this.compact().catch((err: unknown) => this.opts.logger?.debug("queued index not compacted", { error: String(err) }));
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** One look; a rebuild when the index is not complete. Never throws. */
  check(): Promise<CheckOutcome> {
    if (this.conn.nc.isClosed()) {
      this.stop(); // the connection's owner has closed it: nothing left to keep
      return Promise.resolve({ outcome: "failed", error: "connection closed" });
    }
    this.running ??= this.checkOnce().finally(() => (this.running = null));
    return this.running;
  }

  private async checkOnce(): Promise<CheckOutcome> {
    if (!this.conn.connected) return { outcome: "failed", error: "not connected to NATS" };
    try {
      if (await this.conn.queued.complete()) return { outcome: "complete" };
      await ensureQueuedIndexBucket(this.conn.nc, this.conn.jsm, this.conn.topology.replicas);
      if (await this.conn.queued.complete()) return { outcome: "complete" };
      if (!(await this.lock())) return { outcome: "busy" };
      const renew = setInterval(() => void this.renewLock(), LOCK_RENEW_MS);
      try {
        const t0 = performance.now();
        const counts = await this.rebuild();
        await this.conn.publisher.publish(queuedIndexSubject(COMPLETE_KEY), JSON.stringify({ at: new Date().toISOString(), entries: counts.entries, by: this.owner }));
        const ms = Math.round(performance.now() - t0);
        this.opts.logger?.info("queued index rebuilt from the work stream", { ...counts, ms });
        await this.dropLegacyBucket();
        return { outcome: "rebuilt", ...counts, ms };
      } finally {
        clearInterval(renew);
        this.conn.queued.forget(REBUILD_LOCK_KEY);
      }
    } catch (err) {
      const error = String((err as Error).message ?? err);
      this.opts.logger?.warn("queued index check failed; lookups of waiting tasks answer 503 until it is rebuilt", { error });
      return { outcome: "failed", error };
    }
  }

  /**
   * Removes what no longer names a waiting task, reading up to COMPACT_BYTES of the index from
   * where the last compaction stopped. Nothing removes single batched entries on the hot path
   * (index-batches.ts), so this is what keeps the index about as large as the queue:
   *  - a batch or entry whose every task sits below the work stream's first sequence is removed
   *    (those messages have all left the stream);
   *  - a batch older than thinAfterMs is thinned: its tasks with a state record (they started, so
   *    lookups find them there) are dropped, and it is removed when none is left. This is what
   *    frees the batches behind one task that waits for hours.
   * Replicas may compact at once: removals are of what no lookup needs, rewrites compare-and-set.
   */
  compact(): Promise<CompactOutcome> {
    this.compacting ??= this.compactOnce().finally(() => (this.compacting = null));
    return this.compacting;
  }

  private async compactOnce(): Promise<CompactOutcome> {
    const jsm = this.conn.jsm;
    const work = (await jsm.streams.info(TOPOLOGY.tasksStream)).state;
    const floor = work.messages === 0 ? work.last_seq + 1 : work.first_seq; // every task message below it is gone
    const stream = kvStream(TOPOLOGY.queuedBucket);
    const index = (await jsm.streams.info(stream)).state;
    const outcome: CompactOutcome = { removed: 0, thinned: 0, read: 0 };
    if (index.messages === 0) return outcome;
    const thinAfterMs = this.opts.thinAfterMs ?? 60_000;
    const prefix = queuedIndexSubject("");
    let seq = this.cursor >= index.first_seq && this.cursor <= index.last_seq ? this.cursor : index.first_seq;
    let bytes = 0;
    while (bytes < COMPACT_BYTES && seq <= index.last_seq) {
      const msgs: StoredMsg[] = [];
      try {
        for await (const m of await jsm.direct.getBatch(stream, { seq, batch: 64, max_bytes: 1024 * 1024 })) msgs.push(m);
      } catch (err) {
        if (isNoMessage(err)) break;
        throw err;
      }
      if (msgs.length === 0) break;
      seq = msgs[msgs.length - 1]!.seq + 1;
      for (const m of msgs) {
        bytes += m.data.byteLength;
        outcome.read++;
        const key = m.subject.slice(prefix.length);
        if (isKvMarker(m) || key.startsWith("_")) continue;
        const batched = key.startsWith(BATCH_KEY_PREFIX);
        const maxSeq = Number(m.header?.get(BATCH_MAX_SEQ_HEADER) || NaN);
        const remove = async () => {
          await jsm.streams.purge(stream, { filter: m.subject });
          outcome.removed++;
        };
        // Every task in it has left the work stream: gone, without reading it.
        if (batched && maxSeq < floor) {
          await remove();
          continue;
        }
        const lookedAt = this.thinLooks.get(m.seq);
        const old = Date.now() - m.time.getTime() > thinAfterMs && (lookedAt === undefined || Date.now() - lookedAt > thinAfterMs);
        // Its tasks may all be waiting still: read once it is old (one without the header, now).
        if (batched && !old && maxSeq >= 0) continue;
        const entries = batched ? readBatch(m.data) : { [key]: { seq: ownEntrySeq(m, key) } };
        const ids = Object.keys(entries);
        let waiting = ids.filter((id) => (entries[id]?.seq ?? 0) >= floor);
        if (waiting.length > 0 && old) {
          // A record, or the marker of one removed or expired: either way the task is not waiting.
          const started = await getMany(jsm, TOPOLOGY.stateBucket, waiting, { markers: true });
          waiting = waiting.filter((id) => !started.has(id));
          this.rememberThinLook(m.seq);
        }
        await new Promise((r) => setImmediate(r)); // a batch parsed: let requests in between
        if (waiting.length === 0) {
          await remove();
        } else if (waiting.length < ids.length && old && batched) {
          const value = batchValueOf(entries, waiting);
          const maxWaiting = String(Math.max(...waiting.map((id) => entries[id]!.seq)));
          const rewritten = await this.conn.publisher.publish(m.subject, value, { expectLastSubjectSequence: m.seq, headers: { [BATCH_MAX_SEQ_HEADER]: maxWaiting } }).then(
            () => true,
            (err: unknown) => {
              if (isConflict(err)) return false; // changed meanwhile: the next pass looks again
              throw err;
            },
          );
          if (rewritten) outcome.thinned++;
        }
      }
    }
    this.cursor = seq > index.last_seq ? 0 : seq;
    return outcome;
  }

  private rememberThinLook(seq: number) {
    this.thinLooks.set(seq, Date.now());
    if (this.thinLooks.size > THIN_LOOKS_KEPT) this.thinLooks.delete(this.thinLooks.keys().next().value!);
  }

  /** Claims the rebuild lock: create-only, or over an expired holder's marker. */
  private async lock(): Promise<boolean> {
    const subject = queuedIndexSubject(REBUILD_LOCK_KEY);
    const opts = (last: number) => ({ expectLastSubjectSequence: last, ttl: `${LOCK_TTL_SECONDS}s` });
    try {
      await this.conn.publisher.publish(subject, this.owner, opts(0));
      return true;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    const held = await this.conn.jsm.direct.getMessage(kvStream(TOPOLOGY.queuedBucket), { last_by_subj: subject }).catch((err: unknown) => {
      if (isNoMessage(err)) return null;
      throw err;
    });
    if (held && !isKvMarker(held)) return false;
    try {
      await this.conn.publisher.publish(subject, this.owner, opts(held?.seq ?? 0));
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private async renewLock() {
    await this.conn.publisher.publish(queuedIndexSubject(REBUILD_LOCK_KEY), this.owner, { ttl: `${LOCK_TTL_SECONDS}s` }).catch(() => undefined);
  }

  /** Indexes every message of today's layout on the work stream up to its end when we started. */
  private async rebuild(): Promise<{ entries: number; skipped: number }> {
    const { state } = await this.conn.jsm.streams.info(TOPOLOGY.tasksStream);
    const last = state.last_seq;
    let seq = Math.max(1, state.first_seq);
    let entries = 0;
    let skipped = 0;
    const pending: Promise<"written" | "there">[] = [];
    const settle = async (writes: Promise<"written" | "there">[]) => (await Promise.all(writes)).filter((w) => w === "written").length;
    while (seq <= last) {
      const batch: StoredMsg[] = [];
      try {
        for await (const m of await this.conn.jsm.direct.getBatch(TOPOLOGY.tasksStream, { seq, batch: BATCH, next_by_subj: WORK_SUBJECTS })) {
          if (m.seq <= last) batch.push(m);
        }
      } catch (err) {
        if (isNoMessage(err)) break;
        throw err;
      }
      if (batch.length === 0) break;
      seq = batch[batch.length - 1]!.seq + 1;
      const waiting = batch.map((m) => ({ m, id: workMessageTaskId(m.header) })).filter((w) => w.id);
      // A task with a state record is running, retrying or ended: only waiting ones get an entry.
      const withState = await getMany(this.conn.jsm, TOPOLOGY.stateBucket, waiting.map((w) => w.id));
      const writes = waiting
        .filter((w) => !withState.has(w.id))
        .map(({ m, id }) =>
          this.conn.publisher
            .publish(queuedIndexSubject(id), entryValue(m.seq, m.string()), { expectLastSubjectSequence: 0 })
            .then(() => "written" as const)
            .catch((err: unknown) => {
              if (isConflict(err)) return "there" as const; // its create (or a worker's marker) came first
              throw err;
            }),
        );
      // Writes stay in flight while the next batch is read; a few batches' worth at most.
      pending.push(...writes);
      skipped += batch.length - writes.length;
      if (pending.length >= WRITES_IN_FLIGHT) entries += await settle(pending.splice(0));
    }
    entries += await settle(pending);
    return { entries, skipped };
  }

  /** The file-stored index of earlier versions, superseded once this one is complete. */
  private async dropLegacyBucket() {
    try {
      await this.conn.jsm.streams.delete(kvStream(TOPOLOGY.legacyQueuedBucket));
      this.opts.logger?.info("removed the file-stored queued index of an earlier version", { bucket: TOPOLOGY.legacyQueuedBucket });
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.status === 404)) throw err;
    }
  }
}

/** A per-task entry's sequence (0 when unreadable, so it counts as gone). */
function ownEntrySeq(m: StoredMsg, taskId: string): number {
  try {
    return queuedEntryOf(m.json(), taskId)?.seq ?? 0;
  } catch {
    return 0;
  }
}
