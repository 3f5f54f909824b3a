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
    await stack.nats.stop();
    const down = await waitFor("/readyz to say not ready", async () => {
      const res = await stack.api("GET", "/readyz");
      return res.status === 503 && res;
    });
    expect(down.body.error.code).toBe("not_ready");
    expect((await stack.api("GET", "/healthz")).status).toBe(200);

    await stack.nats.restart();
    await waitFor("/readyz to say ready again", async () => (await stack.api("GET", "/readyz")).status === 200, 60_000);
    // And work flows again.
    const id = await createTask(stack, { type: "echo", payload: { value: "after" } });
    await waitFor("the task after the outage", async () => (await taskStatus(stack, id)).status === "succeeded", 60_000);
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
