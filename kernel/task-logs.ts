// Each task's log: the lines its worker logs about it (the handler's `ctx.log` and the attempt's
// own notes: failures, retries, cancels) at info level and above, kept in the JETQ_LOGS stream on
// `jetq.logs.<taskId>` beside the worker's stdout, so the task page and `jetq logs` show them
// without a log stack. Workers publish them as plain messages (no reply awaited: a line costs the
// attempt nothing it waits for); the stream keeps the newest lines of each task for as long as
// finished tasks are kept, and the server republishes each line with its sequence on
// `jetq.log-events.<taskId>` for live readers, as the state bucket does for task events.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { readSubjectRange } from "./kv-scan.js";
import { TOPOLOGY } from "./topology.js";

export const TASK_LOG_LEVELS = ["error", "warn", "info"] as const;
export type TaskLogLevel = (typeof TASK_LOG_LEVELS)[number];

/** A line as it is stored. */
export interface TaskLogEntry {
  at: string;
  level: TaskLogLevel;
  message: string;
  attempt?: number;
  workerId?: string;
  /** The line's structured fields (what a logger call passed besides the message), when small. */
  fields?: Record<string, unknown>;
}

/** A line as readers get it: with its place in the stream, which orders lines and resumes a read. */
export interface TaskLogLine extends TaskLogEntry {
  seq: number;
}

export const taskLogSubject = (taskId: string) => `${TOPOLOGY.taskLogsPrefix}.${taskId}`;

const MESSAGE_MAX = 2_000;
const FIELDS_MAX = 2_000;

/** The stored form of a line: long messages cut, fields dropped (and said so) when large. */
export function taskLogEntry(level: TaskLogLevel, message: string, context: { attempt?: number; workerId?: string }, fields?: Record<string, unknown>): TaskLogEntry {
  const text = message.length > MESSAGE_MAX ? `${message.slice(0, MESSAGE_MAX)}…` : message;
  const entry: TaskLogEntry = { at: new Date().toISOString(), level, message: text, ...context };
  if (fields && Object.keys(fields).length > 0) {
    const json = JSON.stringify(fields, (_k, v: unknown) => (v instanceof Error ? { name: v.name, message: v.message } : typeof v === "bigint" ? String(v) : v));
    if (json.length <= FIELDS_MAX) entry.fields = JSON.parse(json) as Record<string, unknown>;
    else entry.fields = { truncated: `${json.length} characters of fields, over ${FIELDS_MAX}: see the worker's output` };
  }
  return entry;
}

/** Writes lines of tasks: a plain publish each, which the JETQ_LOGS stream captures. */
export class TaskLogWriter {
  constructor(private readonly nc: NatsConnection) {}

  write(taskId: string, entry: TaskLogEntry) {
    try {
      this.nc.publish(taskLogSubject(taskId), JSON.stringify(entry));
    } catch {
      // A closed or draining connection: the line still went to stdout.
    }
  }
}

export interface TaskLogPage {
  items: TaskLogLine[];
  /** The sequence of the last line read: give it back as `after` to continue (0 when none). */
  last: number;
}

/** What the API reads of task logs: pages of one task's lines, and its new lines live. */
export class TaskLogs {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly nc: NatsConnection,
  ) {}

  read(taskId: string, opts: { after?: number; limit: number }): Promise<TaskLogPage> {
    return readTaskLog(this.jsm, taskId, opts);
  }

  follow(taskId: string, onLine: (line: TaskLogLine) => void): { stop(): void } {
    return subscribeTaskLog(this.nc, taskId, onLine);
  }
}

/** Reads a task's lines, oldest first, from the stream's subject index (never a scan of other tasks' lines). */
async function readTaskLog(jsm: JetStreamManager, taskId: string, opts: { after?: number; limit: number }): Promise<TaskLogPage> {
  const after = opts.after ?? 0;
  const msgs = await readSubjectRange(jsm, TOPOLOGY.taskLogsStream, taskLogSubject(taskId), after + 1, Infinity, opts.limit);
  const items = msgs.map((m) => parseLine(m.data, m.seq)).filter((l): l is TaskLogLine => l !== null);
  return { items, last: msgs.length > 0 ? msgs[msgs.length - 1]!.seq : after };
}

/** A stored line with its sequence, or null for something that is not one. */
function parseLine(data: Uint8Array, seq: number): TaskLogLine | null {
  try {
    const e = JSON.parse(new TextDecoder().decode(data)) as Partial<TaskLogEntry>;
    if (typeof e.message !== "string" || typeof e.at !== "string") return null;
    const level = TASK_LOG_LEVELS.includes(e.level as TaskLogLevel) ? (e.level as TaskLogLevel) : "info";
    return { seq, at: e.at, level, message: e.message, ...(typeof e.attempt === "number" ? { attempt: e.attempt } : {}), ...(typeof e.workerId === "string" ? { workerId: e.workerId } : {}), ...(e.fields && typeof e.fields === "object" ? { fields: e.fields } : {}) };
  } catch {
    return null;
  }
}

/** New lines of one task as the server republishes them, each with its stream sequence. */
function subscribeTaskLog(nc: NatsConnection, taskId: string, onLine: (line: TaskLogLine) => void): { stop(): void } {
  const sub = nc.subscribe(`${TOPOLOGY.taskLogEventsPrefix}.${taskId}`, {
    callback: (_err, msg) => {
      const line = parseLine(msg.data, Number(msg.headers?.get("Nats-Sequence") ?? 0));
      if (line && line.seq > 0) onLine(line);
    },
  });
  return { stop: () => sub.unsubscribe() };
}
