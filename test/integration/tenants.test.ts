// Tenants everywhere (issue #11, part 2): a member of one tenant never sees, touches or even learns
// of another tenant's tasks, dead-lettered entries or sources — by id, in lists, over SSE or through the
// /rag/* endpoints; a viewer reads only; idempotency keys are per tenant; a task a handler chains
// belongs to its parent's tenant; a record written before tenants existed belongs to `default`.
// Real NATS, real HTTP, real workers.
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newApiKey } from "../../api/auth/api-key.js";
import { documentTaskTypes } from "../../library/task-types.js";
import type { TaskRecord } from "../../kernel/task.js";
import type { TaskHandler } from "../../worker/handler.js";
import { startStack, type Stack } from "../support/stack.js";
import { testRegistry } from "../support/test-types.js";
import { waitFor } from "../support/wait.js";

// `chain` queues a `record` task from its handler, the way pipeline handlers chain their next step.
// The document types are registered (sync_sources is queued here), not run: no document handlers.
const registry = documentTaskTypes(testRegistry()).register({ name: "chain", description: "enqueues one record task", payload: z.object({ label: z.string() }).strict() });
const chain: TaskHandler = async (ctx) => {
  const child = await ctx.enqueue({ type: "record", payload: { label: (ctx.payload as { label: string }).label } });
  return { child: child.id };
};

describe("tenants: tasks and the dead-letter queue", () => {
  let stack: Stack;
  const adminKey = newApiKey().key;
  const keys: Record<string, string> = {};
  const as = (who: string) => ({ authorization: `Bearer ${who === "admin" ? adminKey : keys[who]}` });
  const api = (who: string, method: string, path: string, body?: unknown) => stack.api(method, path, body, as(who));
  const create = async (who: string, body: object) => {
    const res = await api(who, "POST", "/api/tasks", body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body.id as string;
  };
  const ended = (id: string, status: string) =>
    waitFor(`task ${id} to be ${status}`, async () => {
      const r = await api("admin", "GET", `/api/tasks/${id}/status`);
      return r.body?.status === status && r.body;
    });
  /** Every id of a listing, read to its end (a member's listing is filtered record by record, so it may take pages). */
  const listedIds = async (who: string, query = "") => {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await api(who, "GET", `/api/tasks?limit=100${query}${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      ids.push(...res.body.items.map((t: { id: string }) => t.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    return ids;
  };

  beforeAll(async () => {
    stack = await startStack({ workers: 1, registry, handlers: { chain }, env: { JETQ_AUTH: "on", JETQ_ADMIN_KEY: adminKey, JETQ_SOURCES_ALLOWED_HOSTS: "books.test" } });
    for (const [name, tenant, role] of [["a", "acme", "member"], ["aViewer", "acme", "viewer"], ["b", "globex", "member"], ["dflt", "default", "member"]] as const) {
      const made = await api("admin", "POST", "/api/keys", { tenant, role, name: `${role} of ${tenant}` });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      keys[name] = made.body.key;
    }
  }, 120_000);
  afterAll(() => stack?.stop());

  it("answers 404 for another tenant's task by id, over SSE, on cancel and through /rag/task, and lists only the caller's", async () => {
    const mine = await create("a", { type: "sleep", payload: { ms: 60_000 } });
    const theirs = await create("b", { type: "echo", payload: { value: "globex's" } });
    await ended(theirs, "succeeded");

    for (const path of [`/api/tasks/${mine}/status`, `/api/tasks/${mine}`, `/rag/task/${mine}`, `/api/tasks/${mine}/events`]) {
      const res = await api("b", "GET", path);
      expect(res.status, path).toBe(404);
      expect(res.body.error.code, path).toBe("not_found");
    }
    // The same answer as for an id that names nothing: nothing tells B the task exists.
    const missing = await api("b", "GET", "/api/tasks/6f1c8a52-3b7e-4d0a-9c11-2f6e8b1d4a77/status");
    expect(missing.status).toBe(404);
    expect((await api("b", "POST", `/api/tasks/${mine}/cancel`)).status).toBe(404);
    expect((await api("a", "GET", `/api/tasks/${mine}/status`)).body.status).not.toBe("cancelled"); // B's cancel did nothing

    // Each member's own reads work; the admin reads both.
    expect((await api("a", "GET", `/rag/task/${mine}`)).status).toBe(200);
    expect((await api("b", "GET", `/api/tasks/${theirs}`)).body).toMatchObject({ id: theirs, payload: { value: "globex's" } });
    expect((await api("admin", "GET", `/api/tasks/${mine}`)).status).toBe(200);

    // Lists: in every status and with a search filter, only the caller's tasks.
    const aSees = await listedIds("a");
    const bSees = await listedIds("b");
    expect(aSees).toContain(mine);
    expect(aSees).not.toContain(theirs);
    expect(bSees).toContain(theirs);
    expect(bSees).not.toContain(mine);
    expect(await listedIds("b", "&status=queued")).not.toContain(mine);
    expect(await listedIds("a", "&status=succeeded")).not.toContain(theirs);
    expect(await listedIds("a", "&type=echo&payload=value=globex's")).toEqual([]);
    const adminSees = await listedIds("admin");
    expect(adminSees).toEqual(expect.arrayContaining([mine, theirs]));

    // A viewer of acme reads acme's task, and may not create or cancel.
    expect((await api("aViewer", "GET", `/api/tasks/${mine}/status`)).status).toBe(200);
    expect((await api("aViewer", "GET", `/api/tasks/${theirs}/status`)).status).toBe(404);
    expect((await api("aViewer", "POST", "/api/tasks", { type: "echo", payload: {} })).status).toBe(403);
    expect((await api("aViewer", "POST", `/api/tasks/${mine}/cancel`)).status).toBe(403);

    // The owner cancels it.
    const cancel = await api("a", "POST", `/api/tasks/${mine}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe("cancelled");
  }, 60_000);

  it("keeps idempotency keys apart per tenant", async () => {
    const body = { type: "echo", payload: { value: 1 }, idempotencyKey: "nightly-2026-12-02" };
    const a1 = await api("a", "POST", "/api/tasks", body);
    const b1 = await api("b", "POST", "/api/tasks", body);
    const d1 = await api("dflt", "POST", "/api/tasks", body);
    expect([a1.body.created, b1.body.created, d1.body.created]).toEqual([true, true, true]);
    expect(new Set([a1.body.id, b1.body.id, d1.body.id]).size).toBe(3);
    // Within a tenant the key still names one task.
    const a2 = await api("a", "POST", "/api/tasks", body);
    expect(a2.body).toMatchObject({ id: a1.body.id, created: false });
    expect(a2.headers.get("idempotent-replayed")).toBe("true");
    // The admin's key belongs to `default`: it replays the default member's task, as before tenants.
    const adminReplay = await api("admin", "POST", "/api/tasks", body);
    expect(adminReplay.body).toMatchObject({ id: d1.body.id, created: false });
    // Another tenant's different payload under the same key is not a reuse of someone else's key.
    const b2 = await api("b", "POST", "/api/tasks", { ...body, payload: { value: 2 } });
    expect(b2.status).toBe(422);
    expect(b2.body.error.details.taskId).toBe(b1.body.id); // its own task, never another tenant's
  });

  it("gives a task a handler chains its parent's tenant", async () => {
    const parent = await create("b", { type: "chain", payload: { label: "globex chain" } });
    const done = await ended(parent, "succeeded");
    const child = (done.result as { child: string }).child;
    expect((await api("b", "GET", `/api/tasks/${child}/status`)).status).toBe(200);
    expect((await api("a", "GET", `/api/tasks/${child}/status`)).status).toBe(404);
    expect((await stack.record(child)).tenant).toBe("globex");
  }, 60_000);

  it("reads a record written before tenants as the default tenant's", async () => {
    const id = "0b7f2a10-5c3d-4e8f-9a61-7d2c4b8e1f05";
    const old: TaskRecord = { id, type: "echo", payload: {}, priority: "normal", maxAttempts: 1, timeoutSeconds: 60, createdAt: new Date().toISOString(), status: "succeeded", attempts: 1, progress: { percent: 100 }, result: { echoed: null } };
    await stack.conn.state.create(old);
    expect((await api("dflt", "GET", `/api/tasks/${id}/status`)).status).toBe(200);
    expect((await api("a", "GET", `/api/tasks/${id}/status`)).status).toBe(404);
    expect(await listedIds("dflt", "&status=succeeded")).toContain(id);
    expect(await listedIds("a", "&status=succeeded")).not.toContain(id);
  });

  it("shows, replays and discards dead-lettered tasks only to their tenant (admin: every tenant, or ?tenant=)", async () => {
    const aDead = await create("a", { type: "poison", payload: {} });
    const bDead = await create("b", { type: "poison", payload: {} });
    for (const id of [aDead, bDead]) await waitFor(`${id} in the DLQ`, async () => (await api("admin", "GET", `/api/dlq/${id}`)).status === 200);

    const dlqIds = async (who: string, query = "") => ((await api(who, "GET", `/api/dlq?limit=100${query}`)).body.items as { task: { id: string } }[]).map((e) => e.task.id);
    expect(await dlqIds("a")).toEqual([aDead]);
    expect(await dlqIds("b")).toEqual([bDead]);
    expect(await dlqIds("a", "&tenant=globex")).toEqual([aDead]); // a member cannot widen its view
    expect((await dlqIds("admin")).sort()).toEqual([aDead, bDead].sort());
    expect(await dlqIds("admin", "&tenant=globex")).toEqual([bDead]);
    expect((await api("admin", "GET", `/api/dlq/${aDead}`)).body.task.tenant).toBe("acme");

    expect((await api("b", "GET", `/api/dlq/${aDead}`)).status).toBe(404);
    expect((await api("b", "POST", `/api/dlq/${aDead}/retry`)).status).toBe(404);
    expect((await api("b", "DELETE", `/api/dlq/${aDead}`)).status).toBe(404);
    expect((await api("aViewer", "POST", `/api/dlq/${aDead}/retry`)).status).toBe(403);
    expect((await api("aViewer", "DELETE", `/api/dlq/${aDead}`)).status).toBe(403);
    expect((await api("admin", "GET", `/api/dlq/${aDead}`)).status).toBe(200); // still there

    // An admin's bulk discard of one tenant leaves the other's entries.
    const bulk = await api("admin", "DELETE", "/api/dlq?tenant=globex");
    expect(bulk.status, JSON.stringify(bulk.body)).toBe(200);
    expect(bulk.body.deleted).toBe(1);
    expect((await dlqIds("admin")).sort()).toEqual([aDead]);
    // Its owner discards its own.
    expect((await api("a", "DELETE", `/api/dlq/${aDead}`)).status).toBe(204);
    expect(await dlqIds("admin")).toEqual([]);
  }, 60_000);

  it("finds a duplicate upload only among the uploader's own tenant's books", async () => {
    const upload = async (who: string) => {
      const form = new FormData();
      form.append("files", new Blob(["# Astrolabes\n\nThe same bytes, uploaded by two tenants."], { type: "text/markdown" }), "astrolabes.md");
      const res = await fetch(`${stack.baseUrl}/api/books`, { method: "POST", body: form, headers: as(who) });
      expect(res.status).toBe(202);
      return ((await res.json()) as { books: { bookId: string; taskId: string | null; duplicate: boolean }[] }).books[0]!;
    };
    const first = await upload("a");
    expect(first.duplicate).toBe(false);
    expect(await upload("a")).toMatchObject({ bookId: first.bookId, taskId: first.taskId, duplicate: true }); // the same tenant: its book
    const other = await upload("b");
    expect(other.duplicate).toBe(false); // never acme's book, nor its task
    expect(other.bookId).not.toBe(first.bookId);
    expect((await api("b", "GET", `/api/tasks/${other.taskId}/status`)).status).toBe(200);
    expect((await api("b", "GET", `/api/tasks/${first.taskId}/status`)).status).toBe(404);
  });

  it("answers 404 for another tenant's source by id, on sync and on delete, and lists only the caller's", async () => {
    const made = await api("a", "POST", "/api/sources", { kind: "http", name: "acme handbook", urls: ["https://books.test/handbook.html"] });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const mine = made.body.id as string;
    const theirs = (await api("b", "POST", "/api/sources", { kind: "http", urls: ["https://books.test/globex.html"] })).body.id as string;
    const sourceIds = async (who: string) => ((await api(who, "GET", "/api/sources?limit=100")).body.items as { id: string }[]).map((s) => s.id);
    expect(await sourceIds("a")).toEqual([mine]);
    expect(await sourceIds("b")).toEqual([theirs]);
    expect((await sourceIds("admin")).sort()).toEqual([mine, theirs].sort());
    expect((await api("a", "GET", "/api/sources")).body.total).toBe(1);

    expect((await api("b", "GET", `/api/sources/${mine}`)).status).toBe(404);
    expect((await api("b", "POST", `/api/sources/${mine}/sync`)).status).toBe(404);
    expect((await api("b", "DELETE", `/api/sources/${mine}`)).status).toBe(404);
    expect((await api("aViewer", "DELETE", `/api/sources/${mine}`)).status).toBe(403);
    expect((await api("aViewer", "GET", `/api/sources/${mine}`)).body).toMatchObject({ id: mine, tenant: "acme" });

    // A sync the admin starts of acme's source is acme's task.
    const sync = await api("admin", "POST", `/api/sources/${mine}/sync`);
    expect(sync.status).toBe(202);
    expect((await api("a", "GET", `/api/tasks/${sync.body.id}/status`)).status).toBe(200);
    expect((await api("b", "GET", `/api/tasks/${sync.body.id}/status`)).status).toBe(404);

    expect((await api("a", "DELETE", `/api/sources/${mine}`)).status).toBe(204);
    expect(await sourceIds("admin")).toEqual([theirs]);
  }, 60_000);
});
