// jetq's JetStream topology: every stream, consumer and bucket, by name, and the idempotent
// `ensureTopology` that creates or updates them at start (api and workers both call it).
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { TopologyConfig } from "./config.js";
import { DEFAULT_TENANT, PRIORITIES, type Priority } from "./task.js";
import { subjectToken } from "./counters.js";
import { COMPLETE_KEY } from "./queued-index.js";
import { isConflict } from "./state-store.js";

const ms = (n: number) => n * 1_000_000; // JetStream durations are nanoseconds

export const TOPOLOGY = {
  tasksStream: "JETQ_TASKS",
  dlqStream: "JETQ_DLQ",
  advisoryStream: "JETQ_ADVISORIES",
  dlqMoverConsumer: "dlq-mover",
  stateBucket: "jetq-tasks",
  idempotencyBucket: "jetq-idempotency",
  workersBucket: "jetq-workers",
  leasesBucket: "jetq-leases",
  /**
   * Queued task id → its work-stream sequence and record, so a queued task is found by id in two
   * direct gets; held in memory by NATS and rebuilt from the work stream when lost (queued-index.ts).
   */
  queuedBucket: "jetq-waiting",
  /** The queued index of versions before it moved to memory (file-stored); removed once rebuilt. */
  legacyQueuedBucket: "jetq-queued",
  /** API keys by id, stored as hashes (api/auth/key-store.ts). */
  keysBucket: "jetq-keys",
  /** Per-tenant rate-limit windows, atomic counters `jetq.rate.<kind>.<tenant>.<window>` (api/limits/). */
  ratesStream: "JETQ_RATES",
  /** Per-tenant usage counters `jetq.usage.<quota>.<tenant>` (stored bytes; api/limits/). */
  usageStream: "JETQ_USAGE",
  /** What the operator last decided for each WorkerPool, for the API and the web view (pool-status.ts). */
  poolsBucket: "jetq-pools",
  cancelSubject: "jetq.control.cancel",
  /** Every state write is republished here by the server: `jetq.task-events.<id>`. */
  taskEventsPrefix: "jetq.task-events",
  /** Per-minute counters of arrivals and ends, `jetq.stats.<minute>.<figure>` (task-stats.ts). */
  statsStream: "JETQ_STATS",
  statsPrefix: "jetq.stats",
  /** Each task's log lines, `jetq.logs.<id>` (task-logs.ts). */
  taskLogsStream: "JETQ_LOGS",
  taskLogsPrefix: "jetq.logs",
  /** Every log line is republished here with its sequence: `jetq.log-events.<id>`. */
  taskLogEventsPrefix: "jetq.log-events",
} as const;

/**
 * Work subjects are `jetq.tasks.<priority>.<type>`: priority first, so a consumer per priority is
 * one filter; no task id, so the stream has a handful of subjects however deep the queue is and
 * depth by priority and type is one cheap stream-info call. The id travels in a header (and in the
 * message, which is the queued record); the queued index (queuedBucket) finds a queued task by id.
 */
export const taskSubject = (priority: Priority, type: string, lane: Lane = "shared") => `jetq.tasks.${priorityToken(priority, lane)}.${type}`;

/**
 * Fair share between tenants within a priority (issue #11): a tenant's task goes in the `shared`
 * lane while the tenant has few unfinished tasks (JETQ_FAIR_SHARE_QUEUED: waiting or running) and
 * in the `overflow` lane beyond that. Each lane has its own consumers and workers pull the shared
 * lane first (3 pulls in 4 when both have work), so a tenant with a flood of tasks waits behind the others' few instead
 * of every other tenant waiting behind its flood. The shared lane keeps the subjects and consumer
 * names jetq had before lanes, so nothing written earlier moves.
 */
export const LANES = ["shared", "overflow"] as const;
export type Lane = (typeof LANES)[number];
const OVERFLOW_SUFFIX = "-overflow";
const priorityToken = (priority: Priority, lane: Lane) => (lane === "shared" ? priority : `${priority}${OVERFLOW_SUFFIX}`);
/**
 * Header with the task id on a work message whose Nats-Msg-Id is not the task id: a replay from
 * the DLQ, a moved legacy message, and every message of versions before this one. A create's
 * message does without it (its Nats-Msg-Id is the id): one header less on the hot path.
 */
export const TASK_ID_HEADER = "Jetq-Task-Id";

/** The task id of a work message, from its headers ("" when they name none). */
export function workMessageTaskId(h: { get(k: string): string } | undefined): string {
  return h?.get(TASK_ID_HEADER) || h?.get("Nats-Msg-Id") || "";
}
/**
 * Every work message counted in a tenant's backlog (tenant-backlog.ts) names that tenant, and
 * whoever takes the message off the stream takes it off that count. A replay names it in this
 * header (its record may predate tenants); a create's record names it in its `tenant` field, and
 * its message does without the header (one header less on the hot path). Messages written before
 * tenants name none and were never counted.
 */
export const TENANT_HEADER = "Jetq-Tenant";

/** The tenant whose backlog counted a work message, if any (see TENANT_HEADER). */
export function countedTenant(h: { get(k: string): string } | undefined, record: { tenant?: unknown } | null): string | undefined {
  const named = h?.get(TENANT_HEADER) || record?.tenant;
  return typeof named === "string" && named ? named : undefined;
}
/**
 * Versions before the queued index put the id last (`jetq.tasks.<priority>.<type>.<id>`). The
 * stream still accepts those subjects and the consumers still take them, so messages written then
 * are worked off; the API moves the waiting ones to the new subjects at start (legacy-tasks.ts).
 */
export const LEGACY_TASK_SUBJECTS = "jetq.tasks.*.*.*";
export const legacyTaskSubjectById = (id: string) => `jetq.tasks.*.*.${id}`;
/**
 * A dead task's entry: `jetq.dlq.<type>.<taskId>` for the default tenant (and every entry written
 * before tenants), `jetq.dlq.<type>.<taskId>.<tenant>` for any other, so a tenant's entries are
 * counted and paged by subject filter on the server, never by reading them all.
 */
export const dlqSubject = (type: string, taskId: string, tenant: string = DEFAULT_TENANT) =>
  tenant === DEFAULT_TENANT ? `jetq.dlq.${type}.${taskId}` : `jetq.dlq.${type}.${taskId}.${subjectToken(tenant)}`;
export const consumerName = (pool: string, priority: Priority, lane: Lane = "shared") => `${pool}-${priorityToken(priority, lane)}`;

/** Priority, lane, type and (legacy subjects only) id of a work subject. */
export function parseTaskSubject(subject: string): { priority: Priority; lane: Lane; type: string; id?: string } | null {
  const parts = subject.split(".");
  const [a, b, token, type, id] = parts;
  if (a !== "jetq" || b !== "tasks" || !type || !token || parts.length > 5) return null;
  const lane: Lane = token.endsWith(OVERFLOW_SUFFIX) ? "overflow" : "shared";
  const priority = lane === "overflow" ? token.slice(0, -OVERFLOW_SUFFIX.length) : token;
  if (!PRIORITIES.includes(priority as Priority) || (lane === "overflow" && id)) return null;
  return id ? { priority: priority as Priority, lane, type, id } : { priority: priority as Priority, lane, type };
}

/** The advisories the DLQ is built from: attempts exhausted on the server, or terminated by a worker. */
export const advisorySubjects = () => [
  `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${TOPOLOGY.tasksStream}.*`,
  `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${TOPOLOGY.tasksStream}.*`,
];

/**
 * Consumer filter for one pool and priority. A pool that serves every type takes `jetq.tasks.<p>.>`;
 * a pool for some types lists them. Work-queue streams refuse overlapping filters, so pools must
 * partition the types between them: the server says so at start if two overlap.
 */
function consumerFilters(priority: Priority, taskTypes: string[], lane: Lane): Partial<ConsumerConfig> {
  const token = priorityToken(priority, lane);
  if (taskTypes.length === 0) return { filter_subject: `jetq.tasks.${token}.>` }; // both subject forms
  // filter_subject "" clears a single filter an earlier version set: an update merges into the
  // existing config, and the server refuses a consumer with both. Legacy subjects (with an id)
  // were all written before lanes: the shared lane takes them.
  return { filter_subject: "", filter_subjects: taskTypes.flatMap((t) => (lane === "shared" ? [`jetq.tasks.${token}.${t}`, `jetq.tasks.${token}.${t}.*`] : [`jetq.tasks.${token}.${t}`])) };
}

export function taskConsumerConfig(cfg: TopologyConfig, priority: Priority, taskTypes: string[], lane: Lane = "shared"): Partial<ConsumerConfig> {
  // No `backoff` list: nak ignores it anyway (explicit failures use nak(delay)), and on a consumer
  // that has one, nats-server (2.12.15 and 2.15.2, measured) ignores nak(delay) from the second
  // redelivery on and waits for the backoff entry instead. A crashed worker's tasks come back after
  // ack_wait.
  return {
    durable_name: consumerName(cfg.pool, priority, lane),
    description: `jetq ${cfg.pool} workers, ${priority} priority${lane === "overflow" ? ", overflow lane (fair share)" : ""}`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ms(cfg.ackWaitMs),
    max_deliver: cfg.maxDeliver,
    max_ack_pending: 50_000,
    max_waiting: 4096,
    ...consumerFilters(priority, taskTypes, lane),
  };
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }) {
  try {
    const info = await jsm.streams.info(config.name);
    const current = info.config as unknown as Record<string, unknown>;
    const changed = Object.entries(config).some(([k, v]) => JSON.stringify(current[k]) !== JSON.stringify(v));
    if (changed) await jsm.streams.update(config.name, { ...info.config, ...config });
  } catch (err) {
    if (err instanceof JetStreamApiError && err.status === 404) await jsm.streams.add(config);
    else throw err;
  }
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }) {
  try {
    const info = await jsm.consumers.info(stream, config.durable_name);
    const current = info.config as unknown as Record<string, unknown>;
    const changed =
      Object.entries(config).some(([k, v]) => JSON.stringify(current[k] || undefined) !== JSON.stringify(v || undefined)) ||
      (Array.isArray(current.backoff) && current.backoff.length > 0); // set by earlier versions; see taskConsumerConfig
    if (changed) await jsm.consumers.update(stream, config.durable_name, config);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.status === 404) await jsm.consumers.add(stream, config);
    else throw err;
  }
}

export interface EnsureOptions {
  /** Create this pool's task consumers too (workers); the API only needs the streams. */
  consumersFor?: { taskTypes: string[] };
}

export async function ensureTopology(nc: NatsConnection, jsm: JetStreamManager, cfg: TopologyConfig, opts: EnsureOptions = {}) {
  const storage = StorageType.File;
  const replicas = cfg.replicas;

  await ensureStream(jsm, {
    name: TOPOLOGY.tasksStream,
    description: "jetq work queue: jetq.tasks.<priority>.<type>, the task id in a header",
    subjects: ["jetq.tasks.*.*", LEGACY_TASK_SUBJECTS],
    retention: RetentionPolicy.Workqueue,
    storage,
    num_replicas: replicas,
    discard: DiscardPolicy.Old,
    duplicate_window: ms(cfg.duplicateWindowMs),
    // The DLQ mover reads max-delivered messages back by sequence.
    allow_direct: true,
  });

  await ensureStream(jsm, {
    name: TOPOLOGY.dlqStream,
    description: "jetq dead-letter queue: one message per dead task, jetq.dlq.<type>.<taskId>[.<tenant>]",
    subjects: ["jetq.dlq.*.*", "jetq.dlq.*.*.*"],
    retention: RetentionPolicy.Limits,
    storage,
    num_replicas: replicas,
    max_msgs_per_subject: 1,
    max_age: cfg.dlqMaxAgeSeconds > 0 ? cfg.dlqMaxAgeSeconds * 1_000_000_000 : 0,
    allow_direct: true,
  });

  // Advisories are plain publishes: without a stream capturing them they are gone.
  await ensureStream(jsm, {
    name: TOPOLOGY.advisoryStream,
    description: "captured MAX_DELIVERIES and MSG_TERMINATED advisories of the task consumers",
    subjects: advisorySubjects(),
    retention: RetentionPolicy.Workqueue,
    storage,
    num_replicas: replicas,
  });
  await ensureConsumer(jsm, TOPOLOGY.advisoryStream, {
    durable_name: TOPOLOGY.dlqMoverConsumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: ms(30_000),
    max_deliver: -1,
  });

  const kvm = new Kvm(nc);
  const republish = { src: `$KV.${TOPOLOGY.stateBucket}.>`, dest: `${TOPOLOGY.taskEventsPrefix}.>` };
  await kvm.create(TOPOLOGY.stateBucket, {
    history: 1,
    storage,
    replicas,
    // Per-message TTL lets finished tasks expire while queued ones stay however long they wait.
    markerTTL: 60_000,
    // Live task events without a consumer per listener: the server republishes each write.
    republish,
  });
  await ensureStream(jsm, { name: `KV_${TOPOLOGY.stateBucket}`, republish }); // buckets made before it existed
  await ensureQueuedIndexBucket(nc, jsm, replicas);
  await kvm.create(TOPOLOGY.idempotencyBucket, { history: 1, storage, replicas, markerTTL: 60_000 });
  // Worker presence: each worker refreshes its key; a dead worker's key ages out.
  await kvm.create(TOPOLOGY.workersBucket, { history: 1, storage, replicas, ttl: 30_000 });
  // Leases for "exactly one active" jobs (the sync scheduler): each holder writes its lease with a
  // per-message TTL longer than its own interval, so a dead holder's lease ages out and a live
  // one's never does between renewals. No bucket TTL (buckets made before lose theirs).
  await kvm.create(TOPOLOGY.leasesBucket, { history: 1, storage, replicas });
  await ensureStream(jsm, { name: `KV_${TOPOLOGY.leasesBucket}`, max_age: 0, allow_msg_ttl: true });
  // API keys: one record per key (its hash, tenant, role, expiry); a revoked key's record is deleted.
  await kvm.create(TOPOLOGY.keysBucket, { history: 1, storage, replicas });
  // Rate limits and quotas (api/limits/): atomic counter streams (Nats-Incr), one message per
  // subject. Windows age out after an hour (the longest window); usage counters never do.
  await ensureStream(jsm, { name: TOPOLOGY.ratesStream, subjects: ["jetq.rate.>"], storage, num_replicas: replicas, allow_msg_counter: true, max_msgs_per_subject: 1, max_age: ms(3_600_000) } as Partial<StreamConfig> & { name: string });
  await ensureStream(jsm, { name: TOPOLOGY.usageStream, subjects: ["jetq.usage.>"], storage, num_replicas: replicas, allow_msg_counter: true, max_msgs_per_subject: 1 } as Partial<StreamConfig> & { name: string });
  // Per-minute task counters (task-stats.ts): an hour of them, and a little more for the oldest minute.
  await ensureStream(jsm, { name: TOPOLOGY.statsStream, subjects: [`${TOPOLOGY.statsPrefix}.>`], storage, num_replicas: replicas, allow_msg_counter: true, allow_direct: true, max_msgs_per_subject: 1, max_age: ms(62 * 60_000) } as Partial<StreamConfig> & { name: string });
  // Task logs (task-logs.ts): the newest lines of each task, kept as long as a finished task's record.
  await ensureStream(jsm, {
    name: TOPOLOGY.taskLogsStream,
    description: "jetq task logs: what workers logged about each task, jetq.logs.<taskId>",
    subjects: [`${TOPOLOGY.taskLogsPrefix}.>`],
    retention: RetentionPolicy.Limits,
    storage,
    num_replicas: replicas,
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: Math.max(1, cfg.taskLogLines ?? 1_000),
    max_bytes: (cfg.taskLogsMaxMb ?? 1_024) * 1024 * 1024,
    max_msg_size: 16 * 1024,
    max_age: ms(cfg.finishedTtlSeconds * 1000),
    allow_direct: true,
    republish: { src: `${TOPOLOGY.taskLogsPrefix}.>`, dest: `${TOPOLOGY.taskLogEventsPrefix}.>` },
  });
  // WorkerPool snapshots: the operator rewrites each at every reconcile with a per-message TTL, so
  // the pools of an operator that stopped fade out instead of showing stale numbers.
  await kvm.create(TOPOLOGY.poolsBucket, { history: 1, storage: StorageType.Memory, replicas, markerTTL: 60_000 });

  if (opts.consumersFor) {
    for (const priority of PRIORITIES) {
      for (const lane of LANES) {
        await ensureConsumer(
          jsm,
          TOPOLOGY.tasksStream,
          taskConsumerConfig(cfg, priority, opts.consumersFor.taskTypes, lane) as Partial<ConsumerConfig> & { durable_name: string },
        );
      }
    }
  }
}

/**
 * The queued index's bucket (queued-index.ts). Entries live as long as their task waits; a worker's
 * first write removes one with a delete marker that itself expires (markerTTL lets markers carry a
 * TTL), so the bucket holds about one entry per queued task. Memory storage: a random lookup in a
 * file-stored bucket of a million entries loads a 4 MB block (bench/README.md). Made here when the
 * work stream is empty, the index is complete at once; otherwise the API's keeper fills it from the
 * work stream (queued-index-keeper.ts), which also makes the bucket again after a NATS restart.
 */
export async function ensureQueuedIndexBucket(nc: NatsConnection, jsm: JetStreamManager, replicas: number) {
  const kv = await new Kvm(nc).create(TOPOLOGY.queuedBucket, { history: 1, storage: StorageType.Memory, replicas, markerTTL: 60_000 });
  const { state } = await jsm.streams.info(TOPOLOGY.tasksStream);
  if (state.messages > 0) return;
  await kv.create(COMPLETE_KEY, JSON.stringify({ at: new Date().toISOString(), entries: 0, by: "an empty work stream" })).catch((err: unknown) => {
    if (!isConflict(err)) throw err;
  });
}
