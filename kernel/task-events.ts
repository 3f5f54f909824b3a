// TaskEvents: live state changes of tasks, as the server republishes every write to the state
// bucket on `jetq.task-events.<id>` (core NATS, no consumer per listener). Core messages are not
// replayed, so listeners that must not miss the end also read the stored state (see api/sse.ts).
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { TaskRecord } from "./task.js";
import { TOPOLOGY } from "./topology.js";

export interface TaskEvent {
  id: string;
  /** The state record's revision (its sequence in the bucket). */
  revision: number;
  /** Null when the record was deleted or expired. */
  record: TaskRecord | null;
}

export class TaskEvents {
  constructor(private readonly nc: NatsConnection) {}

  /** Changes of one task, or of every task with "*". */
  subscribe(id: string, onEvent: (e: TaskEvent) => void): { stop(): void } {
    const prefix = `${TOPOLOGY.taskEventsPrefix}.`;
    const sub: Subscription = this.nc.subscribe(id === "*" ? `${prefix}*` : `${prefix}${id}`, {
      callback: (_err, msg) => {
        const op = msg.headers?.get("KV-Operation");
        onEvent({
          id: msg.subject.slice(prefix.length),
          revision: Number(msg.headers?.get("Nats-Sequence") ?? 0),
          record: op === "DEL" || op === "PURGE" || msg.data.length === 0 ? null : (msg.json<TaskRecord>()),
        });
      },
    });
    return { stop: () => sub.unsubscribe() };
  }
}
