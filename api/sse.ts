// Server-Sent Events of one task: its current state at once, then every change (status and
// progress) and every line of its log until the task ends. Changes arrive as the server
// republishes state writes and log lines (no consumer per listener); a periodic read of the stored
// state covers any event lost in transit. Each event's id is the record's revision and, once a log
// line was sent, the last line's sequence (`<revision>:<logSeq>`), so a reconnecting client
// (Last-Event-ID) is sent neither a state nor a line it already has.
import type { Request, Response } from "express";
import type { TaskStateStore } from "../kernel/state-store.js";
import type { TaskEvents } from "../kernel/task-events.js";
import type { TaskLogLine, TaskLogs } from "../kernel/task-logs.js";
import { isTerminal, statusView, type TaskRecord } from "../kernel/task.js";

const RECHECK_MS = 2_000;
/** Lines sent from before the stream opened: the stream keeps at most JETQ_TASK_LOG_LINES per task. */
const LOG_BACKLOG_MAX = 5_000;

/** The revision and log sequence a Last-Event-ID names; zeros for none or nonsense. */
export function parseEventId(value: unknown): { revision: number; logSeq: number } {
  const [rev, seq] = String(value ?? "").split(":");
  const n = (v: string | undefined) => (v && /^[0-9]{1,16}$/.test(v) ? Number(v) : 0);
  return { revision: n(rev), logSeq: n(seq) };
}

export async function streamTaskEvents(req: Request, res: Response, deps: { state: TaskStateStore; events: TaskEvents; logs: TaskLogs }, initial: TaskRecord) {
  const resumeFrom = parseEventId(req.headers["last-event-id"]);
  const lastEventId = resumeFrom.revision;
  if (lastEventId > 0) {
    // A client that already has the end (EventSource reconnects by itself after the server closes
    // the stream) gets 204, which tells EventSource to stop, rather than a stream with nothing to say.
    const stored = await deps.state.get(initial.id);
    if (stored && isTerminal(stored.record.status) && stored.revision <= lastEventId) {
      res.status(204).end();
      return;
    }
  }
  res.status(200).set({
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no", // nginx-style proxies would otherwise hold events back
  });
  res.flushHeaders();

  let lastRevision = lastEventId;
  let lastLogSeq = resumeFrom.logSeq;
  let lastStatus: string | null = null;
  let done = false;
  let ending = false;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const eventId = () => (lastLogSeq > 0 ? `${lastRevision}:${lastLogSeq}` : `${lastRevision}`);

  // Lines arrive live while the backlog is read: they wait, so the lines go out in order.
  let heldLines: TaskLogLine[] | null = [];
  const sendLine = (line: TaskLogLine) => {
    if (done || line.seq <= lastLogSeq) return;
    if (heldLines) {
      heldLines.push(line);
      return;
    }
    lastLogSeq = line.seq;
    res.write(`id: ${eventId()}\nevent: log\ndata: ${JSON.stringify(line)}\n\n`);
  };
  /** Every stored line after the last one sent (up to `max`), then whatever arrived meanwhile; one catch-up at a time. */
  let catching = Promise.resolve();
  const catchUpLines = (max: number) => (catching = catching.then(() => readLines(max)));
  const readLines = async (max: number) => {
    heldLines ??= [];
    try {
      for (let read = 0; read < max; ) {
        const page = await deps.logs.read(initial.id, { after: lastLogSeq, limit: 1_000 });
        if (page.items.length === 0) break;
        read += page.items.length;
        for (const line of page.items) if (line.seq > lastLogSeq && !done) {
          lastLogSeq = line.seq;
          res.write(`id: ${eventId()}\nevent: log\ndata: ${JSON.stringify(line)}\n\n`);
        }
      }
    } catch {
      // The log stream unreadable (NATS away): states still flow; live lines resume the log.
    }
    const held = heldLines;
    heldLines = null;
    for (const line of held) sendLine(line);
  };

  // `status` when the status changed, `progress` when only progress did, `end` for the final state.
  const send = (record: TaskRecord, revision: number) => {
    if (done || ending || (revision > 0 && revision <= lastRevision)) return;
    if (isTerminal(record.status)) {
      // Lines logged just before the end may still be on their way: read them first, then end.
      ending = true;
      void catchUpLines(LOG_BACKLOG_MAX).then(() => {
        if (done) return;
        if (revision > 0) lastRevision = revision;
        res.write(`id: ${eventId()}\nevent: end\ndata: ${JSON.stringify(statusView(record))}\n\n`);
        done = true;
        finish();
      });
      return;
    }
    if (revision > 0) lastRevision = revision;
    const event = record.status !== lastStatus ? "status" : "progress";
    lastStatus = record.status;
    res.write(`id: ${eventId()}\nevent: ${event}\ndata: ${JSON.stringify(statusView(record))}\n\n`);
  };
  const gone = () => {
    if (done) return;
    res.write(`event: gone\ndata: ${JSON.stringify({ id: initial.id })}\n\n`);
    done = true;
    finish();
  };

  // Subscribe first, then read: a change between the two is seen either way.
  const sub = deps.events.subscribe(initial.id, (e) => (e.record ? send(e.record, e.revision) : gone()));
  const logSub = deps.logs.follow(initial.id, sendLine);
  const recheck = async () => {
    const stored = await deps.state.get(initial.id).catch(() => null);
    if (stored) send(stored.record, stored.revision);
  };
  const stored = await deps.state.get(initial.id);
  if (stored && !isTerminal(stored.record.status)) send(stored.record, stored.revision);
  else if (!stored && lastRevision === 0) send(initial, 0); // queued: no state record yet
  await catchUpLines(LOG_BACKLOG_MAX); // the lines so far, after the state they belong to
  if (stored && isTerminal(stored.record.status)) send(stored.record, stored.revision);
  const timer = setInterval(() => void recheck(), RECHECK_MS);
  const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  req.on("close", () => finish());
  try {
    await finished;
  } finally {
    sub.stop();
    logSub.stop();
    clearInterval(timer);
    clearInterval(keepAlive);
    res.end();
  }
}
