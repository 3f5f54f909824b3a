// Follows one task to its end through its Server-Sent Events (the typed client's watchTask). A
// dropped stream is resumed from the last event id (nothing is shown twice); if the API stays
// away longer than `patienceMs` the error comes out.
import { setTimeout as sleep } from "node:timers/promises";
import { JetqClientError } from "../client/errors.js";
import type { JetqClient, TaskEvent, TaskLogLineView, TaskStatusView } from "../client/index.js";
import { isTerminal } from "../kernel/task.js";

export interface FollowOptions {
  signal?: AbortSignal;
  /** Each event as it comes (status, progress, end). */
  onEvent?: (event: TaskEvent) => void;
  /** Each line of the task's log as it comes (only asked for when given). */
  onLog?: (line: TaskLogLineView) => void;
  /** How long to keep trying while the API cannot be reached. */
  patienceMs?: number;
}

/** The task's final status view, or null if its record disappeared while it was followed. */
export async function followTask(client: JetqClient, id: string, options: FollowOptions = {}): Promise<TaskStatusView | null> {
  const patienceMs = options.patienceMs ?? 15_000;
  let lastEventId: string | undefined;
  let failingSince = 0;
  for (;;) {
    try {
      for await (const event of client.watchTask(id, { logs: true, ...(lastEventId ? { lastEventId } : {}), ...(options.signal ? { signal: options.signal } : {}) })) {
        failingSince = 0;
        if (event.id) lastEventId = event.id;
        if (event.event === "log") {
          options.onLog?.(event.data);
          continue;
        }
        options.onEvent?.(event);
        if (event.event === "gone") return null;
        if (event.event === "end") return event.data;
      }
      // The stream ended without an end event (the server closed it, or it had ended before
      // lastEventId): the stored state says whether there is more to wait for.
      const now = await client.getTask(id);
      if (isTerminal(now.status)) return now;
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (!(err instanceof JetqClientError) || (err.status !== 0 && err.status < 500)) throw err;
      failingSince ||= Date.now();
      if (Date.now() - failingSince > patienceMs) throw err;
      await sleep(500, undefined, options.signal ? { signal: options.signal } : {});
    }
  }
}
