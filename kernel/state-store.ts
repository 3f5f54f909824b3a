// TaskStateStore: task state records in a KV bucket, one key per task id. Writes are
// compare-and-set on the key's revision, so a worker finishing a task can never overwrite a
// cancel that landed in between, and two writers never silently lose each other's change.
import { JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import { isLiveEntry } from "./kv-live.js";
import { scanKv } from "./kv-scan.js";
import { TOPOLOGY } from "./topology.js";
import { isTerminal, type TaskRecord } from "./task.js";
import { PublishRejected, type StreamPublisher } from "./stream-publisher.js";

export class StaleRevisionError extends Error {
  constructor(id: string) {
    super(`task ${id} changed concurrently`);
    this.name = "StaleRevisionError";
  }
}

export interface StoredTask {
  record: TaskRecord;
  revision: number;
}

// JetStream's "wrong last sequence" (10071) and KV's "key exists" both mean: someone else wrote first.
export const isConflict = (err: unknown) =>
  (err instanceof PublishRejected && err.code === 10071) ||
  (err instanceof JetStreamApiError && (err.code === 10071 || /wrong last sequence/i.test(err.message)));


export class TaskStateStore {
  constructor(
    private readonly publisher: StreamPublisher,
    private readonly kv: KV,
    /** Finished tasks expire after this long; queued and running ones never do. */
    private readonly finishedTtlSeconds: number,
    /** For `list()`: direct gets on the bucket's stream. */
    private readonly jsm: JetStreamManager,
  ) {}

  /** Writes the first record of a task; fails with StaleRevisionError if the id exists. */
  async create(record: TaskRecord): Promise<number> {
    try {
      return await this.write(record, 0);
    } catch (err) {
      if (!(err instanceof StaleRevisionError)) throw err;
      // An expired record leaves a delete marker for a while: writing over it is still a create.
      const entry = await this.kv.get(record.id);
      if (entry && !isLiveEntry(entry)) return this.write(record, entry.revision);
      throw err;
    }
  }

  /**
   * The task's record; "gone" when the key's last word is a delete or expiry marker (the task had a
   * record, so it is not waiting: it started or ended, and its record was removed); null if it never
   * had one (or the marker itself has expired).
   */
  async lookup(id: string): Promise<StoredTask | "gone" | null> {
    const entry = await this.kv.get(id);
    if (!entry) return null;
    return isLiveEntry(entry) ? decodeEntry(entry) : "gone";
  }

  /** The task's record, or null if there is none: never written, deleted, or expired (a marker). */
  async get(id: string): Promise<StoredTask | null> {
    const found = await this.lookup(id);
    return found === "gone" ? null : found;
  }

  /**
   * Writes a record if the key is still at `expectedRevision` (0: if there is no record yet).
   * Published straight to the bucket's subject (which is what kv.put does) so that terminal records
   * can carry a per-message TTL.
   */
  async write(record: TaskRecord, expectedRevision: number): Promise<number> {
    try {
      const ack = await this.publisher.publish(`$KV.${TOPOLOGY.stateBucket}.${record.id}`, JSON.stringify(record), {
        expectLastSubjectSequence: expectedRevision,
        ...(isTerminal(record.status) ? { ttl: `${this.finishedTtlSeconds}s` } : {}),
      });
      return ack.seq;
    } catch (err) {
      if (isConflict(err)) throw new StaleRevisionError(record.id);
      throw err;
    }
  }

  /**
   * Read-modify-write with retries on conflict. `change` sees the current record and returns the
   * next one, or null to leave it as it is (for instance because the task already ended).
   */
  async update(id: string, change: (current: TaskRecord) => TaskRecord | null, attempts = 10): Promise<StoredTask | null> {
    for (let i = 0; i < attempts; i++) {
      const current = await this.get(id);
      if (!current) return null;
      const next = change(current.record);
      if (!next) return current;
      try {
        return { record: next, revision: await this.write(next, current.revision) };
      } catch (err) {
        if (!(err instanceof StaleRevisionError)) throw err;
      }
    }
    throw new StaleRevisionError(id);
  }

  /**
   * All current records: a snapshot scan of the bucket with direct gets, which (unlike a watch)
   * leaves no consumer behind on the server; fine for the bounded set the TTL leaves.
   */
  async list(): Promise<TaskRecord[]> {
    return (await scanKv(this.jsm, TOPOLOGY.stateBucket)).map((e) => e.json<TaskRecord>());
  }
}

export function decodeEntry(entry: KvEntry): StoredTask {
  return { record: entry.json<TaskRecord>(), revision: entry.revision };
}
