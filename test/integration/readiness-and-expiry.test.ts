// What operators and clients see around the edges of a task's life: /readyz follows the NATS
// connection (and answers while NATS is away) while /healthz does not flap; a task that outlives
// ack_wait is kept alive by heartbeats, not redelivered; finished tasks expire after
// JETQ_FINISHED_TTL_S.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetqClientError } from "../../client/index.js";
import { clientError, orNotFound } from "../support/client-calls.js";
import { clientOf, createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
beforeAll(async () => {
  // ack_wait 3 s (TEST_ENV); finished records kept 3 s.
  stack = await startStack({ env: { JETQ_FINISHED_TTL_S: "3" } });
});
afterAll(async () => stack?.stop());

describe("readiness", () => {
  it("answers /readyz 503 while NATS is down and 200 once it is back; /healthz stays 200", async () => {
    const client = clientOf(stack);
    expect(await client.ready()).toMatchObject({ status: "ready" });
    const echoTasks = async () => (await stack.api("GET", "/api/tasks?type=echo")).body.total as number;
    const before = await echoTasks();
    await stack.nats.stop();
    const down = await waitFor("/readyz to say not ready", () => client.ready().then(() => null, (err: unknown) => err instanceof JetqClientError && err));
    expect(down).toMatchObject({ status: 503, code: "not_ready" });
    expect(await client.health()).toEqual({ status: "ok" });
    // Clients are told at once to come back later, and nothing they sent is half-kept.
    expect(await clientError(client.createTask({ type: "echo", payload: { value: "during" } }))).toMatchObject({ status: 503, code: "unavailable", retryAfterSeconds: 2 });
    const listing = await stack.api("GET", "/api/tasks");
    expect(listing.status).toBe(503);
    expect(listing.body.error.code).toBe("unavailable");
    expect(listing.headers.get("retry-after")).toBe("2");

    await stack.nats.restart();
    await waitFor("/readyz to say ready again", () => client.ready(), 60_000);
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
    const client = clientOf(stack);
    const entryAt = async () => (await orNotFound(client.dlq.get(id)))?.deadLetteredAt ?? null;
    let last = await waitFor("the DLQ entry", entryAt);
    for (let round = 1; round <= 2; round++) {
      await waitFor(`the record to expire (round ${round})`, async () => (await orNotFound(client.getTask(id))) === null, 60_000, 250);
      const tries = await Promise.all([1, 2, 3].map(() => client.dlq.retry(id).then(() => 202, (err: unknown) => (err instanceof JetqClientError ? err.status : err))));
      expect(tries.sort()).toEqual([202, 409, 409]);
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
    const gone = await waitFor("the record to expire", () => clientOf(stack).getTask(id).then(() => null, (err: unknown) => err instanceof JetqClientError && err), 60_000, 250);
    expect(gone).toMatchObject({ status: 404, code: "not_found" });
  });
});
