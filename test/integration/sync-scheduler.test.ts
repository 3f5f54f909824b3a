// The sync scheduler: of several workers' schedulers exactly one acts (a KV lease), a due source
// is queued once per interval, and when the holder stops another takes over.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../kernel/logger.js";
import { TaskQueue } from "../../kernel/task-queue.js";
import { SyncScheduler } from "../../worker/sync-scheduler.js";
import { startStack, type Stack } from "../support/stack.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ documents: true, workers: 0 });
});
afterAll(async () => stack?.stop());

describe("sync scheduler", () => {
  it("queues a due source once across competing schedulers, and fails over when the holder stops", async () => {
    const source = (await stack.api("POST", "/api/sources", { kind: "http", urls: ["https://example.org/a.txt"], intervalSeconds: 3600 })).body;
    await stack.api("POST", "/api/sources", { kind: "http", urls: ["https://example.org/b.txt"] }); // on demand only
    const queue = new TaskQueue(stack.conn, stack.registry, { defaultTimeoutSeconds: 60, maxDeliver: 4 });
    const a = new SyncScheduler(stack.conn, queue, "worker-a", 3_600_000, silentLogger());
    const b = new SyncScheduler(stack.conn, queue, "worker-b", 3_600_000, silentLogger());

    const leaders = await Promise.all([a.lead(), b.lead()]);
    expect(leaders.filter(Boolean)).toHaveLength(1);
    const [holder, other] = leaders[0] ? [a, b] : [b, a];

    for (let i = 0; i < 3; i++) await Promise.all([a.tick(), b.tick()]);
    const syncs = (await stack.api("GET", "/api/tasks?type=sync_sources")).body.items;
    expect(syncs).toHaveLength(1);
    expect(syncs[0]).toMatchObject({ status: "queued", priority: "low" });
    expect((await stack.record(syncs[0].id)).payload).toEqual({ sourceId: source.id });

    await holder.stop();
    expect(await other.lead()).toBe(true);
    await other.tick(); // same interval slot: nothing new
    expect((await stack.api("GET", "/api/tasks?type=sync_sources")).body.total).toBe(1);
    await other.stop();
  });
});
