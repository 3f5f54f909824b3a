// The NATS users jetq's programs connect as, and what each may publish and subscribe to: the one
// list that `npm start`'s generated nats-server config (scripts/nats-auth.ts) and the chart's
// (charts/jetq/files/nats-permissions.json, checked against this by test/unit/chart-render.test.ts)
// are made from. Deny wins over allow in nats-server, so each set allows what the program does and
// denies the parts of a broad allow that are not its business.
import { BACKLOG_SUBJECTS } from "./tenant-backlog.js";
import { TOPOLOGY } from "./topology.js";

export const NATS_PROGRAMS = ["api", "worker", "operator"] as const;
export type NatsProgram = (typeof NATS_PROGRAMS)[number];

export interface SubjectRules {
  allow: string[];
  deny?: string[];
}

export interface NatsPermissions {
  publish: SubjectRules;
  subscribe: SubjectRules;
}

/**
 * Each user's replies come to its own inbox prefix (the `inboxPrefix` connect option), so no
 * program can subscribe to another's replies — with a shared `_INBOX.>` a worker could read the
 * API's direct gets of API keys as they come back.
 */
export const inboxPrefixOf = (user: string) => `_INBOX_${user}`;

const keysStream = `KV_${TOPOLOGY.keysBucket}`;

/** Everything that reads, changes or removes a stream's content or config, except STREAM.INFO. */
const streamContentApi = (stream: string) => [
  `$JS.API.STREAM.CREATE.${stream}`,
  `$JS.API.STREAM.UPDATE.${stream}`,
  `$JS.API.STREAM.DELETE.${stream}`,
  `$JS.API.STREAM.PURGE.${stream}`,
  `$JS.API.STREAM.MSG.*.${stream}`,
  `$JS.API.DIRECT.GET.${stream}`,
  `$JS.API.DIRECT.GET.${stream}.>`,
  // CREATE.<stream>[.<consumer>[.<filter>]], INFO/DELETE/MSG.NEXT.<stream>.<consumer>, DURABLE.CREATE.<stream>.<consumer>
  `$JS.API.CONSUMER.*.${stream}`,
  `$JS.API.CONSUMER.*.${stream}.>`,
  `$JS.API.CONSUMER.*.*.${stream}`,
  `$JS.API.CONSUMER.*.*.${stream}.>`,
];

/** The API keys' bucket, to anyone but the API: not its records, not its config, not its removal. */
const keysOffLimits = [...streamContentApi(keysStream), `$KV.${TOPOLOGY.keysBucket}.>`];

// What every program's JetStream client needs: acks of consumed messages, flow control of ordered
// consumers (KV watches), and the account/stream info calls every JetStream client makes.
const jetStreamClient = ["$JS.ACK.>", "$JS.FC.>", "$JS.API.INFO"];

/**
 * The task types a worker queues: worker/sync-scheduler.ts queues `sync_sources`, a sync
 * (worker/handlers/sync-sources.ts) chains `process_book` for each new document, and
 * `process_book` (worker/handlers/process-book.ts) chains `generate_embeddings`. A handler that
 * chains another type needs it here, or the server refuses its enqueue.
 */
export const WORKER_QUEUED_TYPES = ["sync_sources", "process_book", "generate_embeddings"] as const;

export function natsPermissions(program: NatsProgram): NatsPermissions {
  const inbox = `${inboxPrefixOf(program)}.>`;
  switch (program) {
    case "api":
      // The API owns the queue: it creates, cancels, replays and deletes tasks, books and keys,
      // and moves legacy data at start, so it may use the whole JetStream API and jetq's subjects.
      return {
        publish: { allow: [...jetStreamClient, "$JS.API.>", "$KV.>", "$O.>", "jetq.>"] },
        subscribe: { allow: [inbox, `${TOPOLOGY.taskEventsPrefix}.>`, `${TOPOLOGY.taskLogEventsPrefix}.>`] },
      };
    case "worker":
      // A worker takes tasks and writes their state, the DLQ and the library's buckets. It makes
      // the topology at start like every program (topology.ts), so it may create and update
      // streams, but delete none; it may not queue tasks (the API's create subjects) other than the
      // sync scheduler's own, nor touch API keys or the operator's pool snapshots.
      return {
        publish: {
          allow: [
            ...jetStreamClient,
            "$JS.API.STREAM.INFO.*",
            "$JS.API.STREAM.NAMES",
            "$JS.API.STREAM.LIST",
            "$JS.API.STREAM.CREATE.*",
            "$JS.API.STREAM.UPDATE.*",
            // KV and object-store deletes purge by subject; the DLQ mover removes dead messages.
            "$JS.API.STREAM.PURGE.*",
            "$JS.API.STREAM.MSG.GET.*",
            "$JS.API.STREAM.MSG.DELETE.*",
            "$JS.API.DIRECT.GET.>",
            "$JS.API.CONSUMER.>",
            "$KV.>",
            "$O.>",
            `jetq.dlq.>`,
            // Task logs (kernel/task-logs.ts): plain publishes the JETQ_LOGS stream captures.
            `${TOPOLOGY.taskLogsPrefix}.>`,
            // Per-minute counts of the tasks it queues and ends (kernel/task-stats.ts).
            `${TOPOLOGY.statsPrefix}.>`,
            // The tasks workers queue themselves, and only those (any priority: a chained task
            // keeps its parent's).
            ...WORKER_QUEUED_TYPES.map((type) => `jetq.tasks.*.${type}`),
            // Each tenant's count of unfinished tasks (kernel/tenant-backlog.ts), not the API's other limits.
            BACKLOG_SUBJECTS,
          ],
          deny: [...keysOffLimits, `$KV.${TOPOLOGY.poolsBucket}.>`, `$JS.API.STREAM.DELETE.*`],
        },
        subscribe: { allow: [inbox, TOPOLOGY.cancelSubject] },
      };
    case "operator":
      // The operator queues and cancels ProcessingTasks' tasks, watches arrivals and task events,
      // reads the queue's depth and writes WorkerPool snapshots. Like every program it makes the
      // topology at start, but it never reads, changes or removes API keys.
      return {
        publish: {
          allow: [...jetStreamClient, "$JS.API.>", "$KV.>", "jetq.tasks.*.*", BACKLOG_SUBJECTS, TOPOLOGY.cancelSubject, `${TOPOLOGY.statsPrefix}.>`],
          deny: [...keysOffLimits.filter((s) => s !== `$JS.API.STREAM.CREATE.${keysStream}`), `$JS.API.STREAM.DELETE.*`],
        },
        subscribe: { allow: [inbox, "jetq.tasks.>", `${TOPOLOGY.taskEventsPrefix}.>`] },
      };
  }
}

/** Every program's permissions, by user name (the program's name). */
export const allNatsPermissions = (): Record<NatsProgram, NatsPermissions> =>
  Object.fromEntries(NATS_PROGRAMS.map((p) => [p, natsPermissions(p)])) as Record<NatsProgram, NatsPermissions>;

/**
 * The chart's copy (charts/jetq/files/nats-permissions.json; helm cannot run this module). Rewrite it
 * after a change: `npx tsx scripts/nats-auth.ts chart-permissions`.
 */
export const natsPermissionsJson = () => JSON.stringify(allNatsPermissions(), null, 2) + "\n";
