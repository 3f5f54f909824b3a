// What operators and clients see around the edges of a task's life: /readyz follows the NATS
// connection (and answers while NATS is away) while /healthz does not flap; a task that outlives
// ack_wait is kept alive by heartbeats, not redelivered; finished tasks expire after
// JETQ_FINISHED_TTL_S.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
beforeAll(async () => {
  // ack_wait 3 s (TEST_ENV); finished records kept 3 s.
  stack = await startStack({ env: { JETQ_FINISHED_TTL_S: "3" } });
});
afterAll(async () => stack?.stop());

describe("readiness", () => {
  it("answers /readyz 503 while NATS is down and 200 once it is back; /healthz stays 200", async () => {
    expect((await stack.api("GET", "/readyz")).status).toBe(200);
    const echoTasks = async () => (await stack.api("GET", "/api/tasks?type=echo")).body.total as number;
    const before = await echoTasks();
    await stack.nats.stop();
    const down = await waitFor("/readyz to say not ready", async () => {
      const res = await stack.api("GET", "/readyz");
      return res.status === 503 && res;
    });
    expect(down.body.error.code).toBe("not_ready");
    expect((await stack.api("GET", "/healthz")).status).toBe(200);
    // Clients are told at once to come back later, and nothing they sent is half-kept.
    for (const [method, path, body] of [["POST", "/api/tasks/create", { type: "echo", payload: { value: "during" } }], ["GET", "/api/tasks", undefined]] as const) {
      const res = await stack.api(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(503);
      expect(res.body.error.code).toBe("unavailable");
      expect(res.headers.get("retry-after")).toBe("2");
    }

    await stack.nats.restart();
    await waitFor("/readyz to say ready again", async () => (await stack.api("GET", "/readyz")).status === 200, 60_000);
    // And work flows again; the create refused during the outage left no task behind.
    const id = await createTask(stack, { type: "echo", payload: { value: "after" } });
    await waitFor("the task after the outage", async () => (await taskStatus(stack, id)).status === "succeeded", 60_000);
    expect(await echoTasks()).toBe(before + 1);
  });
});

describe("long tasks and finished ones", () => {
  it("keeps a task that runs past ack_wait alive with heartbeats: one attempt, no redelivery", async () => {
    const id = await createTask(stack, { type: "sleep", payload: { ms: 7_000 } });
    const done = await waitFor("the long task", async () => {
      const s = await taskStatus(stack, id);
      return s.status === "succeeded" && s;
    }, 60_000);
    expect(done).toMatchObject({ attempts: 1, result: { slept: 7_000, attempt: 1 } });
  });

  it("replays a dead task whose record has expired, again and again, and refuses concurrent replays", async () => {
    const id = await createTask(stack, { type: "poison", payload: {} });
    const entryAt = async () => {
      const r = await stack.api("GET", `/api/dlq/${id}`);
      return r.status === 200 ? (r.body.deadLetteredAt as string) : null;
    };
    let last = await waitFor("the DLQ entry", entryAt);
    for (let round = 1; round <= 2; round++) {
      await waitFor(`the record to expire (round ${round})`, async () => (await stack.api("GET", `/api/tasks/${id}/status`)).status === 404, 60_000, 250);
      const tries = await Promise.all([1, 2, 3].map(() => stack.api("POST", `/api/dlq/${id}/retry`)));
      expect(tries.map((t) => t.status).sort()).toEqual([202, 409, 409]);
      // It ran again (poison fails at once) and is back in the DLQ with a new entry.
      last = await waitFor(`the replay to run and die again (round ${round})`, async () => {
        const at = await entryAt();
        return at !== null && at !== last && at;
      }, 60_000, 250);
    }
  });

  it("forgets a finished task after JETQ_FINISHED_TTL_S", async () => {
    const id = await createTask(stack, { type: "echo", payload: { value: "short-lived" } });
    await waitFor("success", async () => (await taskStatus(stack, id)).status === "succeeded");
    const gone = await waitFor("the record to expire", async () => {
      const res = await stack.api("GET", `/api/tasks/${id}/status`);
      return res.status === 404 && res;
    }, 60_000, 250);
    expect(gone.body.error.code).toBe("not_found");
  });
});
