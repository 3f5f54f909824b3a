// Per-tenant rate limits and quotas (issue #11, part 3): real NATS, real HTTP, auth on, keys of
// several tenants. Limits are fixed windows counted in NATS, so a second API on the same NATS
// shares them; the stored-bytes quota refuses an upload naming the quota.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../api/app.js";
import { newApiKey } from "../../api/auth/api-key.js";
import { silentLogger } from "../../kernel/logger.js";
import { connectLibrary, type LibraryConnection } from "../../library/connection.js";
import { startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

const WINDOW_SECONDS = 4;
const CREATES = 5;
const UPLOADS = 3;
const MAX_BYTES = 3000;

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const echo = (value: unknown) => ({ type: "echo", payload: { value } });

async function call(base: string, method: string, path: string, key: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { ...bearer(key), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function upload(base: string, key: string, path: string, content: string, name: string) {
  const form = new FormData();
  form.append("file", new Blob([content], { type: "text/plain" }), name);
  const res = await fetch(base + path, { method: "POST", headers: bearer(key), body: form });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/**
 * Waits for the start of a fresh rate window (the server's windows are aligned to the clock, and
 * the API runs in this process), so a burst of a few requests never straddles two windows.
 */
async function atWindowStart() {
  const ms = WINDOW_SECONDS * 1000;
  await new Promise((r) => setTimeout(r, ms - (Date.now() % ms) + 20));
}

describe("per-tenant rate limits and quotas", () => {
  const adminKey = newApiKey().key;
  let stack: Stack;
  const keys: Record<string, string> = {};
  let second: { base: string; conn: LibraryConnection; server: Server };

  beforeAll(async () => {
    stack = await startStack({
      documents: true,
      env: {
        JETQ_AUTH: "on",
        JETQ_ADMIN_KEY: adminKey,
        JETQ_RATE_CREATES: String(CREATES),
        JETQ_RATE_UPLOADS: String(UPLOADS),
        JETQ_RATE_WINDOW_SECONDS: String(WINDOW_SECONDS),
        JETQ_TENANT_MAX_BYTES: String(MAX_BYTES),
      },
    });
    for (const tenant of ["acme", "globex", "initech", "umbrella", "hooli", "flood", "quiet"]) {
      const made = await call(stack.baseUrl, "POST", "/api/keys", adminKey, { tenant, role: "member" });
      expect(made.status).toBe(201);
      keys[tenant] = made.body.key;
    }
    // A second API replica with its own NATS connection, on the same NATS.
    const conn = await connectLibrary(stack.config.natsUrl, stack.config.topology, { name: "second-api", consumersFor: { taskTypes: [] } });
    const api = createApi({ conn, registry: stack.registry, config: stack.config.api, defaultTimeoutSeconds: 60, log: silentLogger(), sourcePolicy: stack.config.documents.sources });
    const server: Server = await new Promise((r) => {
      const s = api.app.listen(0, "127.0.0.1", () => r(s));
    });
    second = { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, conn, server };
  }, 120_000);

  afterAll(async () => {
    if (second) {
      second.server.closeAllConnections();
      await new Promise((r) => second.server.close(r));
      await second.conn.close();
    }
    await stack?.stop();
  });

  it("answers 429 with Retry-After and RateLimit headers over the create rate, leaves other tenants alone, and resets after the window", async () => {
    await atWindowStart();
    for (let i = 0; i < CREATES; i++) {
      const ok = await call(stack.baseUrl, "POST", "/api/tasks", keys.acme!, echo(i));
      expect(ok.status).toBe(202);
      expect(ok.headers.get("ratelimit-limit")).toBe(String(CREATES));
      expect(ok.headers.get("ratelimit-remaining")).toBe(String(CREATES - i - 1));
      expect(Number(ok.headers.get("ratelimit-reset"))).toBeGreaterThanOrEqual(1);
    }
    const refused = await call(stack.baseUrl, "POST", "/api/tasks/create", keys.acme!, echo("one too many"));
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= WINDOW_SECONDS).toBe(true);
    expect(refused.headers.get("ratelimit-remaining")).toBe("0");
    expect(refused.body.error).toMatchObject({ code: "rate_limited", limit: "JETQ_RATE_CREATES", tenant: "acme", max: CREATES, windowSeconds: WINDOW_SECONDS, retryAfterSeconds: retryAfter });
    expect(refused.body.error.message).toContain("JETQ_RATE_CREATES");

    // Another tenant in the same window is not affected.
    expect((await call(stack.baseUrl, "POST", "/api/tasks", keys.globex!, echo("globex"))).status).toBe(202);
    // Reads are not limited.
    expect((await call(stack.baseUrl, "GET", "/api/tasks", keys.acme!)).status).toBe(200);

    // After Retry-After seconds the window has turned and acme may create again.
    await new Promise((r) => setTimeout(r, retryAfter * 1000));
    const again = await call(stack.baseUrl, "POST", "/api/tasks", keys.acme!, echo("next window"));
    expect(again.status).toBe(202);
  }, 60_000);

  it("counts the limit once across two API replicas on one NATS", async () => {
    await atWindowStart();
    const bases = [stack.baseUrl, second.base];
    const answers = [];
    for (let i = 0; i < CREATES + 2; i++) answers.push((await call(bases[i % 2]!, "POST", "/api/tasks", keys.initech!, echo(i))).status);
    expect(answers).toEqual([...Array(CREATES).fill(202), 429, 429]);
  }, 60_000);

  it("limits source syncs and DLQ replays as creates", async () => {
    await atWindowStart();
    for (let i = 0; i < CREATES; i++) expect((await call(stack.baseUrl, "POST", "/api/tasks", keys.hooli!, echo(i))).status).toBe(202);
    // The limit is checked before the id is looked up: a 429, not a 404.
    const sync = await call(stack.baseUrl, "POST", "/api/sources/6f1c8a52-3b7e-4d0a-9c11-2f6e8b1d4a77/sync", keys.hooli!);
    const replay = await call(stack.baseUrl, "POST", "/api/dlq/6f1c8a52-3b7e-4d0a-9c11-2f6e8b1d4a77/retry", keys.hooli!);
    expect([sync.status, replay.status]).toEqual([429, 429]);
    expect(sync.body.error.limit).toBe("JETQ_RATE_CREATES");
  }, 60_000);

  it("limits uploads per tenant, on /api/books and the /rag endpoints alike", async () => {
    await atWindowStart();
    const answers = [
      (await upload(stack.baseUrl, keys.umbrella!, "/api/books", "umbrella one", "a.txt")).status,
      (await upload(stack.baseUrl, keys.umbrella!, "/rag/add-document", "umbrella one", "a.txt")).status, // a duplicate: no new bytes
      (await upload(stack.baseUrl, keys.umbrella!, "/rag/add-documents-batch", "umbrella one", "a.txt")).status,
    ];
    expect(answers).toEqual([202, 202, 202]);
    const refused = await upload(stack.baseUrl, keys.umbrella!, "/api/books", "umbrella one", "a.txt");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(refused.body.error).toMatchObject({ code: "rate_limited", limit: "JETQ_RATE_UPLOADS", tenant: "umbrella", max: UPLOADS });
  }, 60_000);

  it("refuses an upload over the stored-bytes quota naming it, counts only new bytes, and gives bytes back when a book is deleted", async () => {
    const tenant = "globex";
    const big = "g".repeat(2000);
    await atWindowStart(); // three uploads below: within the upload rate of one window
    const first = await upload(stack.baseUrl, keys[tenant]!, "/api/books", big, "big.txt");
    expect(first.status).toBe(202);
    const bookId = first.body.books[0].bookId;

    const over = await upload(stack.baseUrl, keys[tenant]!, "/api/books", "h".repeat(2000), "other.txt");
    expect(over.status).toBe(413);
    expect(over.body.error).toMatchObject({ code: "quota_exceeded", quota: "JETQ_TENANT_MAX_BYTES", tenant, limit: MAX_BYTES, used: 2000, requested: 2000 });
    // Nothing of the refused upload was stored: the usage is the first book's bytes alone.
    const limits = await call(stack.baseUrl, "GET", "/api/limits", keys[tenant]!);
    expect(limits.status).toBe(200);
    expect(limits.body.quotas.storedBytes).toEqual({ setting: "JETQ_TENANT_MAX_BYTES", limit: MAX_BYTES, used: 2000 });

    // Another tenant has its own quota.
    const other = await upload(stack.baseUrl, keys.quiet!, "/api/books", "q".repeat(2000), "quiet.txt");
    expect(other.status).toBe(202);

    // Deleting the book frees its bytes; the same upload is accepted then.
    await waitFor("the book to be processed", async () => (await call(stack.baseUrl, "GET", `/api/books/${bookId}`, keys[tenant]!)).body?.status === "ready", 60_000);
    expect((await call(stack.baseUrl, "DELETE", `/api/books/${bookId}`, keys[tenant]!)).status).toBe(204);
    await waitFor("the freed bytes", async () => (await call(stack.baseUrl, "GET", "/api/limits", keys[tenant]!)).body.quotas.storedBytes.used === 0);
    await atWindowStart();
    expect((await upload(stack.baseUrl, keys[tenant]!, "/api/books", "h".repeat(2000), "other.txt")).status).toBe(202);
  }, 120_000);

  it("shows the tenant its limits and what it used of them in GET /api/limits, viewer role included", async () => {
    const viewer = (await call(stack.baseUrl, "POST", "/api/keys", adminKey, { tenant: "quiet", role: "viewer" })).body.key;
    await atWindowStart();
    expect((await call(stack.baseUrl, "POST", "/api/tasks", keys.quiet!, echo(1))).status).toBe(202);
    expect((await call(stack.baseUrl, "POST", "/api/tasks", keys.quiet!, echo(2))).status).toBe(202);
    const seen = await call(second.base, "GET", "/api/limits", viewer);
    expect(seen.status).toBe(200);
    expect(seen.body.tenant).toBe("quiet");
    expect(seen.body.rates.creates).toMatchObject({ setting: "JETQ_RATE_CREATES", limit: CREATES, used: 2, remaining: CREATES - 2, windowSeconds: WINDOW_SECONDS });
    expect(seen.body.rates.uploads).toMatchObject({ setting: "JETQ_RATE_UPLOADS", limit: UPLOADS, windowSeconds: WINDOW_SECONDS });
    expect(Date.parse(seen.body.rates.creates.resetsAt)).toBeGreaterThan(Date.now());
    expect(seen.body.quotas.storedBytes).toMatchObject({ setting: "JETQ_TENANT_MAX_BYTES", limit: MAX_BYTES, used: 2000 });
    // A viewer may read its limits, but not create.
    expect((await call(stack.baseUrl, "POST", "/api/tasks", viewer, echo(3))).status).toBe(403);
  }, 60_000);

  it("stays responsive under thousands of requests in a row and loses nothing it accepted", async () => {
    const total = 2000;
    const accepted: string[] = [];
    const statuses = new Map<number, number>();
    const started = Date.now();
    let next = 0;
    const lanes = Array.from({ length: 16 }, async () => {
      while (next < total) {
        const i = next++;
        const r = await call(stack.baseUrl, "POST", "/api/tasks", keys.flood!, echo(i));
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 202) accepted.push(r.body.id);
      }
    });
    // While the flood runs, another tenant's reads answer promptly.
    const probes: number[] = [];
    const probing = (async () => {
      while (next < total) {
        const t = performance.now();
        expect((await call(stack.baseUrl, "GET", "/api/limits", keys.acme!)).status).toBe(200);
        probes.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await Promise.all([...lanes, probing]);
    const windows = Math.floor((Date.now() - started) / (WINDOW_SECONDS * 1000)) + 2; // windows the flood touched
    expect([...statuses.keys()].sort()).toEqual(accepted.length < total ? [202, 429] : [202]);
    expect(accepted.length).toBeGreaterThanOrEqual(CREATES);
    expect(accepted.length).toBeLessThanOrEqual(CREATES * windows);
    expect(Math.max(...probes), "the slowest read of another tenant during the flood (ms)").toBeLessThan(2000);
    // Every accepted task exists and runs.
    for (const id of accepted) await waitFor(`task ${id}`, async () => (await call(stack.baseUrl, "GET", `/api/tasks/${id}`, keys.flood!)).body?.status === "succeeded", 60_000);
  }, 180_000);
});
