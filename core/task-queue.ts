// TaskQueue: the producer side. Validates a task against the registry, records its state,
// publishes it to the work stream, and cancels it. The API and task handlers (which chain
// tasks) both go through it, so every task is checked against the same schemas.
import { createHash, randomUUID } from "node:crypto";
import { z } from "zod";
import type { JetqConnection } from "./connection.js";
import { ApiError, notFound } from "./errors.js";
import type { TaskTypeRegistry } from "./registry.js";
import { isConflict, StaleRevisionError } from "./state-store.js";
import { isTerminal, PRIORITIES, type TaskRecord, type TaskSpec, type TaskStatus } from "./task.js";
import { taskSubject, TOPOLOGY } from "./topology.js";

/** Header carrying the revision of the queued record, so a worker's first write needs no read. */
export const REVISION_HEADER = "Jetq-Revision";

export const TaskSpecSchema = z
  .object({
    type: z.string().min(1).max(64),
    payload: z.unknown().optional(),
    priority: z.enum(PRIORITIES).default("normal"),
    idempotencyKey: z.string().min(1).max(256).optional(),
    maxAttempts: z.number().int().min(1).max(100).optional(),
    timeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional(),
  })
  .strict();

export interface TaskQueueOptions {
  defaultTimeoutSeconds: number;
  /** The consumers' max_deliver: the most attempts the server will make. */
  maxDeliver: number;
}

export interface CreateResult {
  record: TaskRecord;
  /** false when an idempotency key matched an existing task. */
  created: boolean;
}

export interface ListFilter {
  status?: TaskStatus;
  type?: string;
  limit: number;
  offset: number;
}

const issuesOf = (e: z.ZodError) => e.issues.map((i) => ({ path: i.path.join("."), message: i.message }));

export class TaskQueue {
  constructor(
    private readonly conn: JetqConnection,
    private readonly registry: TaskTypeRegistry,
    private readonly opts: TaskQueueOptions,
  ) {}

  /** Checks a create body; throws ApiError 400/422 naming every problem. */
  validate(body: unknown): TaskSpec & { priority: NonNullable<TaskSpec["priority"]> } {
    const spec = TaskSpecSchema.safeParse(body);
    if (!spec.success) throw new ApiError(400, "invalid_request", "the task request is not valid", issuesOf(spec.error));
    const def = this.registry.get(spec.data.type);
    if (!def) {
      throw new ApiError(422, "unknown_task_type", `unknown task type ${JSON.stringify(spec.data.type)}`, { known: this.registry.names() });
    }
    const payload = def.payload.safeParse(spec.data.payload ?? {});
    if (!payload.success) {
      throw new ApiError(422, "invalid_payload", `payload does not match the ${def.name} schema`, issuesOf(payload.error));
    }
    if (spec.data.maxAttempts !== undefined && spec.data.maxAttempts > this.opts.maxDeliver) {
      throw new ApiError(422, "invalid_request", `maxAttempts must be at most ${this.opts.maxDeliver} (the consumers' max_deliver)`, [
        { path: "maxAttempts", message: `at most ${this.opts.maxDeliver}` },
      ]);
    }
    return { ...spec.data, payload: payload.data };
  }

  async create(body: unknown): Promise<CreateResult> {
    const spec = this.validate(body);
    const def = this.registry.get(spec.type)!;
    let id: string = randomUUID();

    if (spec.idempotencyKey) {
      const claimed = await this.claimIdempotencyKey(spec.idempotencyKey, id);
      if (claimed !== id) {
        const existing = await this.conn.state.get(claimed);
        if (existing) return { record: existing.record, created: false };
        // The first creator claimed the key but its task record is not there (yet, or it died
        // before writing it): finish the job under the claimed id; dedupe makes a race harmless.
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
      ...(spec.idempotencyKey ? { idempotencyKey: spec.idempotencyKey } : {}),
      status: "queued",
      attempts: 0,
      progress: { percent: 0 },
    };
    let revision: number;
    const json = JSON.stringify(record); // the state record and the message are the same bytes
    try {
      revision = await this.conn.state.create(record, json);
    } catch (err) {
      if (!(err instanceof StaleRevisionError)) throw err;
      const existing = await this.conn.state.get(id);
      if (existing) return { record: existing.record, created: false };
      throw err;
    }
    try {
      await this.publish(record, revision, id, json);
    } catch (err) {
      // Not on the stream means not accepted: take the record back so nothing claims it is queued.
      await this.conn.state.update(id, (r) => (r.status === "queued" ? { ...r, status: "failed", finishedAt: new Date().toISOString(), error: { code: "publish_failed", message: String((err as Error).message), retryable: true, attempt: 0 } } : null)).catch(() => undefined);
      throw new ApiError(503, "unavailable", "the task could not be queued; try again", { cause: String((err as Error).message) });
    }
    return { record, created: true };
  }

  /** Publishes a queued record's task to the work stream. `msgId` dedupes within the window. */
  async publish(record: TaskRecord, revision: number, msgId: string, json = JSON.stringify(record)): Promise<void> {
    // The message is the queued record itself, so a worker can claim it without reading KV first.
    await this.conn.publisher.publish(taskSubject(record.priority, record.type), json, { msgId, headers: { [REVISION_HEADER]: String(revision) } });
  }

  async get(id: string): Promise<TaskRecord> {
    const found = await this.conn.state.get(id);
    if (!found) throw notFound("task", id);
    return found.record;
  }

  /**
   * Cancels a queued, retrying or running task. The state record is the authority: a worker that
   * picks the task up later, or finishes it now, sees `cancelled` and drops it. The broadcast tells
   * a worker running it to abort its handler at once.
   */
  async cancel(id: string): Promise<TaskRecord> {
    let endedAs: TaskStatus | undefined;
    const result = await this.conn.state.update(id, (r) => {
      if (isTerminal(r.status)) {
        endedAs = r.status;
        return null;
      }
      return { ...r, status: "cancelled", finishedAt: new Date().toISOString() };
    });
    if (!result) throw notFound("task", id);
    if (endedAs) throw new ApiError(409, "already_finished", `task ${id} has already ${endedAs}`, { status: endedAs });
    this.conn.nc.publish(TOPOLOGY.cancelSubject, id);
    return result.record;
  }

  /** Lists tasks, newest first. Scans the state bucket (bounded by the finished-task TTL). */
  async list(filter: ListFilter): Promise<{ items: TaskRecord[]; total: number }> {
    const all = (await this.conn.state.list())
      .filter((r) => (!filter.status || r.status === filter.status) && (!filter.type || r.type === filter.type))
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1));
    return { items: all.slice(filter.offset, filter.offset + filter.limit), total: all.length };
  }

  /**
   * Records `taskId` as the owner of an idempotency key unless one already does; returns the owner.
   * A KV key per idempotency key outlives the stream's dedupe window; it expires with finished tasks.
   */
  private async claimIdempotencyKey(key: string, taskId: string): Promise<string> {
    const kvKey = createHash("sha256").update(key).digest("hex");
    const subject = `$KV.${TOPOLOGY.idempotencyBucket}.${kvKey}`;
    const ttl = `${this.conn.topology.finishedTtlSeconds}s`;
    try {
      await this.conn.publisher.publish(subject, taskId, { expectLastSubjectSequence: 0, ttl });
      return taskId;
    } catch (err) {
      if (!isConflict(err)) throw err;
      const owner = await this.conn.idempotency.get(kvKey);
      if (owner && owner.operation === "PUT" && owner.value.length) return owner.string();
      // The previous owner expired (a delete marker): claim it over that marker.
      await this.conn.publisher.publish(subject, taskId, { expectLastSubjectSequence: owner?.revision ?? 0, ttl });
      return taskId;
    }
  }
}
