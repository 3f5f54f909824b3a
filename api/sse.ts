// Server-Sent Events of one task: its current state at once, then every change (status and
// progress) until the task ends. Changes arrive as the server republishes state writes (no
// consumer per listener); a periodic read of the stored state covers any event lost in transit.
// Each event's id is the record's revision, so a reconnecting client (Last-Event-ID) is not sent
// a state it has already seen.
import type { Request, Response } from "express";
import type { TaskStateStore } from "../kernel/state-store.js";
import type { TaskEvents } from "../kernel/task-events.js";
import { isTerminal, statusView, type TaskRecord } from "../kernel/task.js";

const RECHECK_MS = 2_000;

export async function streamTaskEvents(req: Request, res: Response, deps: { state: TaskStateStore; events: TaskEvents }, initial: TaskRecord) {
  const lastEventId = Number(req.headers["last-event-id"] ?? 0) || 0;
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
  let lastStatus: string | null = null;
  let done = false;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));

  // `status` when the status changed, `progress` when only progress did, `end` for the final state.
  const send = (record: TaskRecord, revision: number) => {
    if (done || (revision > 0 && revision <= lastRevision)) return;
    if (revision > 0) lastRevision = revision;
    const event = isTerminal(record.status) ? "end" : record.status !== lastStatus ? "status" : "progress";
    lastStatus = record.status;
    res.write(`id: ${revision}\nevent: ${event}\ndata: ${JSON.stringify(statusView(record))}\n\n`);
    if (isTerminal(record.status)) {
      done = true;
      finish();
    }
  };
  const gone = () => {
    if (done) return;
    res.write(`event: gone\ndata: ${JSON.stringify({ id: initial.id })}\n\n`);
    done = true;
    finish();
  };

  // Subscribe first, then read: a change between the two is seen either way.
  const sub = deps.events.subscribe(initial.id, (e) => (e.record ? send(e.record, e.revision) : gone()));
  const recheck = async () => {
    const stored = await deps.state.get(initial.id).catch(() => null);
    if (stored) send(stored.record, stored.revision);
  };
  const stored = await deps.state.get(initial.id);
  if (stored) send(stored.record, stored.revision);
  else if (lastRevision === 0) send(initial, 0); // queued: no state record yet
  const timer = setInterval(() => void recheck(), RECHECK_MS);
  const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  req.on("close", () => finish());
  try {
    await finished;
  } finally {
    sub.stop();
    clearInterval(timer);
    clearInterval(keepAlive);
    res.end();
  }
}
