// Sources that cannot reach what they should not, seen from the REST API: a source naming a
// loopback, non-global or own address, a local name, or a directory without (or outside) the
// sources root is refused at registration with 422 and nothing is stored; an unknown kind is told
// the kinds there are. And a sync whose name lookup fails for a while is retried until it works,
// while one that can never work (an id that names nothing) fails once.
// Names resolve only through an injected resolver; the only server contacted is on 127.0.0.1.
import { createServer, type Server } from "node:http";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createApp } from "../../api/app.js";
import { connectLibrary, type LibraryConnection } from "../../library/connection.js";
import { silentLogger } from "../../kernel/logger.js";
import { TaskTypeRegistry } from "../../kernel/registry.js";
import type { SourcePolicy } from "../../library/source-safety.js";
import { documentTaskTypes } from "../../library/task-types.js";
import { createPipeline, documentHandlers } from "../../worker/handlers/index.js";
import type { Pipeline } from "../../worker/handlers/pipeline.js";
import { syncSources } from "../../worker/handlers/sync-sources.js";
import { Worker } from "../../worker/runtime.js";
import type { ResolveHost } from "../../worker/sources/address-guard.js";
import { JetqClient } from "../../client/index.js";
import { clientError } from "../support/client-calls.js";
import { startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

/**
 * The built-in task types, except that sync_sources takes any string as sourceId, as tasks queued
 * before payload ids were validated did: the handler itself must not retry what names nothing.
 */
function registryWithUncheckedSourceIds(): TaskTypeRegistry {
  const registry = new TaskTypeRegistry();
  for (const def of documentTaskTypes().all()) {
    registry.register(def.name === "sync_sources" ? { ...def, payload: z.object({ sourceId: z.string().optional() }).strict() } : def);
  }
  return registry;
}

let stack: Stack;
let root: string;
let docServer: Server;
let docPort: number;
const apis: Array<{ server: Server; close(): Promise<void> }> = [];

/**
 * An API with its own source policy, on the stack's NATS: its typed client, and `raw` for bodies
 * the client's types would not let through.
 */
async function apiWith(policy: SourcePolicy) {
  const app = createApp({ conn: stack.conn, registry: stack.registry, config: stack.config.api, defaultTimeoutSeconds: 60, log: silentLogger(), sourcePolicy: policy });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  apis.push({ server, close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))) });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const raw = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return { client: new JetqClient({ baseUrl: base }), raw };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "jetq-source-safety-"));
  await mkdir(join(root, "library"));
  docServer = createServer((req, res) => {
    if (req.url === "/falconry.txt") return void res.writeHead(200, { "content-type": "text/plain" }).end("Falconers train peregrine falcons to return to the glove.");
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => docServer.listen(0, "127.0.0.1", r));
  docPort = (docServer.address() as AddressInfo).port;
  // The workers trust books.test (it resolves to the local document server); the API policies are per test.
  stack = await startStack({ documents: true, workers: 0, registry: registryWithUncheckedSourceIds(), env: { JETQ_SOURCES_ALLOWED_HOSTS: "books.test", JETQ_SOURCES_ROOT: root } });
});

afterAll(async () => {
  await Promise.allSettled(apis.map((a) => a.close()));
  await stack?.stop();
  docServer?.close();
  await rm(root, { recursive: true, force: true });
});

const strict: SourcePolicy = { allowPrivateAddresses: false, allowedHosts: [], directoryRoot: "" };

/** This machine's first non-loopback address (eth0's 192.0.2.2 here), written for a URL. */
function ownAddressForUrl(): string {
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  const mine = all.find((i) => !i.internal && i.family === "IPv4") ?? all.find((i) => !i.internal) ?? all[0]!;
  const address = mine.address.replace(/%.*/, "");
  return mine.family === "IPv6" ? `[${address}]` : address;
}

describe("registering a source", () => {
  it("refuses loopback, own and other non-global addresses and local names with 422, storing nothing", async () => {
    const { client } = await apiWith(strict);
    const before = await client.sources.list();

    const cases: Array<[string, RegExp]> = [
      ["http://127.0.0.1:8080/metrics", /127\.0\.0\.1 is loopback/],
      ["http://localhost:8080/metrics", /localhost: it is a name for this machine/],
      ["http://[::1]:8080/metrics", /loopback/],
      [`http://${ownAddressForUrl()}:8080/metrics`, /refusing to fetch from/],
      ["http://203.0.113.9/book.txt", /documentation, TEST-NET-3/],
      ["http://[::ffff:169.254.169.254]/latest/meta-data/", /link-local.*IPv4-mapped/],
      ["http://metadata.google.internal/computeMetadata/v1/", /private-use name/],
    ];
    for (const [url, why] of cases) {
      const err = await clientError(client.sources.create({ kind: "http", urls: ["https://example.org/fine.html", url] }));
      expect(err, url).toMatchObject({ status: 422, code: "source_not_allowed" });
      expect(err.message).toMatch(why);
      expect(err.message).toMatch(/JETQ_SOURCES_ALLOW_PRIVATE.*JETQ_SOURCES_ALLOWED_HOSTS/);
      expect(err.details).toEqual([expect.objectContaining({ path: "urls.1", code: "address_refused" })]);
    }
    expect(await client.sources.list()).toEqual(before);
  });

  it("refuses a directory source when no root is configured, or outside the root", async () => {
    const closed = (await apiWith(strict)).client;
    const before = await closed.sources.list();
    const none = await clientError(closed.sources.create({ kind: "directory", path: join(root, "library") }));
    expect(none).toMatchObject({ status: 422, code: "source_not_allowed", details: [expect.objectContaining({ path: "path", code: "directory_not_allowed" })] });
    expect(none.message).toMatch(/directory sources are disabled.*JETQ_SOURCES_ROOT/);

    const rooted = (await apiWith({ ...strict, directoryRoot: root })).client;
    for (const path of [join(root, ".."), "/etc", "library/../../elsewhere"]) {
      const outside = await clientError(rooted.sources.create({ kind: "directory", path }));
      expect(outside.status, path).toBe(422);
      expect(outside.message).toMatch(/outside the sources root \(JETQ_SOURCES_ROOT\)/);
    }
    expect(await closed.sources.list()).toEqual(before);

    const inside = await rooted.sources.create({ kind: "directory", path: "library" }); // 201
    await rooted.sources.delete(inside.id);
  });

  it("keeps the escape hatches: allowed hosts and JETQ_SOURCES_ALLOW_PRIVATE", async () => {
    const trusting = (await apiWith({ ...strict, allowedHosts: ["127.0.0.1"] })).client;
    const allowed = await trusting.sources.create({ kind: "http", urls: ["http://127.0.0.1:8080/doc.txt"] }); // 201
    expect((await clientError(trusting.sources.create({ kind: "http", urls: ["http://10.0.0.1/doc.txt"] }))).status).toBe(422);
    const open = (await apiWith({ ...strict, allowPrivateAddresses: true })).client;
    const local = await open.sources.create({ kind: "http", urls: ["http://localhost:8080/doc.txt", "http://10.0.0.1/doc.txt"] }); // 201
    for (const id of [allowed.id, local.id]) await open.sources.delete(id);
  });

  it("answers an unknown kind with the kinds there are", async () => {
    const api = (await apiWith(strict)).raw; // bodies the client's types refuse
    for (const body of [{ kind: "ftp", urls: ["ftp://example.org/x"] }, { urls: ["https://example.org/x"] }]) {
      const res = await api("POST", "/api/sources", body);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe("invalid_source");
      for (const text of [res.body.error.message, res.body.error.details[0].message]) {
        expect(text).toContain('"http"');
        expect(text).toContain('"directory"');
      }
      expect(res.body.error.details[0].path).toBe("kind");
    }
  });
});

describe("syncing a source", () => {
  let wconn: LibraryConnection;
  let worker: Worker;
  let pipeline: Pipeline;
  /** Fails the first lookups the way a resolver without network does, then answers. */
  let failuresLeft = 0;
  const lookups: string[] = [];
  const flakyResolve: ResolveHost = async (host) => {
    lookups.push(host);
    if (failuresLeft > 0) {
      failuresLeft--;
      throw Object.assign(new Error(`getaddrinfo EAI_AGAIN ${host}`), { code: "EAI_AGAIN" });
    }
    if (host === "books.test") return [{ address: "127.0.0.1", family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  };

  beforeAll(async () => {
    wconn = await connectLibrary(stack.config.natsUrl, stack.config.topology, { name: "source-safety-worker", consumersFor: { taskTypes: [] } });
    worker = new Worker({ conn: wconn, registry: stack.registry, config: stack.config.worker, log: silentLogger(), idlePollMs: 500 });
    pipeline = createPipeline(wconn, stack.config.documents);
    for (const [type, handler] of documentHandlers(pipeline)) worker.handle(type, handler);
    worker.handle("sync_sources", syncSources(pipeline, { readers: { resolve: flakyResolve } }));
    await worker.start();
  });
  afterAll(async () => {
    await worker?.stop(1000);
    await pipeline?.vectors.close();
    await wconn?.close();
  });

  const finished = (id: string) =>
    waitFor(`task ${id}`, async () => {
      const s = await taskStatus(stack, id);
      return ["succeeded", "failed"].includes(s.status) && s;
    }, 60_000);

  it("retries a sync whose name lookup fails, with backoff, until the lookup works", async () => {
    const { client } = await apiWith(strict); // books.test is a name: the API does not resolve it
    const created = await client.sources.create({ kind: "http", urls: [`http://books.test:${docPort}/falconry.txt`] }); // 201
    failuresLeft = 2;
    lookups.length = 0;
    const sync = await client.sources.sync(created.id); // 202

    const done = await finished(sync.id);
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(3);
    expect(done.result.sources[created.id]).toMatchObject({ new: 1, errors: [] });
    expect(lookups).toEqual(["books.test", "books.test", "books.test"]);
  });

  it("fails at once, without retrying, a sync of an id that names nothing or a source that can never be read", async () => {
    const { client } = await apiWith({ ...strict, directoryRoot: root });
    const missing = await client.sources.create({ kind: "directory", path: "not-there" }); // 201
    const cases: Array<[unknown, string]> = [
      [{ sourceId: "*" }, "invalid_source_id"],
      [{ sourceId: "src.>" }, "invalid_source_id"],
      [{ sourceId: "6f1d8a52-1111-4c4c-9d9d-0123456789ab" }, "source_not_found"],
      [{ sourceId: missing.id }, "directory_not_found"],
    ];
    for (const [payload, code] of cases) {
      const task = await client.createTask({ type: "sync_sources", payload }); // 202
      const done = await finished(task.id);
      expect(done.status).toBe("failed");
      expect(done.attempts).toBe(1);
      expect(done.error).toMatchObject({ code, retryable: false });
    }
  });
});
