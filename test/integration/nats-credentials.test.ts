// NATS with the users and permissions `npm start` gives its own server (scripts/nats-auth.ts,
// kernel/nats-permissions.ts): nobody connects without credentials, the API, a worker and the
// operator each do their whole job as their own user, and a worker that tries what is not its
// job (queueing tasks, reading or removing API keys) is refused by the server.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { AddressInfo } from "node:net";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../api/app.js";
import { loadConfig, type JetqConfig } from "../../kit/config.js";
import { connectJetq, type JetqConnection } from "../../kernel/connection.js";
import { ConfigError, loadKernelConfig } from "../../kernel/config.js";
import { silentLogger } from "../../kernel/logger.js";
import { inboxPrefixOf } from "../../kernel/nats-permissions.js";
import { readPoolStatuses, writePoolStatus } from "../../kernel/pool-status.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { connectLibrary, type LibraryConnection } from "../../library/connection.js";
import { freePort, startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { createJetStreamDepthSource } from "../../operator/depth/jetstream.js";
import type { WorkerPool } from "../../operator/core/resources.js";
import { Worker } from "../../worker/runtime.js";
import { documentTaskTypes } from "../../library/task-types.js";
import { createEmbedder } from "../../library/embeddings/index.js";
import { createVectorStore } from "../../library/vectors/index.js";
import { createPipeline, documentHandlers } from "../../worker/handlers/index.js";
import type { Pipeline } from "../../worker/handlers/pipeline.js";
import { JetqClient } from "../../client/index.js";
import { TEST_ENV } from "../support/stack.js";
import { testHandlers, testRegistry } from "../support/test-types.js";
import { waitFor } from "../support/wait.js";

const log = silentLogger();

describe("NATS credentials and permissions", () => {
  let nats: NatsServerHandle;
  let config: JetqConfig;
  let apiConn: LibraryConnection;
  let workerConn: LibraryConnection;
  let operatorConn: JetqConnection;
  let worker: Worker;
  let pipeline: Pipeline;
  let library: { embedder: ReturnType<typeof createEmbedder>; vectors: ReturnType<typeof createVectorStore> };
  let server: Server;
  let baseUrl: string;
  const refusedOwnJob: string[] = [];

  beforeAll(async () => {
    nats = await startNatsServer({ auth: true });
    const creds = nats.credentials!;
    config = loadConfig({ ...TEST_ENV, JETQ_DATA_DIR: nats.storeDir, NATS_URL: nats.url, NATS_USER: creds.api.user, NATS_PASSWORD: creds.api.password });
    // The operator first, as in a cluster's first minutes or `npm start`'s local pool: it makes
    // the topology (the API keys' bucket too), which a worker may not.
    operatorConn = await connectJetq(nats.url, config.topology, { name: "test-operator", credentials: creds.operator });
    apiConn = await connectLibrary(config.natsUrl, config.topology, { name: "test-api", ...(config.natsCredentials ? { credentials: config.natsCredentials } : {}) });
    // The document types too: their handlers queue tasks of their own (process_book chains
    // generate_embeddings), which a worker's permissions must allow.
    const registry = documentTaskTypes(testRegistry());
    library = { embedder: createEmbedder(config.documents), vectors: createVectorStore(config.documents) };
    const app = createApp({ conn: apiConn, sourcePolicy: config.documents.sources, registry, config: config.api, defaultTimeoutSeconds: 60, log, library });
    server = await new Promise((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    workerConn = await connectLibrary(nats.url, config.topology, { name: "test-worker", credentials: creds.worker, consumersFor: { taskTypes: [] } });
    worker = new Worker({ conn: workerConn, registry, config: config.worker, log, idlePollMs: 2000 });
    for (const [type, h] of Object.entries(testHandlers().handlers)) worker.handle(type, h);
    pipeline = createPipeline(workerConn, config.documents);
    for (const [type, h] of documentHandlers(pipeline)) worker.handle(type, h);
    await worker.start();
    // A job the permissions forgot shows up as the server's -ERR on that program's connection.
    for (const [who, c] of [["api", apiConn], ["worker", workerConn], ["operator", operatorConn]] as const) {
      void (async () => {
        for await (const s of c.nc.status()) if (s.type === "error") refusedOwnJob.push(`${who}: ${String((s as { error?: Error }).error?.message)}`);
      })();
    }
  }, 60_000);

  afterAll(async () => {
    await worker?.stop(1000);
    await Promise.allSettled([pipeline?.vectors.close(), library?.vectors.close()]);
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await Promise.allSettled([workerConn, apiConn, operatorConn].map((c) => c?.close()));
    await nats?.stop();
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(baseUrl + path, { method, ...(body ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
  };

  it("refuses a client without credentials, and says which program's credentials a wrong password was", async () => {
    await expect(connect({ servers: nats.url, maxReconnectAttempts: 0 })).rejects.toThrow(/authorization violation/i);
    const kernel = loadKernelConfig({ NATS_URL: nats.url });
    await expect(connectJetq(kernel.natsUrl, kernel.topology, { name: "jetq-worker" })).rejects.toThrow(
      new ConfigError("NATS refused jetq-worker, which has no credentials: this server needs NATS_USER and NATS_PASSWORD"),
    );
    const wrong = loadKernelConfig({ NATS_URL: nats.url, NATS_USER: "worker", NATS_PASSWORD: "not-the-password" });
    await expect(connectJetq(wrong.natsUrl, wrong.topology, { name: "jetq-worker", credentials: wrong.natsCredentials! })).rejects.toThrow(
      "NATS refused the credentials of jetq-worker (NATS_USER=worker): check NATS_USER and NATS_PASSWORD",
    );
  }, 60_000);

  it("fails at start naming NATS_USER or NATS_PASSWORD when only one of them is set", () => {
    expect(() => loadKernelConfig({ NATS_PASSWORD: "x" })).toThrow(/NATS_USER: missing/);
    expect(() => loadKernelConfig({ NATS_USER: "worker" })).toThrow(/NATS_PASSWORD: missing/);
    expect(() => loadKernelConfig({ NATS_USER: "a b", NATS_PASSWORD: "x" })).toThrow(/NATS_USER/);
  });

  it("lets the API and a worker, each as its own user, run a task to success and a dead one to the DLQ", async () => {
    const ok = await api("POST", "/api/tasks", { type: "echo", payload: { value: "hello" } });
    expect(ok.status).toBe(202);
    const done = await waitFor("success", async () => {
      const s = await api("GET", `/api/tasks/${ok.body.id}`);
      return s.body?.status === "succeeded" && s.body;
    });
    expect(done.result).toEqual({ echoed: "hello" });

    const dead = await api("POST", "/api/tasks", { type: "poison", payload: {} });
    expect(dead.status).toBe(202);
    const entry = await waitFor("the DLQ entry", async () => {
      const r = await api("GET", `/api/dlq/${dead.body.id}`);
      return r.status === 200 && r.body;
    });
    expect(entry).toMatchObject({ reason: "terminated", task: { id: dead.body.id, type: "poison" } });
    const replay = await api("POST", `/api/dlq/${dead.body.id}/retry`);
    expect(replay.status).toBe(202);
    await waitFor("back in the DLQ after the replay", async () => {
      const r = await api("GET", `/api/dlq/${dead.body.id}`);
      return r.status === 200 && r.body.deadLetteredAt !== entry.deadLetteredAt;
    });
    expect(refusedOwnJob).toEqual([]);
  }, 90_000);

  it("lets a worker chain the document pipeline's tasks: an uploaded book is processed and embedded", async () => {
    const client = new JetqClient({ baseUrl });
    const { books } = await client.books.upload([{ name: "notes.txt", data: Buffer.from("Beekeepers in the valley harvest heather honey in late August."), contentType: "text/plain" }]);
    const processed = await waitFor("process_book to finish", async () => {
      const r = await api("GET", `/api/tasks/${books[0]!.taskId}`);
      return ["succeeded", "failed"].includes(r.body?.status) && r.body;
    }, 60_000);
    expect(processed.status, JSON.stringify(processed.error)).toBe("succeeded");
    const embedded = await waitFor("the chained generate_embeddings to finish", async () => {
      const r = await api("GET", `/api/tasks/${processed.result.embeddingTaskId}`);
      return ["succeeded", "failed"].includes(r.body?.status) && r.body;
    }, 60_000);
    expect(embedded.status, JSON.stringify(embedded.error)).toBe("succeeded");
    expect(refusedOwnJob).toEqual([]);
  }, 120_000);

  it("lets the operator read the queue's depth, see arrivals and write its WorkerPool snapshots", async () => {
    const pool = { spec: { taskTypes: ["sleep"] } } as unknown as WorkerPool;
    const arrivals: string[] = [];
    const sub = operatorConn.nc.subscribe("jetq.tasks.>", { callback: (_err, msg) => void arrivals.push(msg.subject) });
    await operatorConn.nc.flush();
    const before = await createJetStreamDepthSource(operatorConn.jsm).depth(pool);
    await worker.stop(1000); // nothing takes the task while the depth is read
    const queued = await api("POST", "/api/tasks", { type: "sleep", payload: { ms: 1 } });
    expect(queued.status).toBe(202);
    await waitFor("depth 1 more", async () => (await createJetStreamDepthSource(operatorConn.jsm).depth(pool)) === before + 1);
    await waitFor("the arrival", () => arrivals.includes("jetq.tasks.normal.sleep"));
    sub.unsubscribe();
    const snapshot = { namespace: "jobs", name: "sleepers", deployment: "sleepers", taskTypes: ["sleep"], minReplicas: 0, maxReplicas: 2, desiredReplicas: 1, currentReplicas: 0, depth: before + 1, depthSource: "jetstream" as const, updatedAt: new Date().toISOString() };
    await writePoolStatus(operatorConn, snapshot, 60);
    expect(await readPoolStatuses(apiConn)).toContainEqual(snapshot);
    // A ProcessingTask's task: queued and cancelled by the operator (no worker runs now).
    const queue = taskQueueFor(operatorConn, testRegistry(), { defaultTimeoutSeconds: 60 });
    const { record } = await queue.create({ type: "echo", payload: { value: "from a ProcessingTask" } });
    expect((await queue.cancel(record.id)).status).toBe("cancelled");
    expect(refusedOwnJob).toEqual([]);
  }, 60_000);

  describe("a worker's connection", () => {
    let nc: NatsConnection;
    const violations: string[] = [];
    beforeAll(async () => {
      const { user, password } = nats.credentials!.worker;
      nc = await connect({ servers: nats.url, user, pass: password, inboxPrefix: inboxPrefixOf(user) });
      void (async () => {
        for await (const s of nc.status()) if (s.type === "error") violations.push(String((s as { error?: Error }).error?.message));
      })();
    });
    afterAll(() => nc?.close());

    it("may not publish to the API's create subjects: the server reports a violation and nothing is queued", async () => {
      const jsm = await jetstreamManager(apiConn.nc);
      const before = (await jsm.streams.info(TOPOLOGY.tasksStream)).state.messages;
      nc.publish("jetq.tasks.high.echo", JSON.stringify({ id: "forged" }));
      await waitFor("the permissions violation", () => violations.some((v) => /permissions violation for publish to "jetq\.tasks\.high\.echo"/i.test(v)));
      await nc.flush();
      expect((await jsm.streams.info(TOPOLOGY.tasksStream)).state.messages).toBe(before);
    });

    it("may not read the API keys' bucket nor delete it", async () => {
      nc.subscribe(`$KV.${TOPOLOGY.keysBucket}.>`);
      await waitFor("the subscribe violation", () => violations.some((v) => /permissions violation for subscription to "\$KV\.jetq-keys\.>"/i.test(v)));
      const jsm = await jetstreamManager(nc, { timeout: 3000 });
      await expect(jsm.streams.delete(`KV_${TOPOLOGY.keysBucket}`)).rejects.toThrow(/permissions violation/i);
      await expect(jsm.direct.getMessage(`KV_${TOPOLOGY.keysBucket}`, { last_by_subj: `$KV.${TOPOLOGY.keysBucket}.anything` })).rejects.toThrow(/permissions violation/i);
      expect((await jetstreamManager(apiConn.nc).then((m) => m.streams.info(`KV_${TOPOLOGY.keysBucket}`))).config.name).toBe(`KV_${TOPOLOGY.keysBucket}`);
    });

    it("may not subscribe to another user's inbox", async () => {
      nc.subscribe(`${inboxPrefixOf("api")}.>`);
      await waitFor("the subscribe violation", () => violations.some((v) => /permissions violation for subscription to "_INBOX_api\.>"/i.test(v)));
    });
  });
});

describe("npm start with the credentials it makes", () => {
  const root = resolve(import.meta.dirname, "../..");
  let natsPort = 0;
  let pid: number | undefined;
  afterAll(() => {
    // Only after a failure: the stack's process group, and NATS, which has a group of its own.
    if (pid) spawnSync("kill", ["-KILL", `-${pid}`]);
    if (natsPort) spawnSync("pkill", ["-KILL", "-f", `nats-server -js -a 127.0.0.1 -p ${natsPort} `]);
  });

  it("runs a task with each program as its own user, keeps the passwords 0600, and its NATS refuses anonymous clients", async () => {
    const [apiPort, port] = [await freePort(), await freePort()];
    natsPort = port;
    const dataDir = mkdtempSync(join(tmpdir(), "jetq-start-creds-"));
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(apiPort), JETQ_NATS_PORT: String(port), JETQ_DATA_DIR: dataDir, JETQ_LOCAL_MIN_WORKERS: "1", JETQ_LOCAL_MAX_WORKERS: "1", JETQ_WORKER_METRICS_PORT: "0" };
    for (const k of ["NATS_URL", "NATS_USER", "NATS_PASSWORD"]) delete env[k];
    const child = spawn(process.execPath, [join(root, "scripts", "start.mjs")], { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    pid = child.pid;
    let output = "";
    child.stdout!.on("data", (c) => (output += c));
    child.stderr!.on("data", (c) => (output += c));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const key = () => /jetq_[0-9a-f-]{36}_[0-9a-f]{64}/.exec(output)?.[0];
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, { method, headers: { "content-type": "application/json", authorization: `Bearer ${key()}` }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any };
    };
    await Promise.race([
      waitFor("the API to be ready (this includes the tsc build)", async () => (await fetch(`http://127.0.0.1:${apiPort}/readyz`).catch(() => null))?.status === 200, 180_000, 250),
      exited.then((code) => Promise.reject(new Error(`npm start exited (${code}) before the API was ready:\n${output}`))),
    ]);
    await waitFor("the first admin key", () => key(), 10_000);
    expect(output).toContain("a user per program");

    for (const file of ["nats-credentials.json", "nats-server.conf"]) expect((statSync(join(dataDir, file)).mode & 0o777).toString(8), file).toBe("600");
    const stored = JSON.parse(readFileSync(join(dataDir, "nats-credentials.json"), "utf8"));
    expect(Object.keys(stored).sort()).toEqual(["api", "operator", "worker"]);
    await expect(connect({ servers: `nats://127.0.0.1:${port}`, maxReconnectAttempts: 0 })).rejects.toThrow(/authorization violation/i);

    const created = await api("POST", "/api/tasks", { type: "sync_sources", payload: {} });
    expect(created.status).toBe(202);
    await waitFor("the task to succeed", async () => (await api("GET", `/api/tasks/${created.body.id}`)).body.status === "succeeded", 60_000, 250);
    // Each process has its own user: the API's and the worker's environments say which.
    const userOf = (script: string) => {
      // Among this npm start's descendants only: other runs may be on the machine.
      const rows = spawnSync("ps", ["-eo", "pid=,ppid=,args="]).stdout.toString().trim().split("\n").map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l)).filter((m) => m !== null);
      const ours = new Set([child.pid!]);
      for (let grew = true; grew; ) {
        grew = false;
        for (const [, p, pp] of rows) if (ours.has(Number(pp)) && !ours.has(Number(p))) (ours.add(Number(p)), (grew = true));
      }
      const row = rows.find(([, p, , args]) => ours.has(Number(p)) && args!.includes(join("dist", script)));
      if (!row) return undefined;
      return readFileSync(`/proc/${row[1]}/environ`, "utf8").split("\0").find((e) => e.startsWith("NATS_USER="));
    };
    expect(userOf(join("api", "main.js"))).toBe("NATS_USER=api");
    expect(userOf(join("worker", "main.js"))).toBe("NATS_USER=worker");
    expect(output).not.toMatch(/permissions violation/i);

    process.kill(-child.pid!, "SIGINT");
    expect(await exited).toBe(0);
    pid = undefined;
  }, 300_000);
});
