// The dead-letter queue: one message per dead task on `jetq.dlq.<type>.<taskId>[.<tenant>]`
// (topology.ts dlqSubject), holding the task, its last error and how it died. Entries are written
// by the worker's deadLetterMover (from advisories) and inspected, replayed or discarded here.
// Every read is bounded: pages are read from the stream by sequence, newest first, and counts come
// from the server's subject index, so a DLQ of a million entries costs what one of ten does.
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { JetqConnection } from "./connection.js";
import { ConflictError, InvalidRequestError, notFound, type TaskError } from "./errors.js";
import { StaleRevisionError } from "./state-store.js";
import { DEFAULT_TENANT, tenantOf, type TaskMessage, type TaskRecord } from "./task.js";
import type { TaskQueue } from "./task-queue.js";
import { Refusal, transition, type TaskEvent } from "./transitions.js";
import { dlqSubject, TOPOLOGY, type Lane } from "./topology.js";
import { subjectToken } from "./counters.js";
import { isNoMessage, readSubjectRange } from "./kv-scan.js";
import type { JetStreamManager } from "@nats-io/jetstream";

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

export interface DeadLetterPageRequest extends DeadLetterFilter {
  limit: number;
  /** Entries to skip from the newest; each skipped one is read, so go further by cursor. */
  offset?: number;
  /** Where the previous page stopped (its `nextCursor`). */
  cursor?: string;
}

export interface DeadLetterPage {
  items: DeadLetter[];
  /** Entries matching the filter now. */
  total: number;
  /** Give it back as `cursor` for the next (older) page; null at the end. */
  nextCursor: string | null;
}

/** How far `offset` reaches in the DLQ listing: each skipped entry is read. */
export const DLQ_OFFSET_MAX = 10_000;
/** Messages one page request reads at most; a page over a sparse filter may come back short, with a cursor. */
const SCAN_MAX = 20_000;
const BATCH = 256;

const inScope = (e: DeadLetter, scope: DeadLetterScope) => scope.tenant === undefined || tenantOf(e.task) === scope.tenant;

/** The subject filter of a filter's entries. Entries of tenants other than the default carry a fifth token. */
export function dlqFilterSubject(f: DeadLetterFilter): string {
  const type = f.type ?? "*";
  if (f.tenant === undefined) return `jetq.dlq.${type}.>`;
  if (f.tenant === DEFAULT_TENANT) return `jetq.dlq.${type}.*`;
  return `jetq.dlq.${type}.*.${subjectToken(f.tenant)}`;
}

const cursorOf = (beforeSeq: number) => `b${beforeSeq}`;
function seqOfCursor(cursor: string): number {
  const m = /^b([1-9][0-9]{0,15})$/.exec(cursor);
  if (!m) throw new InvalidRequestError("invalid_query", "the cursor is not one this listing gave out", [{ path: "cursor", message: "not a DLQ cursor" }]);
  return Number(m[1]);
}

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
    await this.conn.js.publish(dlqSubject(entry.task.type, entry.task.id, tenantOf(entry.task)), JSON.stringify(entry), {
      msgID: `dlq.${entry.task.id}.${entry.streamSeq}`,
      headers: h,
    });
  }

  /** Entries matching the filter, from the server's subject index (one small request). */
  async count(filter: DeadLetterFilter = {}): Promise<number> {
    return countMatching(this.conn.jsm, dlqFilterSubject(filter));
  }

  /**
   * One page of entries, most recently dead first. The stream holds one message per entry in the
   * order they died (a replaced entry moves to the end), so a page is read backwards from the
   * cursor in windows of sequences: never more than the page, the skipped offset and SCAN_MAX.
   */
  async list(req: DeadLetterPageRequest): Promise<DeadLetterPage> {
    const subject = dlqFilterSubject(req);
    const offset = req.offset ?? 0;
    const want = offset + req.limit;
    const [total, info] = await Promise.all([countMatching(this.conn.jsm, subject), this.conn.jsm.streams.info(TOPOLOGY.dlqStream)]);
    const first = Math.max(1, info.state.first_seq);
    let hi = Math.min(req.cursor !== undefined ? seqOfCursor(req.cursor) : Infinity, info.state.last_seq + 1);
    const found: { entry: DeadLetter; seq: number }[] = [];
    let step = Math.max(64, want * 2);
    let scanned = 0;
    while (found.length < want && hi > first && scanned < SCAN_MAX) {
      const lo = Math.max(first, hi - step);
      const window = await readSubjectRange(this.conn.jsm, TOPOLOGY.dlqStream, subject, lo, hi);
      scanned += window.length;
      for (let i = window.length - 1; i >= 0; i--) {
        const entry = window[i]!.json<DeadLetter>();
        // Old entries of other tenants may sit on default-tenant subjects: the entry itself decides.
        if (inScope(entry, req)) found.push({ entry, seq: window[i]!.seq });
      }
      hi = lo;
      step = Math.min(step * 2, 8_192);
    }
    const page = found.slice(offset, want);
    const nextCursor = found.length > want ? cursorOf(page[page.length - 1]!.seq) : hi > first ? cursorOf(hi) : null;
    return { items: page.map((f) => f.entry), total, nextCursor };
  }

  /** An entry in `scope`: another tenant's is a 404 like a missing one. */
  async get(taskId: string, scope: DeadLetterScope = {}): Promise<DeadLetter> {
    return (await this.find(taskId, scope)).entry;
  }

  private async find(taskId: string, scope: DeadLetterScope = {}): Promise<{ entry: DeadLetter; seq: number }> {
    // The entry is on the four-token subject (default tenant, older entries) or the five-token one.
    const [plain, tenanted] = await Promise.all(
      [`jetq.dlq.*.${taskId}`, `jetq.dlq.*.${taskId}.*`].map((s) => this.conn.jsm.direct.getMessage(TOPOLOGY.dlqStream, { next_by_subj: s, seq: 1 }).catch(() => null)),
    );
    const msg = plain ?? tenanted;
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
    const found = await this.find(taskId, scope);
    return this.retryFound(taskId, found.entry, found.seq);
  }

  private async retryFound(taskId: string, entry: DeadLetter, seq: number): Promise<TaskRecord> {
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
    const { seq } = await this.find(taskId, scope);
    await this.conn.jsm.streams.deleteMessage(TOPOLOGY.dlqStream, seq, false).catch(() => undefined);
  }

  /**
   * Replays every entry matching the filter, oldest first, read in batches. Only entries that were
   * there when it started: a replay that dies again gets a new entry further on, and is not
   * replayed a second time by the same call.
   */
  async retryMany(filter: DeadLetterFilter): Promise<{ retried: string[]; errors: { id: string; message: string }[] }> {
    const retried: string[] = [];
    const errors: { id: string; message: string }[] = [];
    const subject = dlqFilterSubject(filter);
    const { state } = await this.conn.jsm.streams.info(TOPOLOGY.dlqStream);
    let seq = Math.max(1, state.first_seq);
    while (seq <= state.last_seq) {
      const batch = await readSubjectRange(this.conn.jsm, TOPOLOGY.dlqStream, subject, seq, state.last_seq + 1, BATCH);
      if (batch.length === 0) break;
      seq = batch[batch.length - 1]!.seq + 1;
      for (const m of batch) {
        const entry = m.json<DeadLetter>();
        if (!inScope(entry, filter)) continue;
        try {
          await this.retryFound(entry.task.id, entry, m.seq);
          retried.push(entry.task.id);
        } catch (err) {
          errors.push({ id: entry.task.id, message: (err as Error).message });
        }
      }
    }
    return { retried, errors };
  }

  /** Discards every entry matching the filter, in one purge by subject filter on the server. */
  async deleteMany(filter: DeadLetterFilter): Promise<{ deleted: number }> {
    const res = await this.conn.jsm.streams.purge(TOPOLOGY.dlqStream, { filter: dlqFilterSubject(filter) });
    return { deleted: res.purged };
  }
}

/** How many messages on the stream match `subject`: one direct get answers with the rest pending. */
async function countMatching(jsm: JetStreamManager, subject: string): Promise<number> {
  try {
    for await (const m of await jsm.direct.getBatch(TOPOLOGY.dlqStream, { seq: 1, batch: 1, next_by_subj: subject })) {
      return 1 + Number(m.header.get("Nats-Num-Pending") || 0);
    }
    return 0;
  } catch (err) {
    if (isNoMessage(err)) return 0;
    throw err;
  }
}

