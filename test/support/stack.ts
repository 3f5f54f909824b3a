// A whole jetq on a throw-away NATS server: API listening on a free port and in-process workers
// with the test task types. Tests talk to it over HTTP, the way a client does.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp } from "../../api/app.js";
import { loadConfig, type JetqConfig } from "../../kit/config.js";
import { connectLibrary, type LibraryConnection } from "../../library/connection.js";
import { silentLogger, createLogger } from "../../kernel/logger.js";
import type { TaskTypeRegistry } from "../../kernel/registry.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import type { TaskRecord, TaskSpec } from "../../kernel/task.js";
import { JetqClient, JetqClientError } from "../../client/index.js";
import { Worker } from "../../worker/runtime.js";
import type { TaskHandler } from "../../worker/handler.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { documentTaskTypes } from "../../library/task-types.js";
import { createEmbedder } from "../../library/embeddings/index.js";
import { createVectorStore } from "../../library/vectors/index.js";
import { createPipeline, documentHandlers } from "../../worker/handlers/index.js";
import type { Pipeline } from "../../worker/handlers/pipeline.js";
import { testHandlers, testRegistry } from "./test-types.js";

export interface StackOptions {
  env?: Record<string, string>;
  /** Register the document task types with their real handlers, and the search/library API. */
  documents?: boolean;
  workers?: number;
  registry?: TaskTypeRegistry;
  handlers?: Record<string, TaskHandler>;
  /** Start nats-server with its HTTP monitoring endpoint (`stack.nats.monitorUrl`). */
  natsMonitor?: boolean;
}

export interface Stack {
  nats: NatsServerHandle;
  config: JetqConfig;
  conn: LibraryConnection;
  registry: TaskTypeRegistry;
  baseUrl: string;
  workers: Worker[];
  ran: ReturnType<typeof testHandlers>["ran"];
  startWorker(): Promise<Worker>;
  /** The whole task record (payload included), whether it is queued or further along. */
  record(id: string): Promise<TaskRecord>;
  api<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T; headers: Headers }>;
  stop(): Promise<void>;
}

/** Test defaults: short ack wait and backoff, so failure paths finish in seconds, not minutes. */
export const TEST_ENV = {
  JETQ_ACK_WAIT_MS: "3000",
  JETQ_BACKOFF_BASE_MS: "200",
  JETQ_BACKOFF_MAX_MS: "2000",
  JETQ_MAX_DELIVER: "4",
  JETQ_CONCURRENCY: "4",
  JETQ_SHUTDOWN_GRACE_MS: "5000",
  JETQ_HARD_TIMEOUT_GRACE_MS: "1000",
  JETQ_PROGRESS_MIN_INTERVAL_MS: "50",
  JETQ_WORKER_METRICS_PORT: "0",
  JETQ_AUTH: "off", // a test that is about access sets JETQ_AUTH: "on" in its env
};

const log = process.env.JETQ_TEST_LOGS ? createLogger("test", "debug") : silentLogger();

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const nats = await startNatsServer({ monitor: opts.natsMonitor ?? false });
  const config = loadConfig({ ...TEST_ENV, JETQ_DATA_DIR: nats.storeDir, ...opts.env, NATS_URL: nats.url });
  const registry = opts.registry ?? (opts.documents ? documentTaskTypes(testRegistry()) : testRegistry());
  const { handlers: defaults, ran } = testHandlers();
  const handlers = { ...defaults, ...opts.handlers };
  const conn = await connectLibrary(config.natsUrl, config.topology, { name: "test-api", consumersFor: { taskTypes: [] } });
  const library = opts.documents ? { embedder: createEmbedder(config.documents), vectors: createVectorStore(config.documents) } : undefined;
  const app = createApp({ conn, sourcePolicy: config.documents.sources, registry, config: config.api, defaultTimeoutSeconds: config.worker.defaultTimeoutSeconds, log, ...(library ? { library } : {}) });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const workers: Worker[] = [];
  const workerConns: LibraryConnection[] = [];
  const pipelines: Pipeline[] = [];

  async function startWorker() {
    const wconn = await connectLibrary(config.natsUrl, config.topology, { name: "test-worker", consumersFor: { taskTypes: [] } });
    workerConns.push(wconn);
    const w = new Worker({ conn: wconn, registry, config: config.worker, log, idlePollMs: 2000 });
    for (const [type, h] of Object.entries(handlers)) if (registry.has(type)) w.handle(type, h);
    if (opts.documents) {
      const pipeline = createPipeline(wconn, config.documents);
      pipelines.push(pipeline);
      for (const [type, h] of documentHandlers(pipeline)) w.handle(type, h);
    }
    await w.start();
    workers.push(w);
    return w;
  }
  for (let i = 0; i < (opts.workers ?? 1); i++) await startWorker();

  return {
    nats,
    config,
    conn,
    registry,
    baseUrl,
    workers,
    ran,
    startWorker,
    record: (id) => taskQueueFor(conn, registry, { defaultTimeoutSeconds: 60 }).get(id),
    async api(method, path, body, headers = {}) {
      const res = await fetch(baseUrl + path, {
        method,
        headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON: leave as text */
      }
      return { status: res.status, body: parsed as any, headers: res.headers };
    },
    async stop() {
      await Promise.allSettled(workers.map((w) => w.stop(1000)));
      await Promise.allSettled([...pipelines.map((p) => p.vectors.close()), library?.vectors.close()]);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await Promise.allSettled([...workerConns, conn].map((c) => c.close()));
      await nats.stop();
    },
  };
}

const clients = new WeakMap<Stack, JetqClient>();

/** The typed client of this stack's API (one per stack). */
export function clientOf(stack: Stack): JetqClient {
  let client = clients.get(stack);
  if (!client) clients.set(stack, (client = new JetqClient({ baseUrl: stack.baseUrl })));
  return client;
}

/** Creates a task through the client and returns its id (anything but a 202 throws). */
export async function createTask(stack: Stack, body: object): Promise<string> {
  try {
    return (await clientOf(stack).createTask(body as TaskSpec)).id;
  } catch (err) {
    if (err instanceof JetqClientError) throw new Error(`create failed: ${err.status} ${JSON.stringify(err.body)}`);
    throw err;
  }
}

/**
 * A task's status view through the client. An error answer comes back as its body, as the
 * server sent it, so a probe polling a task that is not there (yet) keeps polling. Typed loosely:
 * tests read `result` fields of their own task types.
 */
export async function taskStatus(stack: Stack, id: string): Promise<any> {
  try {
    return await clientOf(stack).getTask(id);
  } catch (err) {
    if (err instanceof JetqClientError) return err.body;
    throw err;
  }
}
