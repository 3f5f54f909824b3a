// The sync scheduler: of several workers' schedulers exactly one acts (a KV lease), a due source
// is queued once per interval, and when the holder stops another takes over. The lease lives as
// long as the interval says (not a fixed bucket TTL), and a holder only ever removes its own lease.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isLiveEntry } from "../../kernel/kv-live.js";
import { kvSubject, kvStream } from "../../kernel/kv-scan.js";
import { silentLogger } from "../../kernel/logger.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { SyncScheduler } from "../../worker/sync-scheduler.js";
import { clientOf, startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ documents: true, workers: 0 });
});
afterAll(async () => stack?.stop());

describe("sync scheduler", () => {
  it("queues a due source once across competing schedulers, and fails over when the holder stops", async () => {
    const source = await clientOf(stack).sources.create({ kind: "http", urls: ["https://example.org/a.txt"], intervalSeconds: 3600 });
    await clientOf(stack).sources.create({ kind: "http", urls: ["https://example.org/b.txt"] }); // on demand only
    const queue = taskQueueFor(stack.conn, stack.registry, { defaultTimeoutSeconds: 60 });
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

  it("writes the lease with a TTL longer than the interval, even one longer than 30 s", async () => {
    const queue = taskQueueFor(stack.conn, stack.registry, { defaultTimeoutSeconds: 60 });
    const slow = new SyncScheduler(stack.conn, queue, "worker-slow", 90_000, silentLogger());
    expect(await slow.lead()).toBe(true);
    const stored = await stack.conn.jsm.streams.getMessage(kvStream(TOPOLOGY.leasesBucket), { last_by_subj: kvSubject(TOPOLOGY.leasesBucket, "sync-scheduler") });
    const ttl = stored?.header?.get("Nats-TTL") ?? "";
    expect(ttl).toMatch(/^\d+s$/);
    expect(Number.parseInt(ttl, 10)).toBeGreaterThan(90);
    await slow.stop();
    expect(isLiveEntry(await stack.conn.leases.get("sync-scheduler"))).toBe(false);
  });

  it("keeps the lease across the holder's ticks, and the other never acts while the holder lives", async () => {
    const queue = taskQueueFor(stack.conn, stack.registry, { defaultTimeoutSeconds: 60 });
    const before = (await stack.api("GET", "/api/tasks?type=sync_sources")).body.total;
    const holder = new SyncScheduler(stack.conn, queue, "worker-a", 2_000, silentLogger());
    const other = new SyncScheduler(stack.conn, queue, "worker-b", 2_000, silentLogger());
    const leads = countLeads(holder);
    const otherLeads = countLeads(other);
    holder.start();
    await waitFor("the first holder to take the lease", () => leads.won > 0);
    other.start();
    // The lease lives 4 s unrenewed; watching for 6 s spans three of the holder's renewals.
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      const lease = await stack.conn.leases.get("sync-scheduler");
      expect(isLiveEntry(lease) && lease.string()).toBe("worker-a");
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(leads.won).toBeGreaterThanOrEqual(3);
    expect(otherLeads.won).toBe(0);
    expect(otherLeads.tried).toBeGreaterThanOrEqual(3);
    expect((await stack.api("GET", "/api/tasks?type=sync_sources")).body.total).toBe(before);
    await holder.stop();
    await other.stop();
  });

  it("a holder whose lease lapsed does not remove the lease of the one that took over", async () => {
    const queue = taskQueueFor(stack.conn, stack.registry, { defaultTimeoutSeconds: 60 });
    const stale = new SyncScheduler(stack.conn, queue, "worker-stale", 400, silentLogger()); // lease: 1 s
    const next = new SyncScheduler(stack.conn, queue, "worker-next", 3_600_000, silentLogger());
    expect(await stale.lead()).toBe(true);
    expect(await next.lead()).toBe(false);
    // The stale holder stops renewing (a long pause, say); its lease ages out and the next takes it.
    await waitFor("the unrenewed lease to age out", async () => !isLiveEntry(await stack.conn.leases.get("sync-scheduler")), 10_000, 100);
    expect(await next.lead()).toBe(true);
    await stale.stop();
    const lease = await stack.conn.leases.get("sync-scheduler");
    expect(isLiveEntry(lease) && lease.string()).toBe("worker-next");
    expect(await stale.lead()).toBe(false);
    await next.stop();
  });
});

/** Counts a scheduler's attempts at the lease and how many it won (its ticks call `lead`). */
function countLeads(s: SyncScheduler): { tried: number; won: number } {
  const counts = { tried: 0, won: 0 };
  const lead = s.lead.bind(s);
  s.lead = async () => {
    counts.tried++;
    const won = await lead();
    if (won) counts.won++;
    return won;
  };
  return counts;
}
