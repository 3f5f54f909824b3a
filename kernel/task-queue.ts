// TaskQueue: the producer side. Validates a task against the registry, records its state,
// publishes it to the work stream, and cancels it. The API and task handlers (which chain
// tasks) both go through it, so every task is checked against the same schemas.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { JetqConnection } from "./connection.js";
import type { JetqMetrics } from "./metrics.js";
import { ConflictError, InvalidError, InvalidRequestError, JetqError, notFound, TooLargeError, UnavailableError } from "./errors.js";
import type { TaskTypeDefinition, TaskTypeRegistry } from "./registry.js";
import type { BatchSlot } from "./index-batches.js";
import { isLiveEntry } from "./kv-live.js";
import { isConflict, StaleRevisionError } from "./state-store.js";
import { DEFAULT_TENANT, PRIORITIES, tenantOf, type TaskRecord, type TaskSpec, type TaskStatus } from "./task.js";
import { PublishRejected, PublishUnconfirmedError } from "./stream-publisher.js";
import { legacyTaskSubjectById, TASK_ID_HEADER, taskSubject, TENANT_HEADER, TOPOLOGY, type Lane } from "./topology.js";
import { QuotaExceededError } from "./quota-exceeded.js";

/** The setting of the queued-tasks quota, named in its refusals and in GET /api/limits. */
export const QUEUED_TASKS_SETTING = "JETQ_TENANT_MAX_QUEUED";
/** JETQ_FAIR_SHARE_QUEUED's default, for connections made without the setting (tests, benches). */
const DEFAULT_FAIR_SHARE = 10;
import { TaskListing, type TaskListQuery, type TaskPage } from "./task-listing.js";
import { Refusal, transition } from "./transitions.js";
import { workMessageAt } from "./queued-index.js";
import type { QueuedEntry } from "./queued-entry.js";

/** Header carrying the revision of the queued record, so a worker's first write needs no read. */
export const REVISION_HEADER = "Jetq-Revision";

export const TaskSpecSchema = z
  .object({
    type: z.string().min(1).max(64),
    // Absent means {}; null is not an object (the document says object), so it is refused.
    payload: z.unknown().refine((p) => p !== null, "must be an object: send {} or leave it out, not null").optional(),
    priority: z.enum(PRIORITIES).default("normal"),
    // Well-formed Unicode: a lone surrogate would hash like U+FFFD and collide with other keys.
    // (String#isWellFormed is in Node 20; TypeScript's ES2022 lib does not list it.)
    idempotencyKey: z.string().min(1).max(256).refine((k) => (k as string & { isWellFormed(): boolean }).isWellFormed(), "must be well-formed Unicode (no lone surrogates)").optional(),
    maxAttempts: z.number().int().min(1).max(100).optional(),
    timeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional(),
  })
  .strict();

export interface TaskQueueOptions {
  defaultTimeoutSeconds: number;
  /** The consumers' max_deliver: the most attempts the server will make. */
  maxDeliver: number;
  /**
   * How long create() keeps trying to get NATS to confirm a task before it answers (default 3 s),
   * and how long it waits for each try (default 1 s). A caller waits about this long at most.
   */
  publishDeadlineMs?: number;
  publishAttemptMs?: number;
  /** Where tasks put on the work stream are counted (jetq_tasks_created_total); none in a process without metrics. */
  metrics?: Pick<JetqMetrics, "tasksCreated">;
}

/** Who a task is created for (issue #11): the caller's tenant; absent: DEFAULT_TENANT. */
export interface CreateOptions {
  tenant?: string;
}

/** Whose tasks a read may see: one tenant's, or (admin, the workers) every tenant's when `tenant` is absent. */
export interface TenantScope {
  tenant?: string;
}

export interface CreateResult {
  record: TaskRecord;
  /** false when an idempotency key matched an existing task. */
  created: boolean;
}

const issuesOf = (e: z.ZodError) => e.issues.map((i) => ({ path: i.path.join("."), message: i.message }));

export class TaskQueue {
  private listing: TaskListing | null = null;

  constructor(
    private readonly conn: JetqConnection,
    private readonly registry: TaskTypeRegistry,
    private readonly opts: TaskQueueOptions,
  ) {}

  /** Checks a create body; throws an InvalidRequestError or InvalidError naming every problem. */
  validate(body: unknown): TaskSpec & { priority: NonNullable<TaskSpec["priority"]> } {
    const depth = nestingDepth((body as { payload?: unknown } | null)?.payload, MAX_PAYLOAD_DEPTH);
    if (depth > MAX_PAYLOAD_DEPTH) {
      throw new InvalidError("invalid_payload", `the payload is nested more than ${MAX_PAYLOAD_DEPTH} levels deep`, [{ path: "payload", message: `at most ${MAX_PAYLOAD_DEPTH} levels of arrays and objects` }]);
    }
    const spec = TaskSpecSchema.safeParse(body);
    if (!spec.success) throw new InvalidRequestError("invalid_request", "the task request is not valid", issuesOf(spec.error));
    const def = this.registry.get(spec.data.type);
    if (!def) {
      throw new InvalidError("unknown_task_type", `unknown task type ${JSON.stringify(spec.data.type)}`, { known: this.registry.names() });
    }
    const payload = def.payload.safeParse(spec.data.payload ?? {});
    if (!payload.success) {
      throw new InvalidError("invalid_payload", `payload does not match the ${def.name} schema`, issuesOf(payload.error));
    }
    if (spec.data.maxAttempts !== undefined && spec.data.maxAttempts > this.opts.maxDeliver) {
      throw new InvalidError("invalid_request", `maxAttempts must be at most ${this.opts.maxDeliver} (the consumers' max_deliver)`, [
        { path: "maxAttempts", message: `at most ${this.opts.maxDeliver}` },
      ]);
    }
    return { ...spec.data, payload: payload.data };
  }

  /**
   * Accepts a task: one publish, and once it is acknowledged the task is queued and create
   * answers; its entry in the queued index follows (one write for the batch of creates made at
   * about the same time, index-batches.ts). A queued task has no state
   * record: its message on the work stream is its state (found by id through the index, see
   * find()); the record starts with its first transition, written by the worker that takes it, or
   * by a cancel.
   */
  async create(body: unknown, opts: CreateOptions = {}): Promise<CreateResult> {
    const spec = this.validate(body);
    const tenant = opts.tenant ?? DEFAULT_TENANT;
    const def = this.registry.get(spec.type)!;
    await def.admit?.(spec.payload, this.conn, tenant);
    // The task's id and its place in the queued index's open batch; a create that ends without
    // queuing it gives the place back (a slot queued or released already ignores the release).
    const slot = this.conn.queued.slot(this.confirm);
    try {
      return await this.createIn(slot, spec, tenant, def);
    } finally {
      slot.release();
    }
  }

  private async createIn(slot: BatchSlot, spec: ReturnType<TaskQueue["validate"]>, tenant: string, def: TaskTypeDefinition): Promise<CreateResult> {
    let id: string = slot.id;

    if (spec.idempotencyKey) {
      const claimed = await this.claimIdempotencyKey(spec.idempotencyKey, id, tenant);
      if (claimed !== id) {
        const existing = await this.find(claimed);
        if (existing) {
          // A key names one request: the same key with another type or payload is a client bug that
          // must not pass silently as a replay. (Priority may differ: the same work, scheduled
          // differently, as when a scheduled and a manual sync find the same new document.)
          const r = existing.record;
          // Keys are claimed per tenant, so the owner is this tenant's; never hand out another's.
          if (tenantOf(r) !== tenant) throw new ConflictError("conflict", "the idempotency key's task belongs to another tenant");
          if (r.type !== spec.type || canonicalJson(r.payload) !== canonicalJson(spec.payload)) {
            throw new InvalidError("idempotency_key_reused", `idempotencyKey was already used for a different request (task ${r.id})`, { taskId: r.id });
          }
          return { record: r, created: false };
        }
        // The first creator claimed the key but its task is not there (yet, or it died before
        // publishing): finish the job under the claimed id; dedupe makes a race harmless.
        slot.release();
        id = claimed;
      }
    }

    const record: TaskRecord = {
      id,
      type: spec.type,
      payload: spec.payload,
      priority: spec.priority,
      maxAttempts: Math.min(spec.maxAttempts ?? def.defaultMaxAttempts ?? this.opts.maxDeliver, this.opts.maxDeliver),
      timeoutSeconds: spec.timeoutSeconds ?? def.defaultTimeoutSeconds ?? this.opts.defaultTimeoutSeconds,
      createdAt: new Date().toISOString(),
      tenant,
      ...(spec.idempotencyKey ? { idempotencyKey: spec.idempotencyKey } : {}),
      status: "queued",
      attempts: 0,
      progress: { percent: 0 },
    };
    // Encoded once: the work message and the queued index's entry carry the same bytes.
    const encoded = Buffer.from(JSON.stringify(record));
    // A message over the server's max_payload can never be published: say so, not "try again".
    const maxPayload = this.conn.nc.info?.max_payload ?? Infinity;
    const bytes = encoded.byteLength;
    if (bytes + 256 > maxPayload) { // 256: room for the message's headers
      throw new TooLargeError("payload_too_large", `the task is ${bytes} bytes; NATS accepts messages up to ${maxPayload} bytes (headers included)`, { bytes, maxPayload });
    }
    const lane = this.admitNow(tenant) ?? (await this.admitAfterRead(tenant));
    let seq: number;
    try {
      seq = (await this.conn.publisher.publishConfirmed(taskSubject(record.priority, record.type, lane), encoded, { msgId: id }, this.confirm)).seq;
    } catch (err) {
      const refused = unqueued(err, id);
      // Not queued for sure: give back the place admit() counted (an unknown outcome keeps it).
      if (refused.code !== "outcome_unknown") this.release(tenant);
      throw refused;
    }
    // The task is queued now, whatever becomes of its index entry: its batch is written once the
    // other creates of the batch are answered too (this process finds the task meanwhile; queued()
    // waits only when many batches are behind), an unconfirmed one is written again in the
    // background, and without one the task still runs and is found by id once a worker has taken
    // it. A claimed id from another create belongs to another batch: it gets an entry of its own.
    if (id === slot.id) await slot.queued(seq, encoded);
    else await this.conn.queued.putOrRetry(id, seq, encoded, this.confirm);
    // Counted here, once per task, whoever creates it: HTTP, a handler's ctx.enqueue, the scheduler.
    this.opts.metrics?.tasksCreated.inc({ type: record.type, priority: record.priority });
    this.conn.stats.arrived();
    return { record, created: true };
  }

  /**
   * The lane a new task of this tenant takes (fair share, topology.ts LANES), after the
   * queued-tasks quota: both from the tenant's unfinished tasks as this process knows them
   * (tenant-backlog.ts, an estimate that may run a few tasks behind under load).
   */
  async admit(tenant: string): Promise<Lane> {
    return this.admitNow(tenant) ?? this.admitAfterRead(tenant);
  }

  /** admit() when it needs no read (no limits, or the tenant's counter heard just now); else null. */
  private admitNow(tenant: string): Lane | null {
    const { fairShare, max } = this.tenantLimits();
    if (fairShare === 0 && max === 0) {
      this.conn.backlog.added(tenant); // still counted: the worker takes every message that names a tenant off
      return "shared";
    }
    if (!this.conn.backlog.isFresh(tenant)) return null;
    return this.laneFor(tenant, this.conn.backlog.reserveKnown(tenant, max));
  }

  /** admit() once the tenant's counter has been read again. */
  private async admitAfterRead(tenant: string): Promise<Lane> {
    // Counted at once, before the publish (given back if it fails), so concurrent creates in this
    // process each see the others.
    return this.laneFor(tenant, await this.conn.backlog.reserve(tenant, this.tenantLimits().max));
  }

  private laneFor(tenant: string, { waiting, reserved }: { waiting: number; reserved: boolean }): Lane {
    const { fairShare, max } = this.tenantLimits();
    if (!reserved) throw new QuotaExceededError(QUEUED_TASKS_SETTING, tenant, max, waiting, 1);
    return fairShare > 0 && waiting >= fairShare ? "overflow" : "shared";
  }

  private tenantLimits() {
    return { fairShare: this.conn.topology.fairShareQueued ?? DEFAULT_FAIR_SHARE, max: this.conn.topology.maxQueuedPerTenant ?? 0 };
  }

  /** Gives back a place admit() counted for a task that was not put on the work stream after all. */
  release(tenant: string): void {
    this.conn.backlog.added(tenant, -1);
  }

  private get confirm() {
    const deadlineMs = this.opts.publishDeadlineMs ?? 3000;
    return { deadlineMs, attemptMs: Math.min(this.opts.publishAttemptMs ?? 1000, deadlineMs) };
  }

  /**
   * Publishes a queued task to the work stream; the message is the queued record itself. When a
   * state record exists already (a replay from the DLQ), its revision travels in a header so the
   * worker's first write is a compare-and-set on it; without one the worker's first write creates it.
   * `admitted` is the lane admit() gave the task: a replay counts against the quota like a create
   * (the caller gives the place back with release() if this throws).
   */
  async publish(record: TaskRecord, revision: number, msgId: string, admitted: Lane): Promise<void> {
    await this.conn.publisher.publish(taskSubject(record.priority, record.type, admitted), JSON.stringify(record), {
      msgId,
      headers: { [TASK_ID_HEADER]: record.id, [TENANT_HEADER]: tenantOf(record), ...(revision > 0 ? { [REVISION_HEADER]: String(revision) } : {}) },
    });
    // Only replays come through here (create publishes itself): a replay is a task put on the
    // work stream again, so it counts as created, once.
    this.opts.metrics?.tasksCreated.inc({ type: record.type, priority: record.priority });
    this.conn.stats.arrived();
  }

  /** The task, when it is in `scope`: another tenant's is a 404 like a missing one (its existence is not revealed). */
  async get(id: string, scope: TenantScope = {}): Promise<TaskRecord> {
    const found = await this.find(id);
    if (!found || !inScope(found.record, scope)) throw notFound("task", id);
    return found.record;
  }

  /**
   * The task's state record, or for a queued task its queued record and work-stream sequence from
   * the queued index: two direct gets (the first a miss), however deep the queue (a third, of the
   * work message, for a record too large to be kept in the index).
   */
  async find(id: string): Promise<{ record: TaskRecord; streamSeq?: number } | null> {
    const stored = await this.conn.state.lookup(id);
    // A record removed or expired (its marker is there): the task is not waiting, whatever its
    // queued-index batch still says until the keeper's compaction comes by.
    if (stored === "gone") return null;
    if (stored) return { record: stored.record };
    const queued = await this.fromEntry(id, await this.conn.queued.entry(id));
    if (queued) return queued;
    const msg = await this.legacyMessage(id);
    if (msg) return { record: msg.json<TaskRecord>(), streamSeq: msg.seq };
    // A worker may have taken it between the reads: its record is there now.
    const now = await this.conn.state.get(id);
    if (now) return { record: now.record };
    // Not indexed, but the index is being rebuilt (NATS lost it): the task may be waiting all the same.
    if (!(await this.conn.queued.complete())) {
      throw new UnavailableError("index_rebuilding", "the index of queued tasks is being rebuilt after a NATS restart; try again in a few seconds", { taskId: id });
    }
    // Created a moment ago by another process, whose batch of index entries may be on its way.
    if (!this.conn.queued.isRecent(id)) return null;
    const recent = await this.fromEntry(id, await this.conn.queued.entryOfRecent(id));
    if (recent) return recent;
    const later = await this.conn.state.get(id); // a worker may have taken it while we waited
    return later ? { record: later.record } : null;
  }

  /** The task an index entry names: its record, or the work message at its sequence for a large one. */
  private async fromEntry(id: string, queued: QueuedEntry | null): Promise<{ record: TaskRecord; streamSeq: number } | null> {
    if (!queued) return null;
    if (queued.record) return { record: queued.record, streamSeq: queued.seq };
    const msg = await workMessageAt(this.conn.jsm, queued.seq, id);
    return msg ? { record: msg.json<TaskRecord>(), streamSeq: msg.seq } : null;
  }

  /** A message written before the queued index, under `jetq.tasks.<p>.<type>.<id>` (its subject names the task). */
  private legacyMessage(id: string) {
    return this.conn.jsm.direct.getMessage(TOPOLOGY.tasksStream, { next_by_subj: legacyTaskSubjectById(id), seq: 1 } as never).catch(() => null);
  }

  /**
   * Cancels a queued, retrying or running task. The state record is the authority: a worker that
   * picks the task up later, or finishes it now, sees `cancelled` and drops it. The broadcast tells
   * a worker running it to abort its handler at once.
   */
  async cancel(id: string, scope: TenantScope = {}): Promise<TaskRecord> {
    // A task's tenant never changes, so one check before the compare-and-set loop is enough.
    if (scope.tenant !== undefined) await this.get(id, scope);
    for (let i = 0; i < 5; i++) {
      let endedAs: TaskStatus | undefined;
      const result = await this.conn.state.update(id, (r) => {
        const next = transition(r, { kind: "cancel", at: new Date().toISOString() });
        if (!(next instanceof Refusal)) return next;
        endedAs = next.status;
        return null;
      });
      if (endedAs) throw new ConflictError("already_finished", `task ${id} has already ${endedAs}`, { status: endedAs });
      if (result) {
        this.conn.nc.publish(TOPOLOGY.cancelSubject, id);
        this.conn.stats.ended("cancelled", 0); // counted here, where every cancel is decided, not by the worker that stops
        // A replayed task waits with a record; its message is gone once a worker drops it.
        return result.record;
      }
      // No state record: still queued. Record the cancel (first writer wins against a worker taking
      // it), then take the message off the stream so no worker ever runs it.
      const queued = await this.find(id);
      if (!queued) throw notFound("task", id);
      const cancelled = transition(null, { kind: "cancel", at: new Date().toISOString() }, queued.record);
      try {
        await this.conn.state.create(cancelled);
      } catch (err) {
        if (err instanceof StaleRevisionError) continue; // a worker wrote first: cancel that record
        throw err;
      }
      if (queued.streamSeq) {
        const deleted = await this.conn.jsm.streams.deleteMessage(TOPOLOGY.tasksStream, queued.streamSeq, false).catch(() => false);
        // No worker will ever receive it now, so none takes it off the tenant's waiting count.
        if (deleted) this.conn.backlog.taken(tenantOf(queued.record));
      }
      this.conn.queued.forget(id);
      this.conn.nc.publish(TOPOLOGY.cancelSubject, id);
      this.conn.stats.ended("cancelled", 0);
      return cancelled;
    }
    throw new ConflictError("conflict", `task ${id} kept changing; try again`);
  }

  /** One page of tasks: see TaskListing for the orders and what a cursor promises. */
  list(query: TaskListQuery): Promise<TaskPage> {
    return (this.listing ??= new TaskListing(this.conn)).page(query);
  }

  /**
   * Records `taskId` as the owner of an idempotency key unless one already does; returns the owner.
   * A KV key per idempotency key outlives the stream's dedupe window; it expires with finished tasks.
   */
  private async claimIdempotencyKey(key: string, taskId: string, tenant: string): Promise<string> {
    const kvKey = idempotencyKvKey(tenant, key);
    const subject = `$KV.${TOPOLOGY.idempotencyBucket}.${kvKey}`;
    const ttl = `${this.conn.topology.finishedTtlSeconds}s`;
    try {
      try {
        await this.conn.publisher.publishConfirmed(subject, taskId, { expectLastSubjectSequence: 0, ttl }, this.confirm);
        return taskId;
      } catch (err) {
        if (!isConflict(err)) throw err;
        const owner = await this.conn.idempotency.get(kvKey);
        if (isLiveEntry(owner)) return owner.string();
        // The previous owner expired (a delete marker): claim it over that marker.
        await this.conn.publisher.publishConfirmed(subject, taskId, { expectLastSubjectSequence: owner?.revision ?? 0, ttl }, this.confirm);
        return taskId;
      }
    } catch (err) {
      // No task was published yet, whatever became of the claim: a retry with the same key finds
      // the claim (or makes it) and queues the task under it, once.
      if (err instanceof JetqError) throw err;
      throw new UnavailableError("unavailable", "NATS did not answer in time; the task was not queued: try again (with the same idempotencyKey)", { outcome: "not_queued", cause: String((err as Error).message) });
    }
  }
}

/** Whether a task is in a read's scope: any task when the scope names no tenant. */
export const inScope = (r: TaskRecord, scope: TenantScope): boolean => scope.tenant === undefined || tenantOf(r) === scope.tenant;

/**
 * The idempotency bucket's key for a tenant's key. DEFAULT_TENANT keeps the bare hash it had before
 * tenants (so a key claimed then still finds its task); any other tenant's sits under
 * `t.<hash of tenant>.`, a shape a bare hash (no dots) can never take, so no two tenants share one.
 */
export function idempotencyKvKey(tenant: string, key: string): string {
  const hash = createHash("sha256").update(key).digest("hex");
  if (tenant === DEFAULT_TENANT) return hash;
  return `t.${createHash("sha256").update(tenant).digest("hex").slice(0, 32)}.${hash}`;
}

/**
 * The error for a create whose publish was not confirmed. Either nothing can have been stored (the
 * client may simply retry), or the task may yet appear: then its id is in the details, so that the
 * client can look it up instead of creating it twice.
 */
function unqueued(err: unknown, taskId: string): JetqError {
  const cause = String((err as Error).message);
  if (err instanceof PublishUnconfirmedError && !err.maybeStored) {
    return new UnavailableError("unavailable", "NATS refused the task; it was not queued: try again", { outcome: "not_queued", cause });
  }
  if (err instanceof PublishRejected && err.status === 413) {
    return new TooLargeError("payload_too_large", `NATS refused the task as too large: ${err.message}`, { outcome: "not_queued", cause });
  }
  if (err instanceof PublishRejected) {
    return new UnavailableError("unavailable", `NATS refused the task; it was not queued: ${err.message}`, { outcome: "not_queued", cause });
  }
  return new UnavailableError(
    "outcome_unknown",
    `NATS did not confirm task ${taskId} in time: it may or may not have been queued. Look it up by its id before creating it again; a retry with the same idempotencyKey never creates it twice`,
    { outcome: "unknown", taskId, cause },
  );
}


/** Arrays and objects inside arrays and objects, this deep at most: deeper is refused at create. */
const MAX_PAYLOAD_DEPTH = 64;

/** How deeply `v` nests arrays and objects, counting no further than `limit + 1`. */
function nestingDepth(v: unknown, limit: number): number {
  if (v === null || typeof v !== "object") return 0;
  if (limit < 0) return 1; // too deep already: stop before the stack does
  let deepest = 0;
  for (const child of Array.isArray(v) ? v : Object.values(v)) {
    if (deepest > limit) break;
    deepest = Math.max(deepest, nestingDepth(child, limit - 1));
  }
  return deepest + 1;
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value && typeof value === "object" && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : value,
  );
}
