// An error that escapes a handler — thrown from a timer, a rejection nobody awaits — fails that
// task instead of ending the worker process (Node's default), in a real worker process on a real
// NATS: the task fails with the error, the same process runs the next task.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { escapingRegistry } from "../support/escaping-types.js";
import { createTask, startStack, taskStatus, TEST_ENV, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let worker: ChildProcess;
const alive = () => worker.exitCode === null && worker.signalCode === null;

async function startWorker(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../fixtures/escaping-worker-process.ts", import.meta.url))], {
    env: { ...process.env, ...TEST_ENV, ...env, NATS_URL: stack.nats.url },
    stdio: ["ignore", "pipe", "inherit"],
  });
  process.on("exit", () => child.kill("SIGKILL"));
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  await waitFor("the worker process to be ready", () => output.includes('"ready":true') || (child.exitCode !== null && Promise.reject(new Error("it exited"))), 60_000);
  return child;
}

async function stopWorker() {
  if (!worker || !alive()) return;
  const exited = new Promise((resolve) => worker.once("exit", resolve));
  worker.kill("SIGTERM");
  await exited;
}

const finished = (id: string, timeoutMs = 30_000) =>
  waitFor(`task ${id} to finish`, async () => {
    const s = await taskStatus(stack, id);
    return ["succeeded", "failed", "cancelled"].includes(s.status) && s;
  }, timeoutMs, 100);

beforeAll(async () => {
  stack = await startStack({ workers: 0, registry: escapingRegistry() });
}, 60_000);
afterAll(async () => {
  await stopWorker();
  await stack?.stop();
});

describe("errors that escape a handler", () => {
  beforeAll(async () => {
    worker = await startWorker({ JETQ_CONCURRENCY: "1" });
  }, 90_000);
  afterAll(stopWorker);

  it.each([
    ["an exception thrown from a timer", "throw", "thrown from a timer the handler started"],
    ["a rejected promise nobody awaits", "reject", "a rejection nobody awaits"],
  ])("fail the task on %s, and the process runs the next task", async (_what, how, message) => {
    const pid = worker.pid;
    const id = await createTask(stack, { type: "escape", payload: { how }, maxAttempts: 1 });
    const done = await finished(id);
    expect(done).toMatchObject({ status: "failed", attempts: 1, error: { code: "uncaught_error", retryable: true } });
    expect(done.error.message).toContain(message);
    expect(alive()).toBe(true);
    expect(worker.pid).toBe(pid);
    const next = await finished(await createTask(stack, { type: "echo", payload: { value: "still here" } }));
    expect(next).toMatchObject({ status: "succeeded", result: { echoed: "still here" } });
  }, 60_000);

  it("retries such a task like any other failure while it has attempts left", async () => {
    const id = await createTask(stack, { type: "escape", payload: { how: "throw" }, maxAttempts: 2 });
    const done = await finished(id);
    expect(done).toMatchObject({ status: "failed", attempts: 2, error: { code: "uncaught_error" } });
    expect(alive()).toBe(true);
  }, 60_000);
});

describe("an escaped error that cannot be traced to one task", () => {
  beforeAll(async () => {
    worker = await startWorker({ JETQ_CONCURRENCY: "2" });
  }, 90_000);
  afterAll(stopWorker);

  it("leaves the process up: the task that lost track ends at its time limit, the other one succeeds", async () => {
    const pid = worker.pid;
    const sleeper = await createTask(stack, { type: "sleep", payload: { ms: 1_500 } });
    await waitFor("the sleep task to run", async () => (await taskStatus(stack, sleeper)).status === "running", 10_000);
    const escaper = await createTask(stack, { type: "escape", payload: { how: "throw" }, maxAttempts: 1, timeoutSeconds: 2 });
    expect(await finished(sleeper)).toMatchObject({ status: "succeeded" });
    expect(await finished(escaper)).toMatchObject({ status: "failed", attempts: 1, error: { code: "soft_time_limit" } });
    expect(alive()).toBe(true);
    expect(worker.pid).toBe(pid);
  }, 60_000);
});
