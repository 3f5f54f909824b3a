// The one place a TaskQueue is built: every program's queue takes its attempt ceiling from the
// topology it connected with (the consumers' max_deliver), so the two can never disagree.
import type { JetqConnection } from "./connection.js";
import type { TaskTypeRegistry } from "./registry.js";
import { TaskQueue, type TaskQueueOptions } from "./task-queue.js";

export function taskQueueFor(conn: JetqConnection, registry: TaskTypeRegistry, options: Omit<TaskQueueOptions, "maxDeliver">): TaskQueue {
  return new TaskQueue(conn, registry, { ...options, maxDeliver: conn.topology.maxDeliver });
}
