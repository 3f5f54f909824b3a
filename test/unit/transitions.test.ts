// The transition table of a task, row by row: every event from every state, legal and illegal.
// Each row names the rule it protects; the writers (worker attempt, cancel, dead-letter mover,
// replay) only add their compare-and-set around these answers.
import { describe, expect, it } from "vitest";
import type { TaskError } from "../../kernel/errors.js";
import { TASK_STATUSES, type TaskMessage, type TaskRecord, type TaskStatus } from "../../kernel/task.js";
import { Refusal, refusalOf, transition, type AttemptStamp, type TaskEvent, type TaskEventKind } from "../../kernel/transitions.js";

const T0 = "2026-12-01T10:00:00.000Z";
const T1 = "2026-12-01T10:00:05.000Z";
const T2 = "2026-12-01T10:00:09.000Z";

const message: TaskMessage = { id: "t-1", type: "noop", payload: { n: 1 }, priority: "high", maxAttempts: 3, timeoutSeconds: 60, createdAt: T0 };
/** The queued task as create() publishes it: the message is the queued record. */
const queued: TaskRecord = { ...message, status: "queued", attempts: 0, progress: { percent: 0 }, idempotencyKey: "k-1" };
const record = (status: TaskStatus, more: Partial<TaskRecord> = {}): TaskRecord => ({ ...queued, status, ...more });

const by = (attempt: number, workerId = "w-1", claimedAt = T1): AttemptStamp => ({ attempt, workerId, claimedAt });
const boom = (retryable: boolean, attempt = 1): TaskError => ({ code: "boom", message: "it broke", retryable, attempt });

const start = (attempt = 1): TaskEvent => ({ kind: "start", by: by(attempt) });
const progress = (percent: number, attempt = 1): TaskEvent => ({ kind: "progress", by: by(attempt), progress: { percent, message: "working" } });
const succeed = (result: unknown, attempt = 1): TaskEvent => ({ kind: "succeed", by: by(attempt), result, at: T2 });
const fail = (error: TaskError, attempt = 1): TaskEvent => ({ kind: "fail", by: by(attempt), error, nextAttemptAt: T2, at: T2 });
const cancel: TaskEvent = { kind: "cancel", at: T2 };
const deadLetter = (attempts: number, error = boom(true, attempts)): TaskEvent => ({ kind: "dead-letter", error, attempts, at: T2 });
const replay: TaskEvent = { kind: "replay", at: T2 };

const EVENTS: Record<TaskEventKind, TaskEvent> = {
  start: start(),
  progress: progress(10),
  succeed: succeed("ok"),
  fail: fail(boom(true)),
  cancel,
  "dead-letter": deadLetter(1),
  replay,
};

/** The record a legal transition returns; fails the test with the refusal otherwise. */
const next = (from: TaskRecord | null, event: TaskEvent, msg: TaskMessage = queued): TaskRecord => {
  const r = from ? transition(from, event) : transition(null, event, msg);
  if (r instanceof Refusal) throw new Error(`refused: ${r.message}`);
  return r;
};
const refused = (from: TaskRecord, event: TaskEvent) => {
  const r = transition(from, event);
  expect(r).toBeInstanceOf(Refusal);
  return r as Refusal;
};

describe("which events each state allows", () => {
  // status → the events it refuses. Everything not listed is allowed.
  const REFUSES: Record<TaskStatus, TaskEventKind[]> = {
    queued: ["replay"],
    running: ["replay"],
    retrying: ["replay"],
    succeeded: ["start", "progress", "succeed", "fail", "cancel", "dead-letter", "replay"],
    cancelled: ["start", "progress", "succeed", "fail", "cancel", "dead-letter", "replay"],
    // A failed task is over for its attempts and for cancel, but the mover still dead-letters it
    // (that is how a failure ends) and only a failed task can be replayed.
    failed: ["start", "progress", "succeed", "fail", "cancel"],
  };

  for (const status of TASK_STATUSES) {
    for (const kind of Object.keys(EVENTS) as TaskEventKind[]) {
      const illegal = REFUSES[status].includes(kind);
      it(`${kind} on a ${status} task is ${illegal ? "refused" : "allowed"}`, () => {
        const result = transition(record(status), EVENTS[kind]);
        expect(result instanceof Refusal).toBe(illegal);
        expect(refusalOf(record(status), kind) !== null).toBe(illegal);
      });
    }
  }

  it("a task with no record yet allows every event", () => {
    for (const event of Object.values(EVENTS)) expect(transition(null, event, queued)).not.toBeInstanceOf(Refusal);
    for (const kind of Object.keys(EVENTS) as TaskEventKind[]) expect(refusalOf(null, kind)).toBeNull();
  });
});

describe("refusals say why", () => {
  it("an ended task refuses with 'already ended as <status>'", () => {
    for (const status of ["succeeded", "failed", "cancelled"] as const) {
      const r = refused(record(status), cancel);
      expect(r).toMatchObject({ reason: "already_ended", status, message: `already ended as ${status}` });
    }
  });

  it("a replay of a task that is not failed refuses with 'is <status>, not failed'", () => {
    expect(refused(record("running"), replay)).toMatchObject({ reason: "not_failed", status: "running", message: "is running, not failed" });
    expect(refused(record("succeeded"), replay)).toMatchObject({ reason: "not_failed", status: "succeeded" });
  });

  it("a worker whose task was cancelled meanwhile is refused its success: the cancel wins", () => {
    expect(refused(record("cancelled", { finishedAt: T1 }), succeed("late"))).toMatchObject({ status: "cancelled" });
  });

  it("a second delivery of a finished task is refused its start: it is not run again", () => {
    expect(refused(record("succeeded"), start(2)).status).toBe("succeeded");
  });

  it("a refusal leaves the record untouched", () => {
    const done = record("succeeded", { result: 1, finishedAt: T1 });
    const copy = structuredClone(done);
    transition(done, fail(boom(true)));
    expect(done).toEqual(copy);
  });
});

describe("start", () => {
  it("a queued task starts running in this attempt, on this worker, from when it was claimed", () => {
    expect(next(queued, start(1))).toMatchObject({ status: "running", attempts: 1, workerId: "w-1", startedAt: T1 });
  });

  it("a task with no record starts from its message, queued, keeping its fields", () => {
    const r = next(null, start(1), message);
    expect(r).toMatchObject({ ...message, status: "running", attempts: 1, progress: { percent: 0 }, startedAt: T1 });
  });

  it("a redelivered task keeps its first startedAt and counts the new attempt", () => {
    const r = next(record("running", { attempts: 1, startedAt: T0, workerId: "w-0" }), { kind: "start", by: by(2, "w-2", T1) });
    expect(r).toMatchObject({ status: "running", attempts: 2, startedAt: T0, workerId: "w-2" });
  });

  it("a retry that starts clears its due time but keeps the last error for the status view", () => {
    const r = next(record("retrying", { attempts: 1, nextAttemptAt: T1, error: boom(true) }), start(2));
    expect(r.nextAttemptAt).toBeUndefined();
    expect(r).toMatchObject({ status: "running", attempts: 2, error: boom(true) });
  });

  it("does not change the record it is given", () => {
    const before = structuredClone(queued);
    next(queued, start(1));
    expect(queued).toEqual(before);
  });
});

describe("progress", () => {
  it("progress on a deferred claim (the record still queued) also marks it running", () => {
    expect(next(queued, progress(40))).toMatchObject({ status: "running", attempts: 1, progress: { percent: 40, message: "working" } });
  });

  it("progress replaces the previous progress", () => {
    expect(next(record("running", { attempts: 1, progress: { percent: 10 } }), progress(70)).progress).toEqual({ percent: 70, message: "working" });
  });
});

describe("succeed", () => {
  it("a success stores the result, clears any error and shows 100% done", () => {
    const r = next(record("running", { attempts: 2, error: boom(true), progress: { percent: 33, message: "page 1 of 3" } }), succeed({ pages: 3 }, 2));
    expect(r).toMatchObject({ status: "succeeded", attempts: 2, result: { pages: 3 }, progress: { percent: 100, message: "done" }, finishedAt: T2 });
    expect(r.error).toBeUndefined();
    expect(r.nextAttemptAt).toBeUndefined();
  });

  it("a handler that returns nothing succeeds with result null", () => {
    expect(next(record("running"), succeed(undefined)).result).toBeNull();
  });

  it("a task that ends within the running-write delay succeeds straight from queued", () => {
    expect(next(queued, succeed("fast"))).toMatchObject({ status: "succeeded", attempts: 1, startedAt: T1, workerId: "w-1", result: "fast" });
  });
});

describe("fail", () => {
  it("a retryable failure with attempts left is retried at nextAttemptAt, not finished", () => {
    const r = next(record("running", { attempts: 1 }), fail(boom(true), 1));
    expect(r).toMatchObject({ status: "retrying", attempts: 1, error: boom(true), nextAttemptAt: T2 });
    expect(r.finishedAt).toBeUndefined();
  });

  it("a retryable failure on the last attempt fails the task", () => {
    const r = next(record("running", { attempts: 3 }), fail(boom(true, 3), 3));
    expect(r).toMatchObject({ status: "failed", attempts: 3, error: boom(true, 3), finishedAt: T2 });
    expect(r.nextAttemptAt).toBeUndefined();
  });

  it("a non-retryable failure fails the task on its first attempt", () => {
    expect(next(record("running", { attempts: 1 }), fail(boom(false), 1))).toMatchObject({ status: "failed", finishedAt: T2 });
  });

  it("a failure is never marked dead-lettered by the worker: the mover does that", () => {
    expect(next(record("running"), fail(boom(false))).deadLettered).toBeUndefined();
  });
});

describe("cancel", () => {
  for (const status of ["queued", "running", "retrying"] as const) {
    it(`a ${status} task is cancelled, keeping what it had`, () => {
      const r = next(record(status, { attempts: 1, progress: { percent: 20 } }), cancel);
      expect(r).toMatchObject({ status: "cancelled", finishedAt: T2, attempts: 1, progress: { percent: 20 } });
    });
  }

  it("a queued task with no record is cancelled from its message", () => {
    expect(next(null, cancel, queued)).toMatchObject({ ...queued, status: "cancelled", finishedAt: T2 });
  });
});

describe("dead-letter", () => {
  it("a failed task is marked dead-lettered, keeping its error-time finish", () => {
    const r = next(record("failed", { attempts: 3, finishedAt: T1, error: boom(true, 3) }), deadLetter(3));
    expect(r).toMatchObject({ status: "failed", deadLettered: true, attempts: 3, finishedAt: T1 });
  });

  it("a running task the server gave up on (worker crashes) fails with the mover's error", () => {
    const crash: TaskError = { code: "max_deliveries", message: "delivered 3 times", retryable: true, attempt: 3 };
    const r = next(record("running", { attempts: 2 }), deadLetter(3, crash));
    expect(r).toMatchObject({ status: "failed", deadLettered: true, attempts: 3, error: crash, finishedAt: T2 });
  });

  it("attempts never go down: the record's count wins over fewer deliveries", () => {
    expect(next(record("failed", { attempts: 5 }), deadLetter(2)).attempts).toBe(5);
  });

  it("a task whose record expired is recorded failed and dead-lettered from its message", () => {
    const r = next(null, deadLetter(3), queued);
    expect(r).toMatchObject({ id: "t-1", type: "noop", status: "failed", attempts: 3, deadLettered: true, finishedAt: T2 });
  });
});

describe("replay", () => {
  it("a failed task is queued again with fresh attempts, counting the replay", () => {
    const failed = record("failed", { attempts: 3, error: boom(true), result: undefined, startedAt: T0, finishedAt: T1, workerId: "w-1", deadLettered: true, replays: 1 });
    const r = next(failed, replay);
    expect(r).toEqual({
      ...message,
      status: "queued",
      attempts: 0,
      progress: { percent: 0, message: `replayed from the dead-letter queue at ${T2}` },
      replays: 2,
    });
  });

  it("a failed task whose record expired replays from its dead-letter copy as the first replay", () => {
    expect(next(null, replay, message)).toMatchObject({ ...message, status: "queued", attempts: 0, replays: 1 });
  });

  it("a replayed task runs again from attempt 1", () => {
    const r = next(next(record("failed", { attempts: 3, startedAt: T0 }), replay), start(1));
    expect(r).toMatchObject({ status: "running", attempts: 1, startedAt: T1 });
  });
});

describe("a whole life", () => {
  it("queued → running → retrying → running → succeeded, each step from the last", () => {
    let r = next(null, start(1), message);
    r = next(r, progress(50, 1));
    r = next(r, fail(boom(true), 1));
    expect(r.status).toBe("retrying");
    r = next(r, start(2));
    r = next(r, succeed("ok", 2));
    expect(r).toMatchObject({ status: "succeeded", attempts: 2, startedAt: T1, result: "ok" });
    expect(transition(r, cancel)).toBeInstanceOf(Refusal);
  });
});
