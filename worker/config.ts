// The worker runtime's settings: concurrency, priorities, retries, time limits, shutdown.
import { z } from "zod";
import { int, KERNEL_SETTINGS, kernelConfig, list, readSettings, type KernelConfig, type KernelSettings } from "../kernel/config.js";
import { LIBRARY_SETTINGS, libraryConfig, type DocumentsConfig } from "../library/config.js";

export const WORKER_SETTINGS = z.object({
  JETQ_CONCURRENCY: int(4, 1),
  JETQ_TASK_TYPES: list(""),
  JETQ_PRIORITY_WEIGHTS: z
    .string()
    .default("6,3,1")
    .transform((v) => v.split(",").map((n) => Number(n)))
    .refine((w) => w.length === 3 && w.every((n) => Number.isInteger(n) && n > 0), "three positive integers: high,normal,low"),
  JETQ_BACKOFF_BASE_MS: int(1000, 0),
  JETQ_BACKOFF_MAX_MS: int(5 * 60_000, 0),
  JETQ_HARD_TIMEOUT_GRACE_MS: int(30_000, 0),
  JETQ_SHUTDOWN_GRACE_MS: int(30_000, 0),
  JETQ_WORKER_METRICS_PORT: int(9091, 0),
  JETQ_PROGRESS_MIN_INTERVAL_MS: int(250, 0),
  JETQ_RUNNING_WRITE_DELAY_MS: int(100, 0),
  // The worker's id is a key of the presence bucket and a metric label: a NATS KV key that a pod
  // name (a DNS subdomain, which POD_NAME carries through the downward API) always is.
  JETQ_WORKER_ID: workerId().optional(),
  POD_NAME: workerId().optional(),
});

function workerId() {
  return z
    .string()
    .max(253)
    .regex(/^[A-Za-z0-9_=-]([A-Za-z0-9_=.-]*[A-Za-z0-9_=-])?$/, "letters, digits, '-', '_', '=' and inner dots only (a pod name fits)");
}

export interface WorkerConfig {
  concurrency: number;
  /** Task types this worker serves; empty means every registered type. */
  taskTypes: string[];
  priorityWeights: { high: number; normal: number; low: number };
  backoffBaseMs: number;
  backoffMaxMs: number;
  defaultTimeoutSeconds: number;
  hardTimeoutGraceMs: number;
  shutdownGraceMs: number;
  metricsPort: number;
  progressMinIntervalMs: number;
  /** A task's `running` state is written only once it has run this long (0: at once). */
  runningWriteDelayMs: number;
  /**
   * The id in this worker's presence record, logs and `worker` metric label: JETQ_WORKER_ID, else
   * POD_NAME (so the operator finds a pod's worker by the pod's name). Unset: each Worker makes
   * its own, host-pid-random, so several in one process never share one.
   */
  workerId?: string;
}

/** The kernel's JETQ_DEFAULT_TIMEOUT_S is the worker's too: the limit of a task that gives none. */
export function workerConfig(e: z.infer<typeof WORKER_SETTINGS> & Pick<KernelSettings, "JETQ_DEFAULT_TIMEOUT_S">): WorkerConfig {
  const [high, normal, low] = e.JETQ_PRIORITY_WEIGHTS;
  return {
    concurrency: e.JETQ_CONCURRENCY,
    taskTypes: e.JETQ_TASK_TYPES,
    priorityWeights: { high: high!, normal: normal!, low: low! },
    backoffBaseMs: e.JETQ_BACKOFF_BASE_MS,
    backoffMaxMs: e.JETQ_BACKOFF_MAX_MS,
    defaultTimeoutSeconds: e.JETQ_DEFAULT_TIMEOUT_S,
    hardTimeoutGraceMs: e.JETQ_HARD_TIMEOUT_GRACE_MS,
    shutdownGraceMs: e.JETQ_SHUTDOWN_GRACE_MS,
    metricsPort: e.JETQ_WORKER_METRICS_PORT,
    progressMinIntervalMs: e.JETQ_PROGRESS_MIN_INTERVAL_MS,
    runningWriteDelayMs: e.JETQ_RUNNING_WRITE_DELAY_MS,
    ...(e.JETQ_WORKER_ID || e.POD_NAME ? { workerId: (e.JETQ_WORKER_ID ?? e.POD_NAME)! } : {}),
  };
}

/** What a worker process reads: the kernel's settings, its own, and the library's (handlers). */
export function loadWorkerProgramConfig(env: Record<string, string | undefined> = process.env): KernelConfig & { worker: WorkerConfig; documents: DocumentsConfig } {
  const e = readSettings(env, KERNEL_SETTINGS.extend(WORKER_SETTINGS.shape).extend(LIBRARY_SETTINGS.shape));
  return { ...kernelConfig(e), worker: workerConfig(e), documents: libraryConfig(e) };
}
