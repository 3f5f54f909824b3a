// Listings: GET /api/books and GET /api/sources page through thousands of records without
// creating a server-side consumer per request. A dashboard polling them thousands of times must
// leave every stream's consumer count where it was, and sync_sources must still run afterwards.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BookRecord } from "../../library/books.js";
import { SourceRegistry } from "../../library/sources.js";
import { startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let site: Server;
let base: string;

beforeAll(async () => {
  site = createServer((_req, res) => void res.writeHead(200, { "content-type": "text/plain" }).end("Kestrels hover over the verge before they drop onto a vole."));
  await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  stack = await startStack({ documents: true, workers: 1, env: { JETQ_SOURCES_ALLOWED_HOSTS: "127.0.0.1", JETQ_SYNC_SCHEDULER_MS: "3600000" } });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  site?.close();
});

const sources = () => new SourceRegistry(stack.conn);

/** A book record as process_book writes it, created `minutesAgo` minutes ago. */
function bookRecord(minutesAgo: number): BookRecord {
  const at = new Date(Date.UTC(2026, 0, 1) - minutesAgo * 60_000).toISOString();
  return { bookId: randomUUID(), filename: `b${minutesAgo}.txt`, contentType: "text/plain", status: "ready", pages: 1, chunks: 1, characters: 10, contentHash: "0".repeat(64), chunkSize: 1200, chunkOverlap: 200, createdAt: at, updatedAt: at };
}

/** Consumers on every stream, by stream name. */
async function consumerCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const s of stack.conn.jsm.streams.list()) out[s.config.name] = s.state.consumer_count;
  return out;
}

async function getAll(path: string, times: number, parallel = 8) {
  let next = 0;
  const statuses = new Map<number, number>();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next++ < times) {
        const res = await fetch(stack.baseUrl + path);
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return Object.fromEntries(statuses);
}

async function syncAndWait(body: object) {
  const created = await stack.api("POST", "/api/tasks", { type: "sync_sources", payload: body });
  expect(created.status).toBe(202);
  return waitFor("the sync to finish", async () => {
    const s = await taskStatus(stack, created.body.id);
    return ["succeeded", "failed", "cancelled"].includes(s.status) && s;
  }, 60_000);
}

describe("paged listings", () => {
  const books = Array.from({ length: 25 }, (_, i) => bookRecord(i)); // books[0] is the newest

  beforeAll(async () => {
    for (const b of [...books].reverse()) await stack.conn.books.put(b.bookId, JSON.stringify(b));
  });

  it("pages through books newest first with a cursor, each exactly once, with the total", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; body: any } = await stack.api("GET", `/api/books?limit=10${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ total: 25, limit: 10, offset: pages * 10 });
      seen.push(...res.body.items.map((b: BookRecord) => b.bookId));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(books.map((b) => b.bookId));
  });

  it("takes an offset too, and refuses a cursor it did not give out", async () => {
    const res = await stack.api("GET", "/api/books?limit=5&offset=20");
    expect(res.body.items.map((b: BookRecord) => b.bookId)).toEqual(books.slice(20).map((b) => b.bookId));
    expect(res.body.nextCursor).toBeNull();
    const bad = await stack.api("GET", "/api/books?cursor=bm90LWEtY3Vyc29y");
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe("cursor");
    expect((await stack.api("GET", "/api/books?limit=0")).status).toBe(400);
  });

  it("shows writes made just before the listing: a new book at the top, a deleted one gone", async () => {
    const newest = bookRecord(-5);
    await stack.conn.books.put(newest.bookId, JSON.stringify(newest));
    await stack.conn.books.delete(books[1]!.bookId);
    const res = await stack.api("GET", "/api/books?limit=3");
    expect(res.body.items.map((b: BookRecord) => b.bookId)).toEqual([newest.bookId, books[0]!.bookId, books[2]!.bookId]);
    expect(res.body.total).toBe(25);
  });

  it("pages through sources oldest first, a source registered a moment ago included", async () => {
    const created: { id: string; createdAt: string }[] = [];
    // Registered straight in the registry: what is listed, not how registration validates, is tested here.
    for (let i = 0; i < 7; i++) created.push(await sources().create({ kind: "http", name: `s${i}`, urls: [`https://example.org/${i}.txt`] }));
    // Oldest first; sources registered in the same millisecond come in id order.
    const ids = created.sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1)).map((s) => s.id);
    const first = await stack.api("GET", "/api/sources?limit=4");
    expect(first.body).toMatchObject({ total: 7, limit: 4, offset: 0 });
    const second = await stack.api("GET", `/api/sources?limit=4&cursor=${first.body.nextCursor}`);
    expect([...first.body.items, ...second.body.items].map((s: { id: string }) => s.id)).toEqual(ids);
    expect(second.body.nextCursor).toBeNull();
    for (const id of ids) expect((await stack.api("DELETE", `/api/sources/${id}`)).status).toBe(204);
    expect((await stack.api("GET", "/api/sources")).body.total).toBe(0);
  });
});

describe("listing thousands of times", () => {
  it(
    "leaves no consumer behind, and sync_sources still succeeds afterwards",
    async () => {
      const source = await sources().create({ kind: "http", name: "birds", urls: [`${base}/kestrels.txt`] });
      // A finished task, so that listing tasks has state records to scan.
      expect((await syncAndWait({ sourceId: randomUUID() })).status).toMatch(/succeeded|failed/);
      const before = await consumerCounts();

      expect(await getAll("/api/books", 3000)).toEqual({ 200: 3000 });
      expect(await getAll("/api/sources", 3000)).toEqual({ 200: 3000 });
      // The other scans the API makes per request: task listing and queue state (worker presence).
      expect(await getAll("/api/tasks", 300)).toEqual({ 200: 300 });
      expect(await getAll("/api/tasks/queue", 300)).toEqual({ 200: 300 });

      expect(await consumerCounts()).toEqual(before);

      // Every due source (the scan the scheduler and the handler make), then the one source.
      const all = await syncAndWait({});
      expect(all.status).toBe("succeeded");
      const one = await syncAndWait({ sourceId: source.id });
      expect(one.status).toBe("succeeded");
      // The synced document is read back, chunked and embedded: object reads must not leave consumers either.
      await waitFor("the synced book to be embedded", async () => {
        const [doc] = Object.values(await sources().documents(source.id));
        const items = (await stack.api("GET", "/api/books?limit=100")).body.items as BookRecord[];
        const book = items.find((b) => b.bookId === doc?.bookId);
        if (book?.status === "failed") throw new Error(`the synced book failed: ${book.error}`);
        return book?.embeddedChunks !== undefined;
      }, 60_000);
      expect(await consumerCounts()).toEqual(before);
    },
    240_000,
  );
});
