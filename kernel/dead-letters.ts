// The dead-letter queue: one message per dead task on `jetq.dlq.<type>.<taskId>`, holding the
// task, its last error and how it died. Entries are written by the worker's deadLetterMover
// (from advisories) and inspected, replayed or discarded here.
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { JetqConnection } from "./connection.js";
import { ConflictError, notFound, type TaskError } from "./errors.js";
import { StaleRevisionError } from "./state-store.js";
import { tenantOf, type TaskMessage, type TaskRecord } from "./task.js";
import type { TaskQueue } from "./task-queue.js";
import { Refusal, transition, type TaskEvent } from "./transitions.js";
import { dlqSubject, TOPOLOGY, type Lane } from "./topology.js";

export type DeathReason = "max_deliveries" | "terminated";

export interface DeadLetter {
  task: TaskMessage;
  error: TaskError;
  attempts: number;
  reason: DeathReason;
  deadLetteredAt: string;
  /** Where the task lived on the work stream when it died. */
  subject: string;
  streamSeq: number;
}

export interface DeadLetterFilter {
  type?: string;
  /** Only this tenant's entries (the tenant of the task they hold); absent: every tenant's. */
  tenant?: string;
}

/** Whose entries a single-entry call may touch: one tenant's, or every tenant's when absent. */
export interface DeadLetterScope {
  tenant?: string;
}

const inScope = (e: DeadLetter, scope: DeadLetterScope) => scope.tenant === undefined || tenantOf(e.task) === scope.tenant;

export class DeadLetterQueue {
  constructor(
    private readonly conn: JetqConnection,
    private readonly queue: TaskQueue,
  ) {}

  /** Adds (or replaces) a task's entry. The msgID makes a repeated advisory a no-op. */
  async add(entry: DeadLetter): Promise<void> {
    const h = natsHeaders();
    h.set("Jetq-Task-Id", entry.task.id);
    h.set("Jetq-Death-Reason", entry.reason);
    await this.conn.js.publish(dlqSubject(entry.task.type, entry.task.id), JSON.stringify(entry), {
      msgID: `dlq.${entry.task.id}.${entry.streamSeq}`,
      headers: h,
    });
  }

  async count(filter: DeadLetterFilter = {}): Promise<number> {
    if (filter.tenant !== undefined) return (await this.entries(filter)).length; // the tenant is in the entry, not its subject
    return (await this.subjects(filter)).length;
  }

  /** Entries, most recently dead first. */
  async list(filter: DeadLetterFilter & { limit: number; offset: number }): Promise<{ items: DeadLetter[]; total: number }> {
    const all = await this.entries(filter);
    return { items: all.slice(filter.offset, filter.offset + filter.limit), total: all.length };
  }

  /** An entry in `scope`: another tenant's is a 404 like a missing one. */
  async get(taskId: string, scope: DeadLetterScope = {}): Promise<DeadLetter> {
    return (await this.find(taskId, scope)).entry;
  }

  private async find(taskId: string, scope: DeadLetterScope = {}): Promise<{ entry: DeadLetter; seq: number }> {
    const msg = await this.conn.jsm.direct.getMessage(TOPOLOGY.dlqStream, { next_by_subj: `jetq.dlq.*.${taskId}`, seq: 1 }).catch(() => null);
    const entry = msg?.json<DeadLetter>();
    if (!msg || !entry || !inScope(entry, scope)) throw notFound("dead-lettered task", taskId);
    return { entry, seq: msg.seq };
  }

  /**
   * Queues a dead task again with fresh attempts, under a new Nats-Msg-Id so dedupe lets it
   * through, then removes its old entry. Published before removal: a crash in between leaves a
   * stale entry, never a lost task. Removal is by sequence, so if the replay already died again
   * and has a new entry, that one stays.
   */
  async retry(taskId: string, scope: DeadLetterScope = {}): Promise<TaskRecord> {
    const { entry, seq } = await this.find(taskId, scope);
    // A replay puts the task back among its tenant's unfinished ones: refused over the quota like a
    // create, before anything changes; a replay that fails gives its place back.
    const tenant = tenantOf(entry.task);
    const lane = await this.queue.admit(tenant);
    try {
      return await this.replay(taskId, entry, seq, lane);
    } catch (err) {
      this.queue.release(tenant);
      throw err;
    }
  }

  private async replay(taskId: string, entry: DeadLetter, seq: number, lane: Lane): Promise<TaskRecord> {
    const replay: TaskEvent = { kind: "replay", at: new Date().toISOString() };
    let stored = await this.conn.state.update(taskId, (r) => {
      const next = transition(r, replay);
      if (next instanceof Refusal) throw new ConflictError("conflict", `task ${taskId} is ${r.status}, not failed`);
      return next;
    });
    if (!stored) {
      // Its state record already expired: the dead-letter entry has all we need.
      const record = transition(null, replay, entry.task);
      try {
        stored = { record, revision: await this.conn.state.create(record) };
      } catch (err) {
        if (err instanceof StaleRevisionError) throw new ConflictError("conflict", `task ${taskId} is being retried already`);
        throw err;
      }
    }
    // The message id must be new for every replay: the count restarts when the record expired, and
    // the stream would drop a second `replay-1` within its dedupe window. The entry's own sequence
    // in the dead-letter stream is unique.
    await this.queue.publish(stored.record, stored.revision, `${taskId}.replay-${seq}`, lane);
    await this.conn.jsm.streams.deleteMessage(TOPOLOGY.dlqStream, seq, false).catch(() => undefined);
    return stored.record;
  }

  /** Discards an entry; its state record stays `failed` until it expires. */
  async delete(taskId: string, scope: DeadLetterScope = {}): Promise<void> {
    await this.get(taskId, scope);
    await this.remove(taskId);
  }

  async retryMany(filter: DeadLetterFilter): Promise<{ retried: string[]; errors: { id: string; message: string }[] }> {
    const retried: string[] = [];
    const errors: { id: string; message: string }[] = [];
    const ids = filter.tenant !== undefined ? (await this.entries(filter)).map((e) => e.task.id) : (await this.subjects(filter)).map((s) => s.split(".")[3]!);
    for (const id of ids) {
      try {
        await this.retry(id);
        retried.push(id);
      } catch (err) {
        errors.push({ id, message: (err as Error).message });
      }
    }
    return { retried, errors };
  }

  async deleteMany(filter: DeadLetterFilter): Promise<{ deleted: number }> {
    if (filter.tenant !== undefined) {
      // Subjects do not name the tenant: one tenant's entries are removed one by one.
      const mine = await this.entries(filter);
      for (const e of mine) await this.remove(e.task.id);
      return { deleted: mine.length };
    }
    const res = await this.conn.jsm.streams.purge(TOPOLOGY.dlqStream, { filter: filter.type ? `jetq.dlq.${filter.type}.*` : "jetq.dlq.>" });
    return { deleted: res.purged };
  }

  private async remove(taskId: string) {
    await this.conn.jsm.streams.purge(TOPOLOGY.dlqStream, { filter: `jetq.dlq.*.${taskId}` });
  }

  private async subjects(filter: DeadLetterFilter): Promise<string[]> {
    const info = await this.conn.jsm.streams.info(TOPOLOGY.dlqStream, { subjects_filter: filter.type ? `jetq.dlq.${filter.type}.*` : "jetq.dlq.>" });
    return Object.keys(info.state.subjects ?? {});
  }

  private async entries(filter: DeadLetterFilter): Promise<DeadLetter[]> {
    const subjects = await this.subjects(filter);
    const out: DeadLetter[] = [];
    // Direct gets in bounded parallel batches: the DLQ is small by nature.
    for (let i = 0; i < subjects.length; i += 64) {
      const batch = await Promise.all(
        subjects.slice(i, i + 64).map((s) => this.conn.jsm.direct.getMessage(TOPOLOGY.dlqStream, { last_by_subj: s }).catch(() => null)),
      );
      for (const m of batch) {
        const e = m?.json<DeadLetter>();
        if (e && inScope(e, filter)) out.push(e);
      }
    }
    return out.sort((a, b) => (a.deadLetteredAt < b.deadLetteredAt ? 1 : -1));
  }
}
