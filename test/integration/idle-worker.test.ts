// An idle worker listens with one long poll per priority: a task of any priority runs as soon as it
// is published, a burst behind it is pulled in batches, and the pull requests leave no
// subscriptions behind on the server however many tasks pass.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PRIORITIES } from "../../kernel/task.js";
import { createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ natsMonitor: true });
});
afterAll(async () => stack?.stop());

async function workerSubscriptions(): Promise<number> {
  const connz = (await (await fetch(`${stack.nats.monitorUrl}/connz`)).json()) as { connections: { name?: string; subscriptions: number }[] };
  const worker = connz.connections.find((c) => c.name === "test-worker");
  if (!worker) throw new Error(`no worker connection in ${JSON.stringify(connz.connections.map((c) => c.name))}`);
  return worker.subscriptions;
}

describe("idle worker", () => {
  it("runs tasks of every priority one at a time as they come, then a burst, without piling up subscriptions", async () => {
    const before = await workerSubscriptions();
    for (let i = 0; i < 60; i++) {
      const priority = PRIORITIES[i % PRIORITIES.length];
      const id = await createTask(stack, { type: "record", priority, payload: { label: `single-${i}` } });
      await waitFor(`single task ${i} (${priority}) to succeed`, async () => (await taskStatus(stack, id)).status === "succeeded", 30_000, 5);
    }
    expect(stack.ran.labels.filter((l) => l.startsWith("single-"))).toHaveLength(60);

    // A burst while idle: the first task's long poll says more are waiting, and the rest are pulled.
    const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => createTask(stack, { type: "record", priority: "low", payload: { label: `burst-${i}` } })));
    await waitFor("the burst to finish", async () => {
      const statuses = await Promise.all(burst.map(async (id) => (await taskStatus(stack, id)).status));
      return statuses.every((s) => s === "succeeded");
    }, 60_000);

    // A hundred pull requests later, the worker holds about as many subscriptions as at the start:
    // finished requests' inboxes are reused or dropped, never left open.
    const after = await workerSubscriptions();
    expect(after).toBeLessThanOrEqual(before + 3 * 8);
  });
});
