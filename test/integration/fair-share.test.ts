// Fair share and the queued-tasks quota (issue #11, part 3). One tenant floods a priority; another
// queues a few tasks after it: the few run after a bounded number of the flood's, not after all of
// it, and the flood still finishes. A tenant over JETQ_TENANT_MAX_QUEUED (unfinished tasks) is
// refused with a 413 naming the quota — a DLQ replay too — another tenant is not, and the quota
// frees as its tasks finish.
// Real NATS, real HTTP, real workers. The 10,000-against-10 measurement is bench/fair-share.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newApiKey } from "../../api/auth/api-key.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import { backlogSubject } from "../../kernel/tenant-backlog.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

const FLOOD = 400;
const FAIR_SHARE = 20;

describe("fair share between tenants within a priority", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ workers: 0, env: { JETQ_FAIR_SHARE_QUEUED: String(FAIR_SHARE), JETQ_CONCURRENCY: "2" } });
  }, 120_000);
  afterAll(() => stack?.stop());

  it("runs a small tenant's tasks after a bounded part of another tenant's flood, and the flood still finishes", async () => {
    const queue = taskQueueFor(stack.conn, stack.registry, { defaultTimeoutSeconds: 60 });
    const floodIds: string[] = [];
    for (let i = 0; i < FLOOD; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => queue.create({ type: "record", payload: { label: `flood-${i + j}` } }, { tenant: "acme" })));
      floodIds.push(...batch.map((r) => r.record.id));
    }
    const smallIds: string[] = [];
    for (let i = 0; i < 5; i++) smallIds.push((await queue.create({ type: "record", payload: { label: `small-${i}` } }, { tenant: "globex" })).record.id);

    // Both lanes are one priority to every reader: the queue view counts them together.
    const view = await stack.api("GET", "/api/tasks/queue");
    expect(view.body.byPriority.normal).toBe(FLOOD + 5);
    // The flood beyond its share went to the overflow lane; the small tenant's tasks did not.
    const subjects = (await stack.conn.jsm.streams.info(TOPOLOGY.tasksStream, { subjects_filter: "jetq.tasks.>" })).state.subjects ?? {};
    expect(subjects["jetq.tasks.normal-overflow.record"]).toBeGreaterThanOrEqual(FLOOD - FAIR_SHARE - 5);

    await stack.startWorker();
    await waitFor("every task to succeed", async () => stack.ran.labels.length >= FLOOD + 5, 120_000, 100);
    const order = stack.ran.labels;
    const lastSmall = Math.max(...[0, 1, 2, 3, 4].map((i) => order.indexOf(`small-${i}`)));
    // Ahead of the small tenant: the flood's first FAIR_SHARE (shared lane) and the overflow's one
    // pull in four meanwhile, plus what the worker held already. Without fair share it is all 400.
    expect(lastSmall, `the small tenant's last task ran ${lastSmall + 1}th of ${order.length}`).toBeLessThan(FAIR_SHARE * 2 + 10);
    expect(new Set(order).size).toBe(FLOOD + 5); // each ran once
    for (const id of [...floodIds.slice(-3), ...smallIds]) expect((await stack.api("GET", `/api/tasks/${id}/status`)).body.status).toBe("succeeded");
  }, 180_000);
});

describe("the queued-tasks quota", () => {
  let stack: Stack;
  const adminKey = newApiKey().key;
  const keys: Record<string, string> = {};
  const api = (who: string, method: string, path: string, body?: unknown) => stack.api(method, path, body, { authorization: `Bearer ${who === "admin" ? adminKey : keys[who]}` });

  beforeAll(async () => {
    stack = await startStack({ workers: 0, env: { JETQ_AUTH: "on", JETQ_ADMIN_KEY: adminKey, JETQ_TENANT_MAX_QUEUED: "5" } });
    for (const [name, tenant] of [["a", "acme"], ["b", "globex"]] as const) {
      const made = await api("admin", "POST", "/api/keys", { tenant, role: "member", name: `member of ${tenant}` });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      keys[name] = made.body.key;
    }
  }, 120_000);
  afterAll(() => stack?.stop());

  it("refuses a tenant's create over its quota with a 413 naming it, lets other tenants create, and frees as tasks finish", async () => {
    for (let i = 0; i < 5; i++) expect((await api("a", "POST", "/api/tasks", { type: "record", payload: { label: `a-${i}` } })).status).toBe(202);
    const refused = await api("a", "POST", "/api/tasks", { type: "record", payload: { label: "a-over" } });
    expect(refused.status).toBe(413);
    expect(refused.body.error).toMatchObject({ code: "quota_exceeded", quota: "JETQ_TENANT_MAX_QUEUED", tenant: "acme", limit: 5, used: 5 });
    expect(refused.body.error.message).toMatch(/JETQ_TENANT_MAX_QUEUED/);
    // Nothing was queued for the refused request.
    expect((await api("admin", "GET", "/api/tasks/queue")).body.byPriority.normal).toBe(5);
    // The tenant sees its quota and what it has used.
    const limits = await api("a", "GET", "/api/limits");
    expect(limits.body.quotas.queuedTasks).toEqual({ setting: "JETQ_TENANT_MAX_QUEUED", limit: 5, used: 5 });

    expect((await api("b", "POST", "/api/tasks", { type: "record", payload: { label: "b-0" } })).status).toBe(202);

    await stack.startWorker();
    await waitFor("acme's tasks to finish", async () => stack.ran.labels.filter((l) => l.startsWith("a-")).length === 5, 60_000, 100);
    // The worker's counts reach NATS within a moment; the API hears them at its next read.
    const again = await waitFor("a create accepted again", async () => {
      const r = await api("a", "POST", "/api/tasks", { type: "record", payload: { label: "a-later" } });
      return r.status === 202 && r;
    }, 30_000, 300);
    expect(again.body.status).toBe("queued");
  }, 120_000);

  it("clears a count left behind (say by a crashed process) once the queue is empty", async () => {
    stack.conn.backlog.added("initech", 50); // a count no task stands for
    await stack.conn.backlog.flush();
    expect(await stack.conn.backlog.estimate("initech")).toBe(50);
    await waitFor("the work stream to drain", async () => (await stack.conn.jsm.streams.info(TOPOLOGY.tasksStream)).state.messages === 0, 60_000, 200);
    // And the worker's last decrements to land (the API's own loop waits a whole interval for them).
    const acme = () => stack.conn.jsm.streams.getMessage(TOPOLOGY.usageStream, { last_by_subj: backlogSubject("acme") }).then((m) => Number(m?.json<{ val?: string }>().val ?? 0), () => 0);
    await waitFor("acme's count at zero in NATS", async () => (await acme()) === 0, 30_000, 100);
    expect(await stack.conn.backlog.reconcile()).toBe(true);
    const left = await stack.conn.jsm.streams.getMessage(TOPOLOGY.usageStream, { last_by_subj: backlogSubject("initech") }).catch(() => null);
    expect(left).toBeNull();
    expect(await stack.conn.backlog.estimate("initech")).toBe(0);
  }, 90_000);

  it("counts running tasks too, and refuses a DLQ replay over the quota without losing the entry", async () => {
    const poison = await api("a", "POST", "/api/tasks", { type: "poison", payload: {} });
    expect(poison.status).toBe(202);
    await waitFor("the poison task in the DLQ", async () => (await api("a", "GET", `/api/dlq/${poison.body.id}`)).status === 200, 30_000, 200);
    await waitFor("nothing of acme's unfinished", async () => (await api("a", "GET", "/api/limits")).body.quotas.queuedTasks.used === 0, 30_000, 200);
    // Five long tasks: the worker (concurrency 4) runs four, one waits; all five count.
    const sleepers: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await api("a", "POST", "/api/tasks", { type: "sleep", payload: { ms: 60_000 } });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      sleepers.push(r.body.id);
    }
    await waitFor("four of them running", async () => (await Promise.all(sleepers.map((id) => api("a", "GET", `/api/tasks/${id}/status`)))).filter((r) => r.body.status === "running").length === 4, 30_000, 200);
    const over = await api("a", "POST", "/api/tasks", { type: "record", payload: { label: "a-over-again" } });
    expect(over.status).toBe(413);
    const replay = await api("a", "POST", `/api/dlq/${poison.body.id}/retry`);
    expect(replay.status).toBe(413);
    expect(replay.body.error).toMatchObject({ code: "quota_exceeded", quota: "JETQ_TENANT_MAX_QUEUED", limit: 5 });
    expect((await api("a", "GET", `/api/dlq/${poison.body.id}`)).status).toBe(200); // still there, unchanged
    expect((await api("a", "GET", `/api/tasks/${poison.body.id}/status`)).body.status).toBe("failed");

    for (const id of sleepers) expect((await api("a", "POST", `/api/tasks/${id}/cancel`)).status).toBe(200);
    const replayed = await waitFor("the replay accepted once the sleepers ended", async () => {
      const r = await api("a", "POST", `/api/dlq/${poison.body.id}/retry`);
      return r.status === 202 && r;
    }, 30_000, 300);
    expect(replayed.body.id ?? replayed.body.task?.id ?? poison.body.id).toBe(poison.body.id);
  }, 120_000);
});
