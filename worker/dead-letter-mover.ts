// DeadLetterMover: turns captured advisories into dead-letter entries. Runs in every worker; the
// advisory stream is a work queue, so each advisory is handled once whichever worker takes it.
//  - MAX_DELIVERIES: the server gave up (attempts exhausted, or workers kept crashing or timing
//    out). The message is still on the work stream: copy it with its last error, then delete it.
//  - MSG_TERMINATED: a worker gave up (non-retryable error, or its own attempt limit) and the
//    work queue already dropped the message; the task record carries everything to copy.
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { JetqConnection } from "../kernel/connection.js";
import { DeadLetterQueue, type DeadLetter, type DeathReason } from "../kernel/dead-letters.js";
import type { TaskError } from "../kernel/errors.js";
import type { Logger } from "../kernel/logger.js";
import type { JetqMetrics } from "../kernel/metrics.js";
import { taskMessageOf, type TaskRecord } from "../kernel/task.js";
import type { TaskQueue } from "../kernel/task-queue.js";
import { countedTenant, taskSubject, TOPOLOGY } from "../kernel/topology.js";
import { Refusal, refusalOf, transition, type TaskEvent } from "../kernel/transitions.js";
import { DEAD_LETTER_REASON } from "./task-attempt.js";

interface Advisory {
  type: string;
  stream: string;
  consumer: string;
  stream_seq: number;
  deliveries: number;
  reason?: string;
}

/** Advisories handled at once by one mover. */
const MOVES_IN_FLIGHT = 32;

export class DeadLetterMover {
  private messages: ConsumerMessages | null = null;
  private done: Promise<void> | null = null;
  private readonly dlq: DeadLetterQueue;

  constructor(
    private readonly conn: JetqConnection,
    queue: TaskQueue,
    private readonly log: Logger,
    private readonly metrics: JetqMetrics,
  ) {
    this.dlq = new DeadLetterQueue(conn, queue);
  }

  async start() {
    const consumer = await this.conn.js.consumers.get(TOPOLOGY.advisoryStream, TOPOLOGY.dlqMoverConsumer);
    this.messages = await consumer.consume({ max_messages: 64 });
    this.done = (async () => {
      // Several advisories at once: each is a few round trips to NATS, so one at a time moved
      // about 300 a second, and a burst of failures took minutes to show in the DLQ. Each
      // advisory names one task and every write it makes is idempotent or a compare-and-set,
      // so their order does not matter.
      const inFlight = new Set<Promise<void>>();
      for await (const m of this.messages!) {
        const moving: Promise<void> = this.move(m).finally(() => inFlight.delete(moving));
        inFlight.add(moving);
        if (inFlight.size >= MOVES_IN_FLIGHT) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    })();
  }

  /** Handles one advisory, then acks it; a failure is retried (nak with a delay). Never throws. */
  private async move(m: JsMsg): Promise<void> {
    try {
      await this.handle(m);
      m.ack();
    } catch (err) {
      const adv = safeJson<Advisory>(m);
      // The task id is in a terminate reason; a MAX_DELIVERIES advisory has only the sequence.
      const taskId = taskIdOfReason(adv?.reason);
      this.log.warn("dead-letter move failed; will retry", { taskId, streamSeq: adv?.stream_seq, error: String(err), subject: m.subject });
      m.nak(2_000);
    }
  }

  async stop() {
    await this.messages?.close();
    await this.done;
  }

  private async handle(m: JsMsg) {
    const adv = m.json<Advisory>();
    if (adv.stream !== TOPOLOGY.tasksStream) return;
    if (m.subject.includes(".MAX_DELIVERIES.")) await this.fromMaxDeliveries(adv);
    else if (m.subject.includes(".MSG_TERMINATED.")) await this.fromTerminated(adv);
  }

  private async fromMaxDeliveries(adv: Advisory) {
    const original = await this.conn.jsm.streams.getMessage(TOPOLOGY.tasksStream, { seq: adv.stream_seq }).catch(() => null);
    if (!original) return; // already moved by an earlier copy of this advisory
    const task = original.json<TaskRecord>();
    const stored = await this.conn.state.get(task.id);
    const status = stored?.record.status;
    // The message leaves the stream here, not through a worker's ack: take it off its tenant's count.
    const settle = async () => {
      const deleted = await this.conn.jsm.streams.deleteMessage(TOPOLOGY.tasksStream, adv.stream_seq, false);
      const tenant = countedTenant(original.header, task);
      if (deleted && tenant) this.conn.backlog.taken(tenant);
    };
    if (refusalOf(stored?.record ?? null, "dead-letter")) {
      // It ended (succeeded or cancelled) in the meantime; the leftover message is just garbage on a work queue.
      await settle();
      return;
    }
    const error: TaskError = stored?.record.error && status !== "running"
      ? stored.record.error
      : {
          code: "max_deliveries",
          message: `delivered ${adv.deliveries} times without an outcome: the worker crashed, hung past its hard time limit, or lost its connection`,
          retryable: true,
          attempt: adv.deliveries,
        };
    await this.record(task, stored?.record, error, adv.deliveries, "max_deliveries", original.subject, adv.stream_seq);
    await settle();
  }

  private async fromTerminated(adv: Advisory) {
    const taskId = taskIdOfReason(adv.reason);
    if (!taskId) {
      this.log.warn("task message terminated without a task id; nothing to dead-letter", { reason: adv.reason, streamSeq: adv.stream_seq });
      return;
    }
    const stored = await this.conn.state.get(taskId);
    if (!stored) {
      this.log.error("terminated task has no state record; cannot dead-letter it", { taskId });
      return;
    }
    const r = stored.record;
    const error = r.error ?? { code: "terminated", message: "terminated by a worker", retryable: false, attempt: adv.deliveries };
    await this.record(r, r, error, adv.deliveries, "terminated", taskSubject(r.priority, r.type), adv.stream_seq);
  }

  private async record(task: TaskRecord, current: TaskRecord | undefined, error: TaskError, attempts: number, reason: DeathReason, subject: string, streamSeq: number) {
    const entry: DeadLetter = {
      task: taskMessageOf(task),
      error,
      attempts,
      reason,
      deadLetteredAt: new Date().toISOString(),
      subject,
      streamSeq,
    };
    await this.dlq.add(entry);
    const deadLetter: TaskEvent = { kind: "dead-letter", error, attempts, at: new Date().toISOString() };
    const updated = await this.conn.state.update(task.id, (r) => {
      const next = transition(r, deadLetter);
      return next instanceof Refusal ? null : next;
    });
    if (!updated && current === undefined) {
      // No record left (expired): write one so the task's fate can still be looked up.
      await this.conn.state.create(transition(null, deadLetter, task)).catch(() => undefined);
    }
    this.metrics.deadLettered.inc({ type: task.type, reason });
    this.log.warn("task dead-lettered", { taskId: task.id, type: task.type, reason, error });
  }
}

function safeJson<T>(m: JsMsg): T | null {
  try {
    return m.json<T>();
  } catch {
    return null;
  }
}

/** The task id a worker put in its term() reason (`jetq:dead-letter:<id> <code>`), if it is one. */
function taskIdOfReason(reason: string | undefined): string | undefined {
  return reason?.startsWith(DEAD_LETTER_REASON) ? reason.slice(DEAD_LETTER_REASON.length).split(" ")[0] || undefined : undefined;
}
