// Builds the express app from its parts. No listening, no process wiring: main.ts does that,
// and tests build the app around their own NATS server.
import express, { type Express, type Router } from "express";
import type { ApiConfig } from "./config.js";
import type { LibraryConnection } from "../library/connection.js";
import { DeadLetterQueue } from "../kernel/dead-letters.js";
import type { Logger } from "../kernel/logger.js";
import { createMetrics, type JetqMetrics } from "../kernel/metrics.js";
import { QueueStats } from "../kernel/queue-stats.js";
import { QueuedIndexKeeper } from "../kernel/queued-index-keeper.js";
import type { TaskTypeRegistry } from "../kernel/registry.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { TaskLogs } from "../kernel/task-logs.js";
import { TaskEvents } from "../kernel/task-events.js";
import { errorHandler, requireNats, sendError } from "./http.js";
import { buildOpenApi } from "./openapi.js";
import { booksRouter } from "./routes/books.js";
import { dlqRouter } from "./routes/dlq.js";
import { openApiRouter, probesRouter } from "./routes/ops.js";
import { keysRouter } from "./routes/keys.js";
import { whoamiRouter } from "./routes/whoami.js";
import { createLimits } from "./limits/limits.js";
import { limitsRouter } from "./limits/limits-route.js";
import { quotaErrorAnswer } from "./limits/quota-error.js";
import { poolsRouter } from "./routes/pools.js";
import { statsRouter } from "./routes/stats.js";
import { rootRedirect, webViewRouter } from "./web-view.js";
import { createAccess, type Access } from "./auth/access.js";
import { ragCompatRouter } from "./routes/rag-compat.js";
import { tasksRouter } from "./routes/tasks.js";
import { searchRouter } from "./routes/search.js";
import { sourcesRouter } from "./routes/sources.js";
import { libraryRouter } from "./routes/library.js";
import { BookStore } from "../library/books.js";
import { SourceRegistry } from "../library/sources.js";
import type { SourcePolicy } from "../library/source-safety.js";
import type { Embedder } from "../library/embeddings/embedder.js";
import type { VectorStore } from "../library/vectors/vector-store.js";

/** The document pipeline's read side: searching, books, sources, quizzes. */
export interface LibraryDeps {
  embedder: Embedder;
  vectors: VectorStore;
}

export interface ApiDeps {
  conn: LibraryConnection;
  registry: TaskTypeRegistry;
  config: ApiConfig;
  defaultTimeoutSeconds: number;
  log: Logger;
  metrics?: JetqMetrics;
  library?: LibraryDeps;
  /** What sources may be registered: config.documents.sources, the same policy the workers fetch by. */
  sourcePolicy: SourcePolicy;
  /** Access control (keys, roles, audit); made from config.auth when not given. */
  access?: Access;
  /** The built web view (default: web/dist at the repository's top). */
  webViewDir?: string;
}

export interface Api {
  app: Express;
  /** /metrics, /healthz and /readyz alone, for a port of their own (JETQ_METRICS_PORT). */
  probes: Router;
  access: Access;
}

export function createApp(deps: ApiDeps): Express {
  return createApi(deps).app;
}

export function createApi(deps: ApiDeps): Api {
  const metrics = deps.metrics ?? createMetrics("api");
  const access = deps.access ?? createAccess(deps.conn, deps.config.auth, deps.log);
  const queue = taskQueueFor(deps.conn, deps.registry, { defaultTimeoutSeconds: deps.defaultTimeoutSeconds, metrics });
  const stats = new QueueStats(deps.conn);
  const dlq = new DeadLetterQueue(deps.conn, queue);
  // NATS holds the queued index in memory: made whole again after a NATS restart (or an upgrade).
  void new QueuedIndexKeeper(deps.conn, { logger: deps.log }).start();
  // Tenants' unfinished-task counts (fair share, the queued quota) are cleared once the queue has drained.
  deps.conn.backlog.startReconciling();
  const books = new BookStore(deps.conn);
  const limits = createLimits(deps.conn, deps.config.limits, deps.conn.uploads); // per-tenant rate limits and quotas (api/limits/)
  const uploads = { queue, books, uploads: deps.conn.uploads, limits: { maxFileBytes: deps.config.maxUploadBytes, maxFiles: deps.config.maxUploadFiles }, storedBytes: limits.uploads };

  const app = express();
  app.disable("x-powered-by");
  app.set("query parser", "simple"); // flat query strings only: no nested objects from ?a[b]=c

  app.use((req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.on("finish", () => {
      // The route pattern, not the URL, so ids do not explode the label set.
      // Answers given before any route matched (404s, 503s while NATS is away) share one label.
      const route = req.route?.path ? String(req.route.path) : "unmatched";
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  });

  app.use(rootRedirect); // `/` → the web view: a redirect, nothing read
  // Who is asking, and may they: before anything else reads the request (public paths pass).
  app.use(access.authenticate);
  app.use(access.authorize);
  app.use(requireNats(() => deps.conn.connected));
  app.use(limits.middleware);
  app.use(tasksRouter({ queue, stats, state: deps.conn.state, events: new TaskEvents(deps.conn.nc), logs: new TaskLogs(deps.conn.jsm, deps.conn.nc), maxBodyBytes: deps.config.maxBodyBytes }));
  app.use(dlqRouter(dlq, deps.config.maxBodyBytes));
  app.use(booksRouter(uploads));
  app.use(ragCompatRouter(uploads));
  app.use(sourcesRouter({ sources: new SourceRegistry(deps.conn), queue, maxBodyBytes: deps.config.maxBodyBytes, policy: deps.sourcePolicy }));
  if (deps.library) {
    app.use(searchRouter(deps.library));
    app.use(libraryRouter({ books, vectors: deps.library.vectors, quizzes: deps.conn.quizzes }));
  }
  app.use(keysRouter(access, deps.config.maxBodyBytes));
  app.use(whoamiRouter());
  app.use(limitsRouter(limits));
  app.use(poolsRouter(deps.conn));
  app.use(statsRouter(deps.conn));
  const probes = probesRouter({ conn: deps.conn, metrics, stats });
  app.use(probes);
  app.use(openApiRouter({ conn: deps.conn, openapi: buildOpenApi(deps.registry), limits: { maxUploadFiles: deps.config.maxUploadFiles }, authEnabled: access.enabled }));

  app.use(webViewRouter(deps.webViewDir)); // the web view's files, public: the data they show is not
  app.use((req, res) => sendError(res, 404, "not_found", `no route for ${req.method} ${req.path}`));
  app.use(quotaErrorAnswer);
  app.use(errorHandler(deps.log));
  return { app, probes, access };
}
