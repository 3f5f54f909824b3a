// How jetq reads its settings — once, from the environment, validated, then passed in — and the
// kernel's own settings. Each program reads only the sections it uses (api/config.ts,
// worker/config.ts, library/config.ts, scripts/local-pool-config.ts), so a program never fails on
// a setting that is not its own, and a wrong value of one that is fails at start, by name. The
// README's settings table is these files in prose; keep them in step.
import { z } from "zod";

export const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
export const bool = (def: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"])
    .default(def ? "true" : "false")
    .transform((v) => v === "true" || v === "1" || v === "yes");
export const list = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean));

/**
 * A NATS server address as the client takes it: `nats://host:port`, `tls://host:port` or a bare
 * `host[:port]` (user and password may be in it).
 */
export function isNatsServerAddress(address: string): boolean {
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `nats://${address}`);
    return (url.protocol === "nats:" || url.protocol === "tls:") && url.hostname !== "" && (url.pathname === "" || url.pathname === "/");
  } catch {
    return false;
  }
}

/** The kernel's settings: where NATS is, the JetStream topology, task defaults, logging. */
export const KERNEL_SETTINGS = z.object({
  // One server, or several of one cluster, comma-separated: the client connects to one of them and
  // fails over to the others when it goes away (a cluster also tells the client about its peers).
  NATS_URL: list("nats://127.0.0.1:4222")
    .refine((servers) => servers.length > 0 && servers.every(isNatsServerAddress), "one NATS server address (nats://host:port, tls://host:port or host:port) or several, comma-separated")
    .transform((servers) => servers.join(",")),
  // The NATS user this program connects as, and its password: both or neither (a server without
  // authorization). The user name is also the program's inbox prefix, `_INBOX_<user>`
  // (kernel/nats-permissions.ts), so it is letters, digits, `_` and `-`.
  NATS_USER: z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only").optional(),
  NATS_PASSWORD: z.string().optional(),
  JETQ_DATA_DIR: z.string().default("./.jetq"),
  LOG_LEVEL: z.enum(["error", "warn", "info", "http", "verbose", "debug", "silly"]).default("info"),

  // JetStream topology
  // JetStream keeps at most 5 copies; a value above the cluster's size fails at start (connection.ts).
  JETQ_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  JETQ_MAX_DELIVER: int(5, 1),
  JETQ_ACK_WAIT_MS: int(30_000, 1000),
  JETQ_DUPLICATE_WINDOW_MS: int(120_000, 1000),
  JETQ_FINISHED_TTL_S: int(7 * 24 * 3600, 1),
  JETQ_DLQ_MAX_AGE_S: int(30 * 24 * 3600, 0),
  JETQ_POOL: z.string().regex(/^[a-z0-9-]+$/).default("default"),
  // Each task's log (kernel/task-logs.ts): the newest lines kept per task (0: none written), and
  // the most the whole log stream holds (oldest lines go first).
  JETQ_TASK_LOG_LINES: int(1_000, 0),
  JETQ_TASK_LOGS_MAX_MB: int(1_024, 1),

  // Tasks
  JETQ_DEFAULT_TIMEOUT_S: int(600, 1),
  // Fair share between tenants (topology.ts LANES): a tenant's new tasks, while it has this many
  // unfinished (waiting or running), go in the overflow lane, behind other tenants' (0: one lane).
  JETQ_FAIR_SHARE_QUEUED: int(10, 0),
  // The most unfinished tasks (waiting or running) one tenant may have; a create beyond it is refused (0: no quota).
  JETQ_TENANT_MAX_QUEUED: int(0, 0),
});
export type KernelSettings = z.infer<typeof KERNEL_SETTINGS>;

export interface TopologyConfig {
  replicas: number;
  maxDeliver: number;
  ackWaitMs: number;
  duplicateWindowMs: number;
  finishedTtlSeconds: number;
  dlqMaxAgeSeconds: number;
  pool: string;
  /** JETQ_FAIR_SHARE_QUEUED (default 10; 0 = no overflow lane). */
  fairShareQueued?: number;
  /** JETQ_TENANT_MAX_QUEUED (default 0 = no quota). */
  maxQueuedPerTenant?: number;
  /** JETQ_TASK_LOG_LINES (default 1,000; 0 = workers keep no task logs). */
  taskLogLines?: number;
  /** JETQ_TASK_LOGS_MAX_MB (default 1,024). */
  taskLogsMaxMb?: number;
}

export interface NatsCredentials {
  user: string;
  password: string;
}

export interface KernelConfig {
  /** One NATS server address or several, comma-separated (trimmed, checked). */
  natsUrl: string;
  /** Who this program is to NATS; undefined for a server without authorization. */
  natsCredentials?: NatsCredentials;
  dataDir: string;
  logLevel: KernelSettings["LOG_LEVEL"];
  topology: TopologyConfig;
  /** Soft time limit of a task whose create body and type give none. */
  defaultTimeoutSeconds: number;
}

/** NATS_USER and NATS_PASSWORD go together: one without the other is a mistake, said at start. */
function natsCredentials(e: KernelSettings): NatsCredentials | undefined {
  if (e.NATS_USER === undefined && e.NATS_PASSWORD === undefined) return undefined;
  if (e.NATS_USER === undefined) throw new ConfigError("invalid configuration:\n  NATS_USER: missing, while NATS_PASSWORD is set (set both, or neither for a NATS server without authorization)");
  if (e.NATS_PASSWORD === undefined) throw new ConfigError("invalid configuration:\n  NATS_PASSWORD: missing, while NATS_USER is set (set both, or neither for a NATS server without authorization)");
  return { user: e.NATS_USER, password: e.NATS_PASSWORD };
}

export function kernelConfig(e: KernelSettings): KernelConfig {
  const credentials = natsCredentials(e);
  return {
    natsUrl: e.NATS_URL,
    ...(credentials ? { natsCredentials: credentials } : {}),
    dataDir: e.JETQ_DATA_DIR,
    logLevel: e.LOG_LEVEL,
    topology: {
      replicas: e.JETQ_REPLICAS,
      maxDeliver: e.JETQ_MAX_DELIVER,
      ackWaitMs: e.JETQ_ACK_WAIT_MS,
      duplicateWindowMs: e.JETQ_DUPLICATE_WINDOW_MS,
      finishedTtlSeconds: e.JETQ_FINISHED_TTL_S,
      dlqMaxAgeSeconds: e.JETQ_DLQ_MAX_AGE_S,
      pool: e.JETQ_POOL,
      fairShareQueued: e.JETQ_FAIR_SHARE_QUEUED,
      maxQueuedPerTenant: e.JETQ_TENANT_MAX_QUEUED,
      taskLogLines: e.JETQ_TASK_LOG_LINES,
      taskLogsMaxMb: e.JETQ_TASK_LOGS_MAX_MB,
    },
    defaultTimeoutSeconds: e.JETQ_DEFAULT_TIMEOUT_S,
  };
}

export class ConfigError extends Error {}

/**
 * Parses the environment with a program's settings (the sections it reads, merged with
 * `.extend()`); throws ConfigError naming every variable that is wrong.
 */
export function readSettings<T extends z.ZodObject>(env: Record<string, string | undefined>, schema: T): z.infer<T> {
  // Empty strings mean "unset", as they do for most twelve-factor tools.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return parsed.data;
}

/** The kernel's settings alone: for programs that only queue and watch tasks (operator, CLI). */
export function loadKernelConfig(env: Record<string, string | undefined> = process.env): KernelConfig {
  return kernelConfig(readSettings(env, KERNEL_SETTINGS));
}
