// TaskListing: pages of tasks that cost the same at ten queued tasks as at a million. Nothing is
// held in memory between requests and nothing is scanned from the start: each page reads
// backwards from where the previous one stopped, through two logs the server already keeps in
// order:
// - the work stream (queued tasks, oldest to newest by sequence; a type filter is applied by the
//   server, whose subjects are `jetq.tasks.<priority>.<type>`);
// - the state bucket's stream (tasks that have started: each record sits at the sequence of its
//   last write, so reading it backwards is "most recently changed first").
// `status=queued` reads the first, any other status the second, no status both, merged by time
// (a queued task's time is its creation, a started one's its last change). A cursor holds one
// position per log, so a page never repeats or skips what the previous page left: messages never
// move on the work stream, and a record that changes while you page moves to the front (it is
// shown on the first page of a fresh listing, not twice in one walk).
// A filter that matches rarely could make a page read the whole log; instead a page stops after a
// time budget and may hold fewer items than `limit` (even none), with a cursor to read on.
import type { JetStreamManager, StoredMsg, StreamState } from "@nats-io/jetstream";
import type { JetqConnection } from "./connection.js";
import { InvalidCursorError } from "./kv-index.js";
import { isKvMarker } from "./kv-live.js";
import { getMany, isNoMessage, kvStream } from "./kv-scan.js";
import { tenantOf, type TaskRecord, type TaskStatus } from "./task.js";
import { TOPOLOGY } from "./topology.js";

export interface TaskListQuery {
  status?: TaskStatus;
  type?: string;
  limit: number;
  /** Matching tasks to skip before the page (bounded by the route: use the cursor to go far). */
  offset?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Search filters, applied to each record read (no count is kept for them, so `total` is null). */
  search?: TaskSearch;
}

/** What the view's search matches on besides status and type: every field given must match. */
export interface TaskSearch {
  /** Only this tenant's tasks (records without one are DEFAULT_TENANT's): what a non-admin caller's listing always has. */
  tenant?: string;
  priority?: TaskRecord["priority"];
  idempotencyKey?: string;
  /** A payload field (a dotted path) and the value it must have, compared as text. */
  payload?: { path: string[]; value: string };
  /** ISO times: created at or after, before. */
  createdAfter?: string;
  createdBefore?: string;
}

/** True when the record matches every filter of the search. */
export function matchesSearch(r: TaskRecord, s: TaskSearch | undefined): boolean {
  if (!s) return true;
  if (s.tenant !== undefined && tenantOf(r) !== s.tenant) return false;
  if (s.priority && r.priority !== s.priority) return false;
  if (s.idempotencyKey !== undefined && r.idempotencyKey !== s.idempotencyKey) return false;
  if (s.createdAfter && r.createdAt < s.createdAfter) return false;
  if (s.createdBefore && r.createdAt >= s.createdBefore) return false;
  if (s.payload) {
    let v: unknown = r.payload;
    for (const key of s.payload.path) v = v !== null && typeof v === "object" && Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined;
    if (v === undefined || v === null || typeof v === "object" || String(v) !== s.payload.value) return false;
  }
  return true;
}

export interface TaskPage {
  items: TaskRecord[];
  /** Exact when `totalExact`; otherwise an estimate, or null when none is cheap to make. */
  total: number | null;
  totalExact: boolean;
  offset: number;
  /** Pass as `cursor` for the next page; null when nothing is left. */
  nextCursor: string | null;
}

/** A page stops reading after this long and returns what it found, with a cursor. */
const PAGE_BUDGET_MS = 40;
/** Sequences in the first window of a log; windows grow ×4 while they find little, up to MAX_WINDOW. */
const FIRST_WINDOW = 16;
const MAX_WINDOW = 512;
const BATCH = 512;

interface Candidate {
  seq: number;
  time: number;
  record: TaskRecord;
}

interface CursorState {
  v: 1;
  /** The filter the cursor was made for: a cursor is only valid for the same listing. */
  f: string;
  /** Per log: every item still to list has a sequence below this (0: log done). */
  w?: number;
  l?: number;
}

export interface TaskListingOptions {
  /** How long a page may read before it returns what it found (default 40 ms). */
  budgetMs?: number;
}

export class TaskListing {
  constructor(
    private readonly conn: JetqConnection,
    private readonly opts: TaskListingOptions = {},
  ) {}

  async page(q: TaskListQuery): Promise<TaskPage> {
    const filterKey = `${q.status ?? ""}|${q.type ?? ""}${q.search ? `|${JSON.stringify(q.search)}` : ""}`;
    const cursor = q.cursor ? decodeCursor(q.cursor, filterKey) : null;
    const deadline = Date.now() + (this.opts.budgetMs ?? PAGE_BUDGET_MS);
    const useWork = !q.status || q.status === "queued";
    const useLog = q.status !== "queued";
    // Read at once what the estimate may need, so that it costs no round trip of its own.
    const typedQueued = q.status === "queued" && q.type && !q.search ? this.conn.jsm.streams.info(TOPOLOGY.tasksStream, { subjects_filter: `jetq.tasks.*.${q.type}` }) : null;
    const [workInfo, logInfo] = await Promise.all([
      useWork ? this.conn.jsm.streams.info(TOPOLOGY.tasksStream) : null,
      useLog ? this.conn.jsm.streams.info(kvStream(TOPOLOGY.stateBucket)) : null,
    ]);
    // The state log is read below this for the whole listing: a task that started after it was
    // fixed has its record above it, so the work stream lists that one (see workLog).
    const logBound = logInfo ? startBelow(cursor?.l, logInfo.state) : undefined;
    const work = workInfo ? this.workLog(q, workInfo.state, cursor?.w, logBound) : null;
    const log = logInfo ? this.stateLog(q, logInfo.state, cursor?.l) : null;
    const sources = [work, log].filter((s): s is BackwardLog => s !== null);

    const items: TaskRecord[] = [];
    let skip = cursor ? 0 : (q.offset ?? 0);
    let outOfTime = false;
    for (;;) {
      let best: BackwardLog | undefined;
      for (const s of sources) {
        const h = s.head();
        if (h && (!best || h.time > best.head()!.time)) best = s;
      }
      // A log must be read on before `best` can be listed only if it may hold something newer:
      // nothing it has not read yet is newer than the oldest message it has read.
      const bestTime = best?.head()!.time ?? -Infinity;
      const needy = sources.filter((s) => !s.head() && !s.done && s.frontier() > bestTime);
      if (needy.length > 0) {
        // Out of time, but never before one window of each: every page moves its cursor on.
        if (Date.now() > deadline && needy.every((s) => s.windowsRead > 0)) {
          outOfTime = true;
          break;
        }
        await Promise.all(needy.map((s) => s.readWindow()));
        continue;
      }
      if (!best) break; // every log is done
      if (items.length === q.limit) break; // and there is at least one more: a next page
      const taken = best.take();
      if (skip > 0) skip--;
      else items.push(taken.record);
    }
    const done = !outOfTime && sources.every((s) => s.done && !s.head());
    const nextCursor = done ? null : encodeCursor({ v: 1, f: filterKey, ...(work ? { w: work.position() } : {}), ...(log ? { l: log.position() } : {}) });
    if (!cursor && done) {
      void typedQueued?.catch(() => undefined);
      return { items, total: (q.offset ?? 0) - skip + items.length, totalExact: true, offset: q.offset ?? 0, nextCursor: null };
    }
    // Estimates from counts NATS keeps: messages on the work stream (waiting and in flight) and
    // records of started tasks; the two overlap by the tasks in flight, and a record's slot may
    // hold an expired marker. No count by type or by a started status is kept.
    let total: number | null = null;
    if (typedQueued) total = Object.values((await typedQueued).state.subjects ?? {}).reduce((n, c) => n + c, 0);
    else if (q.status === "queued" && !q.search) total = workInfo!.state.messages;
    else if (!q.status && !q.type && !q.search) total = workInfo!.state.messages + logInfo!.state.messages;
    return { items, total, totalExact: false, offset: cursor ? 0 : (q.offset ?? 0), nextCursor };
  }

  /**
   * Queued tasks, newest first; a message whose task has a state record is listed from the state
   * log — unless that record is at or above `logBound`, where this listing's state log never reads
   * (the task started while the listing went on): then from here, as it is now.
   */
  private workLog(q: TaskListQuery, state: StreamState, before: number | undefined, logBound: number | undefined): BackwardLog {
    const filter = q.type ? `jetq.tasks.*.${q.type}` : undefined;
    return new BackwardLog(this.conn.jsm, TOPOLOGY.tasksStream, state.first_seq, startBelow(before, state), filter, async (msgs) => {
      const parsed = msgs.map((m) => ({ m, record: safeJson<TaskRecord>(m) })).filter((x): x is { m: StoredMsg; record: TaskRecord } => x.record !== null);
      const states = await this.states(parsed.map((x) => x.record.id));
      const out: Candidate[] = [];
      for (const { m, record } of parsed) {
        const stored = states.get(record.id);
        const state = stored?.record;
        // A record that is still `queued` is a replay waiting on the stream: list it from here.
        if (state && state.status !== "queued" && (logBound === undefined || stored!.revision < logBound)) continue;
        const r = state ?? record;
        if (q.type && r.type !== q.type) continue; // legacy subjects are not filtered by the server
        if (!matchesSearch(r, q.search)) continue;
        out.push({ seq: m.seq, time: m.time.getTime(), record: r });
      }
      return out;
    }, state.num_deleted > BATCH_DELETED_LIMIT);
  }

  /** Started tasks, most recently changed first. */
  private stateLog(q: TaskListQuery, state: StreamState, before: number | undefined): BackwardLog {
    return new BackwardLog(this.conn.jsm, kvStream(TOPOLOGY.stateBucket), state.first_seq, startBelow(before, state), undefined, async (msgs) => {
      const out: Candidate[] = [];
      for (const m of msgs) {
        if (isKvMarker(m)) continue;
        const r = safeJson<TaskRecord>(m);
        if (!r || r.status === "queued") continue; // queued ones are listed from the work stream
        if ((q.status && r.status !== q.status) || (q.type && r.type !== q.type) || !matchesSearch(r, q.search)) continue;
        out.push({ seq: m.seq, time: m.time.getTime(), record: r });
      }
      return out;
    }, state.num_deleted > BATCH_DELETED_LIMIT);
  }

  private async states(ids: string[]): Promise<Map<string, { record: TaskRecord; revision: number }>> {
    const out = new Map<string, { record: TaskRecord; revision: number }>();
    for (let i = 0; i < ids.length; i += 256) {
      const found = await getMany(this.conn.jsm, TOPOLOGY.stateBucket, ids.slice(i, i + 256));
      for (const [id, e] of found) out.set(id, { record: e.json<TaskRecord>(), revision: e.revision });
    }
    return out;
  }
}

/**
 * One log read backwards in windows that grow while they find little; `take()` hands out its
 * candidates newest first. A window is read forwards from its start (the server only reads
 * forwards) up to where the previous one began.
 */
class BackwardLog {
  private buffer: Candidate[] = [];
  /** Everything at or above this sequence has been read. */
  private low: number;
  private window = FIRST_WINDOW;
  windowsRead = 0;
  /** Time of the oldest message read: nothing still unread is newer. */
  private oldestRead = Infinity;
  /** Messages per sequence in the windows read so far (a log with deletes has gaps). */
  private density = 1;
  done = false;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly firstSeq: number,
    before: number,
    private readonly subjectFilter: string | undefined,
    private readonly select: (msgs: StoredMsg[]) => Promise<Candidate[]>,
    /** Read by sequence, one get each, rather than in batches (see readRange). */
    private readonly bySequence = false,
  ) {
    this.low = before;
    if (before <= firstSeq || before <= 1) this.done = true;
  }

  /** The next candidate read so far, if any. */
  head(): Candidate | undefined {
    return this.buffer[0];
  }

  take(): Candidate {
    return this.buffer.shift()!;
  }

  frontier(): number {
    return this.oldestRead;
  }

  /** Where the next page starts on this log: below the next candidate not yet handed out. */
  position(): number {
    if (this.buffer.length > 0) return this.buffer[0]!.seq + 1;
    if (this.done) return 0;
    return this.low;
  }

  /** Reads the next window back; its candidates join the buffer, newest first. */
  async readWindow() {
    const start = Math.max(this.firstSeq, this.low - this.window, 1);
    const msgs = this.bySequence
      ? await readBySequence(this.jsm, this.stream, start, this.low, this.subjectFilter)
      : await readRange(this.jsm, this.stream, start, this.low, this.subjectFilter, this.density);
    if (msgs.length > 0) this.oldestRead = Math.min(this.oldestRead, msgs[0]!.time.getTime());
    this.density = Math.max(0.05, msgs.length / Math.max(1, this.low - start));
    const found = (await this.select(msgs)).sort((a, b) => b.seq - a.seq);
    this.windowsRead++;
    this.buffer.push(...found);
    this.low = start;
    if (start <= this.firstSeq || start <= 1) this.done = true;
    if (found.length < FIRST_WINDOW * 4) this.window = Math.min(this.window * 4, this.bySequence ? MAX_SEQUENCE_WINDOW : MAX_WINDOW);
  }
}

/**
 * Messages with `from <= seq < before`, in order (optionally only those on `subject`). A batch
 * returns the next messages that exist, which past gaps run beyond `before`: ask for about as many
 * as the range holds (`density`: messages per sequence seen so far) and read on if that was short.
 */
async function readRange(jsm: JetStreamManager, stream: string, from: number, before: number, subject: string | undefined, density: number): Promise<StoredMsg[]> {
  const out: StoredMsg[] = [];
  let seq = from;
  while (seq < before) {
    const batch = Math.max(1, Math.min(BATCH, Math.ceil((before - seq) * density) + 2));
    let got = 0;
    let end = false;
    try {
      for await (const m of await jsm.direct.getBatch(stream, { seq, batch, ...(subject ? { next_by_subj: subject } : {}) })) {
        got++;
        if (m.seq >= before) {
          end = true;
          continue;
        }
        seq = m.seq + 1;
        out.push(m);
      }
    } catch (err) {
      if (isNoMessage(err)) break;
      throw err;
    }
    if (got === 0 || end) break;
  }
  return out;
}

/**
 * The same by sequence: one direct get per sequence, all at once. A batch get costs the server a
 * count of what is left after it, which on a stream with many deleted sequences (a KV bucket's,
 * where every write deletes the value before it) grows with them: measured at 20,000 deletes a
 * batch of any size took 18 ms, 64 single gets 6 ms.
 */
async function readBySequence(jsm: JetStreamManager, stream: string, from: number, before: number, subject?: string): Promise<StoredMsg[]> {
  const seqs = Array.from({ length: Math.max(0, before - from) }, (_, i) => from + i);
  const got = await Promise.all(
    seqs.map((seq) =>
      jsm.direct.getMessage(stream, { seq }).catch((err: unknown) => {
        if (isNoMessage(err)) return null;
        throw err;
      }),
    ),
  );
  const matches = subject ? subjectMatcher(subject) : () => true;
  return got.filter((m): m is StoredMsg => m !== null && matches(m.subject));
}

/** NATS subject matching for a filter with `*` tokens (all the listing uses). */
function subjectMatcher(filter: string): (subject: string) => boolean {
  const want = filter.split(".");
  return (subject) => {
    const got = subject.split(".");
    return got.length === want.length && want.every((t, i) => t === "*" || t === got[i]);
  };
}

/** Streams with more deleted sequences than this are read by sequence rather than in batches. */
const BATCH_DELETED_LIMIT = 5_000;
/** Windows read by sequence stay this small: each sequence is a request. */
const MAX_SEQUENCE_WINDOW = 128;

/** Where a log's page starts: the cursor's position, never past the log's end (a forged cursor cannot send it walking through sequences that never existed). */
function startBelow(before: number | undefined, state: StreamState): number {
  return Math.min(before ?? Infinity, state.last_seq + 1);
}

function safeJson<T>(m: StoredMsg): T | null {
  try {
    return m.json<T>();
  } catch {
    return null;
  }
}

function encodeCursor(c: CursorState): string {
  return Buffer.from(JSON.stringify(c)).toString("base64url");
}

function decodeCursor(raw: string, filterKey: string): CursorState {
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw new InvalidCursorError();
  }
  const ok = (n: unknown) => n === undefined || (Number.isSafeInteger(n) && (n as number) >= 0);
  const state = c as Partial<CursorState> | null;
  if (!state || typeof state !== "object" || state.v !== 1 || state.f !== filterKey || !ok(state.w) || !ok(state.l)) throw new InvalidCursorError();
  return state as CursorState;
}
