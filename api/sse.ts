// Server-Sent Events of one task: its current state at once, then every change (status and
// progress) from a KV watch, until the task ends. Each event's id is the record's revision, so a
// reconnecting client (Last-Event-ID) is not sent a state it has already seen.
import type { Request, Response } from "express";
import type { TaskStateStore } from "../core/state-store.js";
import { isTerminal, statusView, type TaskRecord } from "../core/task.js";

/** `queued` is set when the task has no state record yet (it is only on the work stream). */
export async function streamTaskEvents(req: Request, res: Response, state: TaskStateStore, initial: TaskRecord, queued: boolean) {
  res.status(200).set({
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no", // nginx-style proxies would otherwise hold events back
  });
  res.flushHeaders();
  const lastSeen = Number(req.headers["last-event-id"] ?? 0) || 0;

  let lastStatus: string | null = null;
  // `status` when the status changed, `progress` when only progress did, `end` for the final state.
  const send = (record: TaskRecord, revision: number) => {
    const event = isTerminal(record.status) ? "end" : record.status !== lastStatus ? "status" : "progress";
    lastStatus = record.status;
    res.write(`id: ${revision}\nevent: ${event}\ndata: ${JSON.stringify(statusView(record))}\n\n`);
  };

  const watcher = await state.watch(initial.id);
  // A queued task's first state record comes later; say where it stands now.
  if (queued && lastSeen === 0) send(initial, 0);
  const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  const close = () => {
    clearInterval(keepAlive);
    watcher.stop();
  };
  req.on("close", close);
  try {
    for await (const entry of watcher) {
      if (entry.operation !== "PUT" || !entry.value.length) {
        // The record expired or was deleted while watched: nothing more will come.
        res.write(`event: gone\ndata: ${JSON.stringify({ id: initial.id })}\n\n`);
        break;
      }
      if (entry.revision <= lastSeen) continue;
      const record = entry.json<TaskRecord>();
      send(record, entry.revision);
      if (isTerminal(record.status)) break;
    }
  } finally {
    close();
    res.end();
  }
}
