// A task's own log and its failed attempts, as a client sees them: the lines its handler and its
// attempts logged, paged by `after`; streamed over SSE in order with its states and resumed from
// Last-Event-ID without repeats; bounded per task; another tenant's task answers 404. Each failed
// attempt is kept on the record with its worker, times and error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetqClient, type TaskEventWithLogs } from "../../client/index.js";
import { createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let client: JetqClient;
beforeAll(async () => {
  stack = await startStack({ workers: 1, env: { JETQ_CONCURRENCY: "4", JETQ_TASK_LOG_LINES: "50", JETQ_BACKOFF_BASE_MS: "50", JETQ_BACKOFF_MAX_MS: "100" } });
  client = new JetqClient({ baseUrl: stack.baseUrl });
});
afterAll(async () => stack?.stop());

const finished = (id: string) => waitFor(`task ${id} to end`, async () => {
  const s = await taskStatus(stack, id);
  return ["succeeded", "failed", "cancelled"].includes(s.status) && s;
}, 30_000);

describe("task logs", () => {
  it("keeps what the handler logged, oldest first, and pages it by `after`", async () => {
    const id = await createTask(stack, { type: "echo", payload: { value: "logged", progressSteps: 6, stepMs: 20 } });
    await finished(id);
    const all = await waitFor("six lines", async () => {
      const page = await client.taskLogs(id);
      return page.items.length >= 6 && page;
    });
    expect(all.items.map((l) => l.message)).toEqual([1, 2, 3, 4, 5, 6].map((i) => `finished step ${i} of 6`));
    expect(all.items[0]).toMatchObject({ level: "info", attempt: 1, fields: { step: 1 } });
    expect(all.items[0]!.workerId).toBeTruthy();
    const seqs = all.items.map((l) => l.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(all.last).toBe(seqs.at(-1));

    const first = await client.taskLogs(id, { limit: 4 });
    expect(first.items.map((l) => l.seq)).toEqual(seqs.slice(0, 4));
    const rest = await client.taskLogs(id, { after: first.last });
    expect(rest.items.map((l) => l.seq)).toEqual(seqs.slice(4));
    expect((await client.taskLogs(id, { after: rest.last })).items).toEqual([]);
  });

  it("streams the lines over SSE in order with the states, and a resumed stream repeats none", async () => {
    const id = await createTask(stack, { type: "echo", payload: { value: "streamed", progressSteps: 5, stepMs: 150 } });
    const events: TaskEventWithLogs[] = [];
    for await (const e of client.watchTask(id, { logs: true })) {
      events.push(e);
      if (events.filter((x) => x.event === "log").length === 2) break; // drop the connection mid-task
    }
    const resumeFrom = events.at(-1)!.id!;
    expect(resumeFrom).toMatch(/^\d+:\d+$/);
    for await (const e of client.watchTask(id, { logs: true, lastEventId: resumeFrom })) events.push(e);
    const lines = events.filter((e) => e.event === "log").map((e) => (e.data as { message: string }).message);
    expect(lines).toEqual([1, 2, 3, 4, 5].map((i) => `finished step ${i} of 5`));
    expect(events.at(-1)!.event).toBe("end");
    // A line's step is never ahead of the progress the stream has shown before the next state.
    const kinds = events.map((e) => e.event);
    expect(kinds.indexOf("log")).toBeGreaterThan(kinds.indexOf("status"));

    // A stream opened after the end still gives the lines, then the end.
    const late: TaskEventWithLogs[] = [];
    for await (const e of client.watchTask(id, { logs: true })) late.push(e);
    expect(late.filter((e) => e.event === "log")).toHaveLength(5);
    expect(late.at(-1)!.event).toBe("end");
  });

  it("keeps each failed attempt with its error and times, and logs each failure", async () => {
    const id = await createTask(stack, { type: "flaky", payload: { succeedOnAttempt: 3 }, maxAttempts: 4 });
    const done = await finished(id);
    expect(done.status).toBe("succeeded");
    const detail = await client.getTask(id);
    expect(detail.failedAttempts).toHaveLength(2);
    detail.failedAttempts!.forEach((a, i) => {
      expect(a).toMatchObject({ attempt: i + 1, code: "handler_error", message: `attempt ${i + 1} fails on purpose`, retryable: true });
      expect(Date.parse(a.startedAt)).toBeLessThanOrEqual(Date.parse(a.failedAt));
      expect(a.workerId).toBeTruthy();
    });
    const log = await waitFor("two failure lines", async () => {
      const page = await client.taskLogs(id);
      return page.items.filter((l) => l.level === "warn").length >= 2 && page;
    });
    expect(log.items.filter((l) => l.level === "warn").map((l) => l.message)).toEqual([
      expect.stringMatching(/^attempt 1 failed \(handler_error: attempt 1 fails on purpose\); retrying in \d/),
      expect.stringMatching(/^attempt 2 failed \(handler_error: attempt 2 fails on purpose\); retrying in \d/),
    ]);

    const poison = await createTask(stack, { type: "poison", payload: {} });
    expect((await finished(poison)).status).toBe("failed");
    const dead = await client.getTask(poison);
    expect(dead.failedAttempts).toEqual([expect.objectContaining({ attempt: 1, retryable: false })]);
    await waitFor("the dead-letter line", async () => (await client.taskLogs(poison)).items.some((l) => /not retryable, dead-lettering/.test(l.message)));
  });

  it("keeps at most JETQ_TASK_LOG_LINES lines a task, the newest, and says when an attempt hit the limit", async () => {
    const id = await createTask(stack, { type: "echo", payload: { value: "chatty", progressSteps: 80, stepMs: 0 } });
    await finished(id);
    const page = await waitFor("the limit's note", async () => {
      const p = await client.taskLogs(id, { limit: 1000 });
      return p.items.some((l) => /JETQ_TASK_LOG_LINES/.test(l.message)) && p;
    });
    expect(page.items.length).toBeLessThanOrEqual(50);
    expect(page.items.at(-1)!.message).toMatch(/wrote 50 lines to the task's log/);
    expect(page.items.at(-2)!.message).toBe("finished step 50 of 80");
  });

  it("answers a bad query with 400 and an unknown task with 404", async () => {
    const id = await createTask(stack, { type: "echo", payload: { value: "q" } });
    for (const q of ["limit=0", "limit=1001", "after=-1", "after=x"]) expect((await stack.api("GET", `/api/tasks/${id}/logs?${q}`)).status, q).toBe(400);
    expect((await stack.api("GET", `/api/tasks/00000000-0000-4000-8000-000000000000/logs`)).status).toBe(404);
  });
});
