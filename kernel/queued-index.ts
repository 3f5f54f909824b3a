// QueuedIndex: queued tasks by id. Work subjects carry no task id (topology.ts), so a task that no
// worker has taken yet, and so has no state record, is found through this bucket: task id → its
// queued record and work-stream sequence, one direct get whatever the depth of the queue (the
// record is kept here too because a random read of the work stream at a million messages costs a
// block load of its own). The producer writes the entry right after its publish is acknowledged; the
// first state write of the task (a worker taking it, a cancel) removes it, with a delete marker
// that expires by itself, so the bucket holds about one small entry per waiting task.
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { isLiveEntry } from "./kv-live.js";
import { isNoMessage } from "./kv-scan.js";
import { isConflict } from "./state-store.js";
import type { ConfirmOptions, StreamPublisher } from "./stream-publisher.js";
import type { TaskRecord } from "./task.js";
import { TASK_ID_HEADER, TOPOLOGY } from "./topology.js";

const subjectOf = (taskId: string) => `$KV.${TOPOLOGY.queuedBucket}.${taskId}`;

export class QueuedIndex {
  constructor(
    private readonly nc: NatsConnection,
    private readonly publisher: StreamPublisher,
    private readonly kv: KV,
  ) {}

  /**
   * Records where a task's message is, unless the subject has been written already: a worker that
   * took the task at once may have removed the entry before it was made (its delete marker is
   * there), and the entry must not come back after it.
   */
  async put(taskId: string, streamSeq: number, recordJson: string, confirm?: ConfirmOptions): Promise<void> {
    const opts = { expectLastSubjectSequence: 0 };
    const value = `{"seq":${streamSeq},"task":${recordJson}}`;
    try {
      if (confirm) await this.publisher.publishConfirmed(subjectOf(taskId), value, opts, confirm);
      else await this.publisher.publish(subjectOf(taskId), value, opts);
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }

  /** A waiting task's queued record and its work-stream sequence, or null. */
  async entry(taskId: string): Promise<{ seq: number; record: TaskRecord } | null> {
    const entry = await this.kv.get(taskId);
    if (!isLiveEntry(entry)) return null;
    try {
      const { seq, task } = entry.json<{ seq: number; task: TaskRecord }>();
      return Number.isSafeInteger(seq) && seq > 0 && task?.id === taskId ? { seq, record: task } : null;
    } catch {
      return null;
    }
  }

  /** The work-stream sequence of a task that is (or was) waiting, or null. */
  async seqOf(taskId: string): Promise<number | null> {
    return (await this.entry(taskId))?.seq ?? null;
  }

  /**
   * Removes the entry once the task has a state record: a delete marker that expires by itself,
   * sent without asking for an acknowledgement (the hot path neither waits for it nor pays for
   * the reply). A lost one leaves an entry that lookups pass over (the state record is read first).
   */
  forget(taskId: string): void {
    const h = headers();
    h.set("KV-Operation", "DEL");
    h.set("Nats-TTL", `${MARKER_TTL_SECONDS}s`);
    try {
      this.nc.publish(subjectOf(taskId), "", { headers: h });
    } catch {
      // closed or draining: the entry stays until the task's next write, harmless
    }
  }
}

/** Delete markers of the queued index vanish after this long. */
const MARKER_TTL_SECONDS = 60;

/** The work message at `seq` if it exists and belongs to `taskId` (sequences are never reused). */
export async function workMessageAt(jsm: JetStreamManager, seq: number, taskId: string): Promise<StoredMsg | null> {
  try {
    const msg = await jsm.direct.getMessage(TOPOLOGY.tasksStream, { seq });
    if (!msg) return null;
    const id = msg.header.get(TASK_ID_HEADER) || msg.json<{ id?: string }>().id;
    return id === taskId ? msg : null;
  } catch (err) {
    if (isNoMessage(err)) return null;
    throw err;
  }
}
