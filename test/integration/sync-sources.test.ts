// sync_sources through the REST API: a local HTTP server and a directory whose documents change,
// appear and disappear between syncs; only what changed is processed again, what disappeared is
// removed from search; and addresses or paths outside what is allowed are refused.
import { createServer, type Server } from "node:http";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientError } from "../support/client-calls.js";
import { clientOf, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let server: Server;
let base: string;
let root: string;
const docs = new Map<string, string>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "jetq-sources-"));
  server = createServer((req, res) => {
    const body = docs.get(req.url ?? "");
    if (body === undefined) return void res.writeHead(404).end();
    const etag = `"${Buffer.from(body).toString("base64url").slice(0, 16)}${body.length}"`;
    if (req.headers["if-none-match"] === etag) return void res.writeHead(304).end();
    res.writeHead(200, { "content-type": "text/plain", etag }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stack = await startStack({
    documents: true,
    workers: 1,
    env: { JETQ_SOURCES_ALLOWED_HOSTS: "127.0.0.1", JETQ_SOURCES_ROOT: root, JETQ_SYNC_SCHEDULER_MS: "3600000" },
  });
});
afterAll(async () => {
  await stack?.stop();
  server?.close();
  await rm(root, { recursive: true, force: true });
});

async function sync(sourceId: string) {
  const accepted = await clientOf(stack).sources.sync(sourceId); // 202
  expect(accepted.statusUrl).toBe(`/api/tasks/${accepted.id}/status`);
  const done = await waitFor("the sync", async () => {
    const s = await taskStatus(stack, accepted.id);
    return ["succeeded", "failed"].includes(s.status) && s;
  });
  return done;
}

/** Waits for every process_book the sync queued, and the embeddings each of those chained. */
async function settle(taskIds: string[]) {
  for (const id of taskIds) {
    const p = await waitFor(`process_book ${id}`, async () => {
      const s = await taskStatus(stack, id);
      return ["succeeded", "failed"].includes(s.status) && s;
    }, 60_000);
    expect(p.status).toBe("succeeded");
    if (p.result.embeddingTaskId) {
      await waitFor("embeddings", async () => (await taskStatus(stack, p.result.embeddingTaskId)).status === "succeeded", 60_000);
    }
  }
}

const search = async (q: string) => (await clientOf(stack).search(q, { k: 5 })).results;

describe("sync_sources", () => {
  it("processes only new and changed HTTP documents and removes deleted ones", async () => {
    docs.set("/falconry.txt", "Falconers train peregrine falcons to return to the glove.");
    docs.set("/weaving.txt", "Weavers dye wool with madder root to get a deep red.");
    const created = await clientOf(stack).sources.create({ kind: "http", name: "test site", urls: [`${base}/falconry.txt`, `${base}/weaving.txt`] }); // 201
    expect(created).toMatchObject({ kind: "http", name: "test site" });
    const id = created.id;

    const first = await sync(id);
    expect(first.result.sources[id]).toMatchObject({ new: 2, changed: 0, unchanged: 0, deleted: 0, errors: [] });
    await settle(first.result.sources[id].enqueued);
    expect((await search("peregrine falcons glove"))[0]?.text).toContain("peregrine");

    // Unchanged: nothing is queued again.
    const second = await sync(id);
    expect(second.result.sources[id]).toMatchObject({ new: 0, changed: 0, unchanged: 2, enqueued: [] });

    // One changes, one disappears.
    docs.set("/falconry.txt", "Falconers now also fly harris hawks, which hunt in family groups.");
    docs.delete("/weaving.txt");
    const third = await sync(id);
    expect(third.result.sources[id]).toMatchObject({ new: 0, changed: 1, deleted: 1 });
    await settle(third.result.sources[id].enqueued);
    expect((await search("harris hawks hunt in family groups"))[0]?.text).toContain("harris hawks");
    expect((await search("madder root wool dye")).some((r) => r.text.includes("madder"))).toBe(false);

    const source = await clientOf(stack).sources.get(id);
    expect(source.documents).toHaveLength(1);
    expect(source.lastResult).toMatchObject({ changed: 1, deleted: 1 });
  });

  it("keeps a directory source in step with its files", async () => {
    const library = join(root, "library");
    await mkdir(library, { recursive: true });
    await writeFile(join(library, "bells.md"), "# Bells\n\nBell founders cast bronze bells in clay moulds.");
    const { id } = await clientOf(stack).sources.create({ kind: "directory", path: library });

    const first = await sync(id);
    expect(first.result.sources[id]).toMatchObject({ new: 1 });
    await settle(first.result.sources[id].enqueued);

    await writeFile(join(library, "ropes.txt"), "Rope makers twist hemp fibres into strands on a ropewalk.");
    await rm(join(library, "bells.md"));
    const second = await sync(id);
    expect(second.result.sources[id]).toMatchObject({ new: 1, deleted: 1 });
    await settle(second.result.sources[id].enqueued);
    expect((await search("hemp fibres ropewalk"))[0]?.text).toContain("ropewalk");
    expect((await search("bronze bells clay moulds")).some((r) => r.text.includes("Bell founders"))).toBe(false);
  });

  it("refuses private addresses and paths outside the sources root when they are registered, storing nothing", async () => {
    const client = clientOf(stack);
    const before = await client.sources.list();
    // 169.254.169.254 is the cloud metadata address: refused at once, not at the first sync.
    const ssrf = await clientError(client.sources.create({ kind: "http", urls: ["http://169.254.169.254/latest/meta-data/"] }));
    expect(ssrf).toMatchObject({ status: 422, code: "source_not_allowed", details: [expect.objectContaining({ path: "urls.0", code: "address_refused" })] });
    expect(ssrf.message).toMatch(/link-local/);

    const escape = await clientError(client.sources.create({ kind: "directory", path: join(root, "..") }));
    expect(escape).toMatchObject({ status: 422, code: "source_not_allowed" });
    expect((escape.details as { code: string }[])[0]!.code).toBe("directory_not_allowed");
    expect(await client.sources.list()).toEqual(before);
  });

  it("refuses at sync time, once, a directory that leaves the root through a symlink", async () => {
    // Inside the root as written, so registration accepts it; only the worker's filesystem shows where it leads.
    const outside = await mkdtemp(join(tmpdir(), "jetq-outside-"));
    await symlink(outside, join(root, "escape"));
    const created = await clientOf(stack).sources.create({ kind: "directory", path: "escape" }); // 201
    const refused = await sync(created.id);
    expect(refused.status).toBe("failed");
    expect(refused.attempts).toBe(1);
    expect(refused.error).toMatchObject({ code: "directory_not_allowed", retryable: false });
    await rm(outside, { recursive: true, force: true });
  });

  it("validates source definitions", async () => {
    // Sent raw: the client's types would not let these through.
    const unknownKind = await stack.api("POST", "/api/sources", { kind: "ftp", urls: ["ftp://x"] });
    expect(unknownKind.status).toBe(422);
    expect(unknownKind.body.error.message).toMatch(/unknown kind "ftp": kind must be "http" or "directory"/);
    expect((await stack.api("POST", "/api/sources", { kind: "http", urls: [] })).status).toBe(422);
    expect((await stack.api("POST", "/api/sources", { kind: "http", urls: ["file:///etc/passwd"] })).status).toBe(422);
    expect((await stack.api("GET", "/api/sources/nope")).status).toBe(404);
  });
});
