// Nothing accepted is lost: not when a worker process is SIGKILLed mid-task, not when the NATS
// server restarts with tasks queued and running; SIGTERM drains a worker gracefully.
import { afterEach, describe, expect, it } from "vitest";
import { clientOf, createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";
import { spawnWorker, type WorkerProcess } from "../support/worker-process.js";

let stack: Stack | undefined;
const procs: WorkerProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) p.child.kill("SIGKILL");
  await stack?.stop();
  stack = undefined;
});

async function worker(env: Record<string, string> = {}) {
  const p = await spawnWorker(stack!.nats.url, env);
  procs.push(p);
  return p;
}
const workerId = (p: WorkerProcess) => p.lines.find((l) => l.ready)!.workerId as string;

describe("crash recovery", () => {
  it("finishes a task on another worker after its worker is killed with SIGKILL mid-task", async () => {
    stack = await startStack({ workers: 0 });
    const a = await worker();
    const id = await createTask(stack, { type: "sleep", payload: { ms: 2000 } });
    const running = await waitFor("running on worker A", async () => {
      const s = await taskStatus(stack!, id);
      return s.status === "running" && s;
    });
    expect(running.attempts).toBe(1);

    a.child.kill("SIGKILL");
    await a.exited;
    const b = await worker();

    const done = await waitFor("success on worker B", async () => {
      const s = await taskStatus(stack!, id);
      return s.status === "succeeded" && s;
    }, 60_000);
    expect(done.attempts).toBe(2);
    expect(done.result).toEqual({ slept: 2000, attempt: 2 });
    const record = (await stack.conn.state.get(id))!.record;
    expect(record.workerId).toBe(workerId(b));
  });

  it("completes every accepted task when the NATS server restarts with tasks queued and running", async () => {
    stack = await startStack({ workers: 0 });
    await worker({ JETQ_CONCURRENCY: "3" });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await createTask(stack, { type: "sleep", payload: { ms: 400 } }));
    await waitFor("some running", async () => (await Promise.all(ids.map((id) => taskStatus(stack!, id)))).some((s) => s.status === "running"));

    await stack.nats.restart(); // same port, same file store

    // The API reconnects by itself; tasks accepted after the restart are kept too.
    const after = await waitFor("the API to accept again", async () => (await clientOf(stack!).createTask({ type: "sleep", payload: { ms: 10 } })).id);
    ids.push(after);

    const final = await waitFor("every task to succeed", async () => {
      const all = await Promise.all(ids.map((id) => taskStatus(stack!, id)));
      return all.every((s) => s.status === "succeeded") && all;
    }, 90_000, 250);
    expect(final).toHaveLength(13);
    expect((await clientOf(stack).dlq.list()).total).toBe(0);
  });

  it("drains on SIGTERM: finishes running tasks, leaves queued ones for others", async () => {
    stack = await startStack({ workers: 0 });
    const a = await worker({ JETQ_CONCURRENCY: "2", JETQ_SHUTDOWN_GRACE_MS: "10000" });
    const running = [await createTask(stack, { type: "sleep", payload: { ms: 1500 } }), await createTask(stack, { type: "sleep", payload: { ms: 1500 } })];
    await waitFor("both running", async () => (await Promise.all(running.map((id) => taskStatus(stack!, id)))).every((s) => s.status === "running"));
    const queued = [await createTask(stack, { type: "sleep", payload: { ms: 10 } }), await createTask(stack, { type: "sleep", payload: { ms: 10 } })];

    a.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    expect(a.lines.find((l) => l.stopped)).toMatchObject({ finished: 2, handedBack: 0 });
    for (const id of running) expect((await taskStatus(stack, id)).status).toBe("succeeded");
    for (const id of queued) expect((await taskStatus(stack, id)).status).toBe("queued");

    await worker();
    await waitFor("queued ones done by the next worker", async () => (await Promise.all(queued.map((id) => taskStatus(stack!, id)))).every((s) => s.status === "succeeded"));
    // A message the first worker held beyond its slots and handed back unrun is no attempt.
    for (const id of queued) expect((await taskStatus(stack, id)).attempts).toBe(1);
  });

  it("counts no attempt for a task a stopping worker held beyond its slots and handed back unrun", async () => {
    stack = await startStack({ workers: 0 });
    // Idle, a worker's long polls wait on every priority: a burst on two of them delivers two
    // tasks to a worker with one slot, and it holds the second until the slot frees.
    const a = await worker({ JETQ_CONCURRENCY: "1", JETQ_SHUTDOWN_GRACE_MS: "10000" });
    const [first, second] = await Promise.all([
      createTask(stack, { type: "sleep", payload: { ms: 1500 }, priority: "high" }),
      createTask(stack, { type: "sleep", payload: { ms: 1500 }, priority: "low" }),
    ]);
    await waitFor("one running", async () => (await Promise.all([first, second].map((id) => taskStatus(stack!, id)))).some((s) => s.status === "running"));
    a.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    expect(a.lines.find((l) => l.stopped)).toMatchObject({ finished: 1, handedBack: 0 });

    await worker();
    const ends = await waitFor("both done", async () => {
      const all = await Promise.all([first, second].map((id) => taskStatus(stack!, id)));
      return all.every((s) => s.status === "succeeded") && all;
    });
    expect(ends.map((s: { attempts: number }) => s.attempts)).toEqual([1, 1]);
  });

  it("hands back a task that outlives the grace period, and another worker runs it", async () => {
    stack = await startStack({ workers: 0 });
    const a = await worker({ JETQ_SHUTDOWN_GRACE_MS: "300" });
    const id = await createTask(stack, { type: "sleep", payload: { ms: 2500 } });
    await waitFor("running", async () => (await taskStatus(stack!, id)).status === "running");
    a.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    expect(a.lines.find((l) => l.stopped)).toMatchObject({ finished: 0, handedBack: 1 });

    await worker();
    const done = await waitFor("done on the next worker", async () => {
      const s = await taskStatus(stack!, id);
      return s.status === "succeeded" && s;
    });
    expect(done.attempts).toBe(2);
  });
});
