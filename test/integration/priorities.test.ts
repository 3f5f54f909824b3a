// Priorities: high goes first, and low still moves while high keeps coming (no starvation).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientOf, createTask, startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
beforeAll(async () => {
  // No worker yet: the backlog is built first, then one worker with one slot drains it.
  stack = await startStack({ workers: 0, env: { JETQ_CONCURRENCY: "1" } });
});
afterAll(async () => stack?.stop());

describe("priorities", () => {
  it("runs high before normal before low, yet low progresses under a stream of high", async () => {
    for (let i = 0; i < 10; i++) await createTask(stack, { type: "record", priority: "low", payload: { label: `low-${i}` } });
    for (let i = 0; i < 10; i++) await createTask(stack, { type: "record", priority: "normal", payload: { label: `normal-${i}` } });
    for (let i = 0; i < 40; i++) await createTask(stack, { type: "record", priority: "high", payload: { label: `high-${i}` } });

    // Queued tasks have no state record yet; they are listed and shown from the work stream.
    const queued = await stack.api("GET", "/api/tasks?status=queued&type=record&limit=5");
    expect(queued.body.total).toBe(60);
    expect(queued.body.items[0]).toMatchObject({ type: "record", priority: "high", status: "queued", attempts: 0 });
    expect((await clientOf(stack).getTask(queued.body.items[0].id)).status).toBe("queued");

    await stack.startWorker();
    // Keep high work arriving while the backlog drains: a sustained high load.
    let injected = 0;
    const stream = (async () => {
      while (injected < 60 && stack.ran.labels.filter((l) => l.startsWith("low")).length < 10) {
        await createTask(stack, { type: "record", priority: "high", payload: { label: `late-high-${injected++}` } });
      }
    })();

    await waitFor("every low task to run", () => stack.ran.labels.filter((l) => l.startsWith("low")).length === 10, 60_000);
    await stream;
    const order = stack.ran.labels;
    const first10 = order.slice(0, 10);
    expect(first10.filter((l) => l.includes("high")).length).toBeGreaterThanOrEqual(6);
    expect(first10.filter((l) => l.startsWith("low")).length).toBeLessThanOrEqual(2);
    // Low runs while high work waits: strict priority would run all 40 backlogged high tasks first.
    const lowBeforeLastHigh = order.slice(0, order.indexOf("high-39")).filter((l) => l.startsWith("low")).length;
    expect(lowBeforeLastHigh).toBeGreaterThanOrEqual(3);
    // Low finished while high work was still waiting or arriving: it was not starved.
    const lastLow = order.lastIndexOf("low-9");
    const highAfterLastLow = order.slice(lastLow + 1).filter((l) => l.includes("high")).length;
    const highStillQueued = (await clientOf(stack).queue()).byPriority.high;
    expect(highAfterLastLow + highStillQueued).toBeGreaterThan(0);
    // Within a priority, first in, first out.
    const lows = order.filter((l) => l.startsWith("low"));
    expect(lows).toEqual(Array.from({ length: 10 }, (_, i) => `low-${i}`));
  });
});
