// The queue's HTTP answers as zod schemas: tasks, queue state, dead letters and errors. The API's
// OpenAPI document is generated from them (api/openapi.ts) and the typed client parses with them
// (client/), so the document, the server and its clients describe one shape. Only zod and the
// task model: importable by a browser or CLI without express or NATS.
//
// Objects are loose: a client must accept fields added later, and the document must not refuse
// an answer for carrying them.
import { z } from "zod";
import type { DeadLetter, DeadLetterQueue } from "./dead-letters.js";
import type { QueueSnapshot } from "./queue-stats.js";
import { PRIORITIES, TASK_STATUSES, type statusView } from "./task.js";

// Formats stated for the document rather than checked with zod's own patterns: the server writes
// these with `toISOString()` and `randomUUID()`, and a client need not re-validate them.
export const uuidString = z.string().meta({ format: "uuid" });
export const dateTimeString = z.string().meta({ format: "date-time" });

/** The body of every error answer. */
export const ErrorBodySchema = z.looseObject({
  error: z.looseObject({
    code: z.string(),
    message: z.string(),
    // What exactly was wrong (a list of {path, message} for schema errors), or null.
    details: z.unknown(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** A task's error as its status shows it (kernel/errors.ts `TaskError`). */
export const TaskErrorSchema = z.looseObject({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean().optional(),
  attempt: z.int().optional(),
});

/** `GET /api/tasks/{id}/status`: kernel/task.ts `statusView`, field for field. */
export const TaskStatusSchema = z.looseObject({
  id: uuidString,
  type: z.string(),
  priority: z.enum(PRIORITIES),
  status: z.enum(TASK_STATUSES),
  attempts: z.int(),
  maxAttempts: z.int().optional(),
  progress: z.looseObject({ percent: z.number(), message: z.string().nullable() }),
  result: z.unknown().optional(),
  error: TaskErrorSchema.optional(),
  createdAt: dateTimeString,
  startedAt: dateTimeString.optional(),
  finishedAt: dateTimeString.optional(),
  nextAttemptAt: dateTimeString.optional(),
  deadLettered: z.boolean().optional(),
});
export type TaskStatusView = z.infer<typeof TaskStatusSchema>;

/** `GET /api/tasks/{id}`: the status view plus what the task was created with (not in listings or events). */
export const TaskDetailSchema = TaskStatusSchema.extend({
  payload: z.unknown().optional(),
  idempotencyKey: z.string().optional(),
  /** Each failed attempt, oldest first (kernel/task.ts `FailedAttempt`; the newest 20). */
  failedAttempts: z
    .array(z.looseObject({ attempt: z.int(), workerId: z.string(), startedAt: dateTimeString, failedAt: dateTimeString, code: z.string(), message: z.string(), retryable: z.boolean() }))
    .optional(),
});
export type TaskDetailView = z.infer<typeof TaskDetailSchema>;

/** The answer to a create (202): where to follow the task. `created: false` for a replay. */
export const TaskAcceptedSchema = z.looseObject({
  id: uuidString,
  status: z.enum(TASK_STATUSES),
  statusUrl: z.string(),
  created: z.boolean().optional(),
});
export type TaskAccepted = z.infer<typeof TaskAcceptedSchema>;

/** An offset page: `{items, total, limit, offset}`, plus whatever `extra` a listing adds. */
export function pageSchema<T extends z.ZodType, E extends z.ZodRawShape = {}>(item: T, extra?: E) {
  return z.looseObject({ items: z.array(item), total: z.int(), limit: z.int(), offset: z.int(), ...(extra ?? ({} as E)) });
}

/**
 * `GET /api/tasks`: read backwards from where the last page stopped (kernel/task-listing.ts), so
 * `total` is exact only when `totalExact` (the whole listing fit in one page), an estimate
 * otherwise, or null when no cheap count exists; a page may be short while `nextCursor` is set.
 */
export const TaskPageSchema = z.looseObject({
  items: z.array(TaskStatusSchema),
  total: z.int().nullable(),
  totalExact: z.boolean(),
  limit: z.int(),
  offset: z.int(),
  nextCursor: z.string().nullable(),
});
export type TaskPage = z.infer<typeof TaskPageSchema>;

/** `GET /api/tasks/queue` (kernel/queue-stats.ts `QueueSnapshot`). */
export const QueueSnapshotSchema = z.looseObject({
  depth: z.int(),
  waiting: z.int(),
  inFlight: z.int(),
  byPriority: z.looseObject(Object.fromEntries(PRIORITIES.map((p) => [p, z.int()])) as Record<(typeof PRIORITIES)[number], z.ZodInt>),
  byType: z.record(z.string(), z.int()),
  deadLettered: z.int(),
  workers: z.looseObject({ count: z.int(), slots: z.int(), busy: z.int(), utilisation: z.number(), list: z.array(z.looseObject({})) }),
});
export type QueueSnapshotView = z.infer<typeof QueueSnapshotSchema>;

/** A dead-lettered task with its last error (kernel/dead-letters.ts `DeadLetter`). */
export const DeadLetterSchema = z.looseObject({
  task: z.looseObject({ id: z.string(), type: z.string(), payload: z.unknown().optional(), priority: z.string().optional(), tenant: z.string().optional().describe("the tenant the task belongs to (absent on tasks created before tenants: `default`)") }),
  error: TaskErrorSchema,
  attempts: z.int(),
  reason: z.enum(["max_deliveries", "terminated"]),
  deadLetteredAt: dateTimeString,
  subject: z.string().optional(),
  streamSeq: z.int().optional(),
});
export type DeadLetterView = z.infer<typeof DeadLetterSchema>;

/** `GET /api/dlq`: newest first; `nextCursor` reads on from where the page stopped (null at the end). */
export const DeadLetterPageSchema = pageSchema(DeadLetterSchema, { nextCursor: z.string().nullable() });
export type DeadLetterPage = z.infer<typeof DeadLetterPageSchema>;

/** `DELETE /api/dlq?type=…|all=true`. */
/** With dryRun: nothing deleted, `matched` says how many the filter matches now. */
const dryRunFields = { dryRun: z.literal(true).optional(), matched: z.int().optional() };
export const DlqDeletedSchema = z.looseObject({ deleted: z.int(), ...dryRunFields });
export type DlqDeleted = z.infer<typeof DlqDeletedSchema>;

/** `POST /api/dlq/retry`: the ids replayed and the ones that could not be. */
export const DlqRetriedSchema = z.looseObject({
  retried: z.array(z.string()),
  errors: z.array(z.looseObject({ id: z.string().optional(), message: z.string().optional() })),
  ...dryRunFields,
});
export type DlqRetried = z.infer<typeof DlqRetriedSchema>;

export const HealthSchema = z.looseObject({ status: z.literal("ok") });
export const ReadySchema = z.looseObject({ status: z.literal("ready") });

/** The task events SSE sends (`GET /api/tasks/{id}/events`): the task's status view each time. */
export const TASK_EVENT_NAMES = ["status", "progress", "end"] as const;
export type TaskEventName = (typeof TASK_EVENT_NAMES)[number];
/** Sent instead of `end` when the task's record disappears (expired or removed). */
export const TaskGoneSchema = z.looseObject({ id: z.string() });

/** `GET /api/stats` (kernel/task-stats.ts `TaskStats`). */
export const TaskStatsSchema = z.looseObject({
  windowMs: z.int(),
  from: dateTimeString,
  arrivals: z.int(),
  completions: z.int(),
  succeeded: z.int(),
  failed: z.int(),
  cancelled: z.int(),
  p50Ms: z.number().nullable(),
  p95Ms: z.number().nullable(),
  errorRate: z.number().nullable(),
  buckets: z.array(z.looseObject({ leSeconds: z.number().nullable(), count: z.int() })),
  perMinute: z.array(z.looseObject({ at: dateTimeString, arrivals: z.int(), succeeded: z.int(), failed: z.int(), cancelled: z.int() })),
});
export type TaskStatsView = z.infer<typeof TaskStatsSchema>;

/** One line of a task's log (kernel/task-logs.ts): the `log` event's data and an item of `GET /api/tasks/{id}/logs`. */
export const TaskLogLineSchema = z.looseObject({
  seq: z.int(),
  at: dateTimeString,
  level: z.enum(["error", "warn", "info"]),
  message: z.string(),
  attempt: z.int().optional(),
  workerId: z.string().optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
});
export type TaskLogLineView = z.infer<typeof TaskLogLineSchema>;
export const TaskLogPageSchema = z.looseObject({ items: z.array(TaskLogLineSchema), last: z.int(), limit: z.int() });
export type TaskLogPage = z.infer<typeof TaskLogPageSchema>;

// Compile-time checks that what the server builds fits the schemas the document is made of: a
// field whose type changes in a view without its schema stops the build.
// Loose objects' index signatures are left out: an interface has none, so it would never fit.
export type Known<T> = T extends readonly (infer U)[] ? Known<U>[] : T extends object ? { [K in keyof T as string extends K ? never : K]: Known<T[K]> } : T;
type Fits<View, Schema> = [View] extends [Known<Schema>] ? true : never; // bracketed: a union must fit as a whole
const viewsFit: [
  Fits<ReturnType<typeof statusView>, TaskStatusView>,
  Fits<QueueSnapshot, QueueSnapshotView>,
  Fits<DeadLetter, DeadLetterView>,
  Fits<Awaited<ReturnType<DeadLetterQueue["retryMany"]>>, DlqRetried>,
  Fits<Awaited<ReturnType<DeadLetterQueue["deleteMany"]>>, DlqDeleted>,
] = [true, true, true, true, true];
void viewsFit;
