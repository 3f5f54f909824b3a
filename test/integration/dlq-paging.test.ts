// The dead-letter queue at size: pages by cursor from the server (newest first, every entry once),
// filters by type and tenant on the stream's subjects, counts without reading entries, and bulk
// dry runs that say how many a filter matches while changing nothing.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeadLetterQueue, type DeadLetter } from "../../kernel/dead-letters.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { clientOf, startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let dlq: DeadLetterQueue;
/** Every seeded entry's id, in the order it died (oldest first). */
const seeded: { id: string; type: string; tenant: string }[] = [];

const ENTRIES = 1_200;

function entry(id: string, type: string, tenant: string, n: number): DeadLetter {
  return {
    task: { id, type, payload: {}, priority: "normal", maxAttempts: 3, timeoutSeconds: 60, createdAt: new Date(Date.now() - 60_000).toISOString(), ...(tenant === "default" ? {} : { tenant }) },
    error: { code: "handler_error", message: `boom ${n}`, retryable: false, attempt: 3 },
    attempts: 3,
    reason: "max_deliveries",
    deadLetteredAt: new Date(Date.now() - 10_000 + n).toISOString(),
    subject: `jetq.tasks.normal.${type}`,
    streamSeq: 1_000 + n,
  };
}

beforeAll(async () => {
  stack = await startStack({ workers: 0 });
  dlq = new DeadLetterQueue(stack.conn, taskQueueFor(stack.conn, stack.registry, { defaultTimeoutSeconds: 60 }));
  // The oldest entry is the only `record` one; of the rest every fourth is poison, every fourth acme's.
  for (let n = 0; n < 1 + ENTRIES; n++) {
    const type = n === 0 ? "record" : n % 4 === 3 ? "poison" : "echo";
    seeded.push({ id: randomUUID(), type, tenant: n % 4 === 1 ? "acme" : "default" });
  }
  // One at a time, so the stream's order is `seeded`'s and "newest first" its reverse.
  for (let i = 0; i < seeded.length; i++) {
    const s = seeded[i]!;
    await dlq.add(entry(s.id, s.type, s.tenant, i));
  }
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** Every page of GET /api/dlq with `query`, following nextCursor to the end. */
async function walk(query: string, limit: number) {
  const ids: string[] = [];
  const totals = new Set<number>();
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res: { status: number; body: any } = await stack.api("GET", `/api/dlq?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    ids.push(...res.body.items.map((e: DeadLetter) => e.task.id));
    totals.add(res.body.total);
    cursor = res.body.nextCursor;
    pages++;
    expect(pages).toBeLessThan(1_000);
  } while (cursor);
  return { ids, totals: [...totals], pages };
}

const newestFirst = (pick: (s: (typeof seeded)[number]) => boolean) => seeded.filter(pick).map((s) => s.id).reverse();

describe("DLQ paging", () => {
  it("walks every entry once, newest first, by cursor", async () => {
    const all = await walk("", 97);
    expect(all.ids).toEqual(newestFirst(() => true));
    expect(all.totals).toEqual([seeded.length]);
    expect(all.pages).toBe(Math.ceil(seeded.length / 97));
  });

  it("filters by type and by tenant on the server, with exact totals", async () => {
    const poison = await walk("&type=poison", 50);
    expect(poison.ids).toEqual(newestFirst((s) => s.type === "poison"));
    expect(poison.totals).toEqual([seeded.filter((s) => s.type === "poison").length]);

    const acme = await walk("&tenant=acme", 200);
    expect(acme.ids).toEqual(newestFirst((s) => s.tenant === "acme"));
    expect(acme.totals).toEqual([seeded.filter((s) => s.tenant === "acme").length]);

    const acmeEcho = await walk("&tenant=acme&type=echo", 200);
    expect(acmeEcho.ids).toEqual(newestFirst((s) => s.tenant === "acme" && s.type === "echo"));

    const defaults = await walk("&tenant=default", 500);
    expect(defaults.ids).toEqual(newestFirst((s) => s.tenant === "default"));
  });

  it("finds a sparse filter's one old entry behind a thousand newer ones", async () => {
    const rare = await walk("&type=record", 10);
    expect(rare.ids).toEqual([seeded[0]!.id]);
    expect(rare.totals).toEqual([1]);
  });

  it("still takes an offset, within its bound; a bad cursor or a far offset is a clear 400", async () => {
    const res = await stack.api("GET", "/api/dlq?limit=5&offset=10");
    expect(res.body.items.map((e: DeadLetter) => e.task.id)).toEqual(newestFirst(() => true).slice(10, 15));
    expect(res.body.offset).toBe(10);

    const far = await stack.api("GET", "/api/dlq?offset=10001");
    expect(far.status).toBe(400);
    expect(far.body.error.code).toBe("invalid_query");
    for (const bad of ["nope", "b0", "b-1", "b1x"]) {
      const r = await stack.api("GET", `/api/dlq?cursor=${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error.message).toMatch(/cursor/);
    }
  });

  it("dry runs count what a bulk call would touch and change nothing", async () => {
    const client = clientOf(stack);
    const poisonCount = seeded.filter((s) => s.type === "poison").length;
    const acmeCount = seeded.filter((s) => s.tenant === "acme").length;
    expect(await client.dlq.retryMany({ type: "poison", dryRun: true })).toMatchObject({ dryRun: true, matched: poisonCount, retried: [] });
    expect(await client.dlq.deleteMany({ tenant: "acme", dryRun: true })).toMatchObject({ dryRun: true, matched: acmeCount, deleted: 0 });
    expect(await client.dlq.deleteMany({ all: true, dryRun: true })).toMatchObject({ matched: seeded.length });
    expect((await client.dlq.list({ limit: 1 })).total).toBe(seeded.length);
    const { state } = await stack.conn.jsm.streams.info(TOPOLOGY.dlqStream);
    expect(state.messages).toBe(seeded.length);
  });

  it("discards one tenant's entries by filter, and replays a type's, each entry once", async () => {
    const client = clientOf(stack);
    const acme = seeded.filter((s) => s.tenant === "acme");
    expect(await client.dlq.deleteMany({ tenant: "acme" })).toEqual({ deleted: acme.length });
    const left = await walk("", 500);
    expect(left.ids).toEqual(newestFirst((s) => s.tenant !== "acme"));

    const rare = await client.dlq.retryMany({ type: "record" });
    expect(rare).toEqual({ retried: [seeded[0]!.id], errors: [] });
    await waitFor("the replayed task queued", async () => (await stack.api("GET", `/api/tasks/${seeded[0]!.id}/status`)).body.status === "queued");
    expect((await client.dlq.list({ type: "record" })).total).toBe(0);
    expect((await stack.api("GET", `/api/dlq/${seeded[0]!.id}`)).status).toBe(404);
  });
});
