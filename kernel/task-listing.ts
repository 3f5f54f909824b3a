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
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { JetqConnection } from "./connection.js";
import { InvalidCursorError } from "./kv-index.js";
import { isKvMarker } from "./kv-live.js";
import { getMany, isNoMessage, kvStream } from "./kv-scan.js";
import type { TaskRecord, TaskStatus } from "./task.js";
import { TOPOLOGY } from "./topology.js";

export interface TaskListQuery {
  status?: TaskStatus;
  type?: string;
  limit: number;
  /** Matching tasks to skip before the page (bounded by the route: use the cursor to go far). */
  offset?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
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
const PAGE_BUDGET_MS = 60;
const FIRST_WINDOW = 64;
const MAX_WINDOW = 4096;
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
  /** How long a page may read before it returns what it found (default 60 ms). */
  budgetMs?: number;
}

export class TaskListing {
  constructor(
    private readonly conn: JetqConnection,
    private readonly opts: TaskListingOptions = {},
  ) {}

  async page(q: TaskListQuery): Promise<TaskPage> {
    const filterKey = `${q.status ?? ""}|${q.type ?? ""}`;
    const cursor = q.cursor ? decodeCursor(q.cursor, filterKey) : null;
    const deadline = Date.now() + (this.opts.budgetMs ?? PAGE_BUDGET_MS);
    const useWork = !q.status || q.status === "queued";
    const useLog = q.status !== "queued";
    const [work, log] = await Promise.all([
      useWork ? this.workLog(q, cursor?.w, deadline) : null,
      useLog ? this.stateLog(q, cursor?.l, deadline) : null,
    ]);
    const sources = [work, log].filter((s): s is BackwardLog => s !== null);

    const items: TaskRecord[] = [];
    let skip = cursor ? 0 : (q.offset ?? 0);
    let outOfTime = false;
    for (;;) {
      const heads = await Promise.all(sources.map((s) => s.peek()));
      if (heads.some((h, i) => h === undefined && !sources[i]!.done)) {
        outOfTime = true; // a log could not say what comes next within the budget
        break;
      }
      let best = -1;
      heads.forEach((h, i) => {
        const b = best >= 0 ? heads[best] : undefined;
        if (h && (!b || h.time > b.time || (h.time === b.time && i < best))) best = i;
      });
      if (best < 0) break; // every log is done
      if (items.length === q.limit) break; // and there is at least one more: a next page
      const taken = sources[best]!.take();
      if (skip > 0) skip--;
      else items.push(taken.record);
    }
    const done = sources.every((s) => s.done && s.peekedNothing());
    const nextCursor = done ? null : encodeCursor({ v: 1, f: filterKey, ...(work ? { w: work.position() } : {}), ...(log ? { l: log.position() } : {}) });
    if (!cursor && done && !outOfTime) {
      return { items, total: (q.offset ?? 0) - skip + items.length, totalExact: true, offset: q.offset ?? 0, nextCursor: null };
    }
    return { items, total: await this.estimate(q), totalExact: false, offset: cursor ? 0 : (q.offset ?? 0), nextCursor };
  }

  /** Queued tasks, newest first; a message whose task has a state record is listed from the state log. */
  private async workLog(q: TaskListQuery, before: number | undefined, deadline: number): Promise<BackwardLog> {
    const info = await this.conn.jsm.streams.info(TOPOLOGY.tasksStream);
    const filter = q.type ? `jetq.tasks.*.${q.type}` : undefined;
    return new BackwardLog(this.conn.jsm, TOPOLOGY.tasksStream, info.state.first_seq, before ?? info.state.last_seq + 1, filter, deadline, async (msgs) => {
      const parsed = msgs.map((m) => ({ m, record: safeJson<TaskRecord>(m) })).filter((x): x is { m: StoredMsg; record: TaskRecord } => x.record !== null);
      const states = await this.states(parsed.map((x) => x.record.id));
      const out: Candidate[] = [];
      for (const { m, record } of parsed) {
        const state = states.get(record.id);
        // A record that is still `queued` is a replay waiting on the stream: list it from here.
        if (state && state.status !== "queued") continue;
        const r = state ?? record;
        if (q.type && r.type !== q.type) continue; // legacy subjects are not filtered by the server
        out.push({ seq: m.seq, time: m.time.getTime(), record: r });
      }
      return out;
    });
  }

  /** Started tasks, most recently changed first. */
  private async stateLog(q: TaskListQuery, before: number | undefined, deadline: number): Promise<BackwardLog> {
    const stream = kvStream(TOPOLOGY.stateBucket);
    const info = await this.conn.jsm.streams.info(stream);
    return new BackwardLog(this.conn.jsm, stream, info.state.first_seq, before ?? info.state.last_seq + 1, undefined, deadline, async (msgs) => {
      const out: Candidate[] = [];
      for (const m of msgs) {
        if (isKvMarker(m)) continue;
        const r = safeJson<TaskRecord>(m);
        if (!r || r.status === "queued") continue; // queued ones are listed from the work stream
        if ((q.status && r.status !== q.status) || (q.type && r.type !== q.type)) continue;
        out.push({ seq: m.seq, time: m.time.getTime(), record: r });
      }
      return out;
    });
  }

  private async states(ids: string[]): Promise<Map<string, TaskRecord>> {
    const out = new Map<string, TaskRecord>();
    for (let i = 0; i < ids.length; i += 256) {
      const found = await getMany(this.conn.jsm, TOPOLOGY.stateBucket, ids.slice(i, i + 256));
      for (const [id, e] of found) out.set(id, e.json<TaskRecord>());
    }
    return out;
  }

  /** A cheap estimate of the listing's size, from counts the server keeps. */
  private async estimate(q: TaskListQuery): Promise<number | null> {
    // Messages on the work stream (waiting and in flight) and records of started tasks; the
    // two overlap by the tasks in flight, and a record's slot may hold an expired marker.
    if (q.status === "queued") {
      const info = await this.conn.jsm.streams.info(TOPOLOGY.tasksStream, q.type ? { subjects_filter: `jetq.tasks.*.${q.type}` } : undefined);
      return q.type ? Object.values(info.state.subjects ?? {}).reduce((n, c) => n + c, 0) : info.state.messages;
    }
    if (!q.status && !q.type) {
      const [work, started] = await Promise.all([this.conn.jsm.streams.info(TOPOLOGY.tasksStream), this.conn.jsm.streams.info(kvStream(TOPOLOGY.stateBucket))]);
      return work.state.messages + started.state.messages;
    }
    return null; // no count by type or by a started status is kept
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
  private windowsRead = 0;
  done = false;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly firstSeq: number,
    before: number,
    private readonly subjectFilter: string | undefined,
    private readonly deadline: number,
    private readonly select: (msgs: StoredMsg[]) => Promise<Candidate[]>,
  ) {
    this.low = before;
    if (before <= firstSeq || before <= 1) this.done = true;
  }

  /** The next candidate, reading more if needed; undefined when done or out of time. */
  async peek(): Promise<Candidate | undefined> {
    while (this.buffer.length === 0 && !this.done) {
      // Out of time, but never before one window: every page moves its cursor on.
      if (this.windowsRead > 0 && Date.now() > this.deadline) return undefined;
      await this.readWindow();
    }
    return this.buffer[0];
  }

  take(): Candidate {
    return this.buffer.shift()!;
  }

  peekedNothing(): boolean {
    return this.buffer.length === 0;
  }

  /** Where the next page starts on this log: below the next candidate not yet handed out. */
  position(): number {
    if (this.buffer.length > 0) return this.buffer[0]!.seq + 1;
    if (this.done) return 0;
    return this.low;
  }

  private async readWindow() {
    const start = Math.max(this.firstSeq, this.low - this.window, 1);
    const msgs = await readRange(this.jsm, this.stream, start, this.low, this.subjectFilter);
    const found = (await this.select(msgs)).sort((a, b) => b.seq - a.seq);
    this.windowsRead++;
    this.buffer.push(...found);
    this.low = start;
    if (start <= this.firstSeq || start <= 1) this.done = true;
    if (found.length < FIRST_WINDOW) this.window = Math.min(this.window * 4, MAX_WINDOW);
  }
}

/** Messages with `from <= seq < before`, in order (optionally only those on `subject`). */
async function readRange(jsm: JetStreamManager, stream: string, from: number, before: number, subject?: string): Promise<StoredMsg[]> {
  const out: StoredMsg[] = [];
  let seq = from;
  while (seq < before) {
    let got = 0;
    let end = false;
    try {
      const batch = await jsm.direct.getBatch(stream, { seq, batch: Math.min(BATCH, before - seq), ...(subject ? { next_by_subj: subject } : {}) });
      for await (const m of batch) {
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
