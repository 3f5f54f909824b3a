// The settings of the local stack behind `npm start`: its worker pool's bounds and pace (the
// operator does the same in Kubernetes), plus what it needs of the kernel's and workers' settings.
import { z } from "zod";
import { bool, ConfigError, int, KERNEL_SETTINGS, kernelConfig, readSettings, type KernelConfig } from "../kernel/config.js";
import { API_SETTINGS, apiConfig, type ApiConfig } from "../api/config.js";
import { WORKER_SETTINGS, workerConfig, type WorkerConfig } from "../worker/config.js";

export const LOCAL_POOL_SETTINGS = z.object({
  JETQ_START_NATS: bool(true),
  // Unset: 1, or 0 when the maximum is 0 (API and NATS only, e.g. for a cluster's WorkerPool).
  JETQ_LOCAL_MIN_WORKERS: z.coerce.number().int().min(0).optional(),
  JETQ_LOCAL_MAX_WORKERS: int(4, 0),
  JETQ_LOCAL_TARGET_BACKLOG: int(20, 1),
  JETQ_LOCAL_POLL_MS: int(2000, 100),
  JETQ_LOCAL_SCALE_DOWN_WINDOW_S: int(60, 0),
});

export interface LocalPoolConfig {
  startNats: boolean;
  minWorkers: number;
  maxWorkers: number;
  targetBacklogPerWorker: number;
  pollMs: number;
  scaleDownWindowSeconds: number;
}

export function localPoolConfig(e: z.infer<typeof LOCAL_POOL_SETTINGS>): LocalPoolConfig {
  const minWorkers = e.JETQ_LOCAL_MIN_WORKERS ?? Math.min(1, e.JETQ_LOCAL_MAX_WORKERS);
  if (minWorkers > e.JETQ_LOCAL_MAX_WORKERS) {
    const zero = e.JETQ_LOCAL_MAX_WORKERS === 0 ? " (with no local workers, JETQ_LOCAL_MIN_WORKERS must be 0 too, or unset)" : "";
    throw new ConfigError(`invalid configuration:\n  JETQ_LOCAL_MIN_WORKERS: ${minWorkers} is more than JETQ_LOCAL_MAX_WORKERS (${e.JETQ_LOCAL_MAX_WORKERS})${zero}`);
  }
  return {
    startNats: e.JETQ_START_NATS,
    minWorkers,
    maxWorkers: e.JETQ_LOCAL_MAX_WORKERS,
    targetBacklogPerWorker: e.JETQ_LOCAL_TARGET_BACKLOG,
    pollMs: e.JETQ_LOCAL_POLL_MS,
    scaleDownWindowSeconds: e.JETQ_LOCAL_SCALE_DOWN_WINDOW_S,
  };
}

/**
 * The local stack reads the workers' settings too (which types its pool serves, their metrics
 * ports) and the API's (to say where it listens), since it starts both.
 */
export function loadLocalStackConfig(env: Record<string, string | undefined> = process.env): KernelConfig & { api: ApiConfig; worker: WorkerConfig; localPool: LocalPoolConfig } {
  const e = readSettings(env, KERNEL_SETTINGS.extend(API_SETTINGS.shape).extend(WORKER_SETTINGS.shape).extend(LOCAL_POOL_SETTINGS.shape));
  return { ...kernelConfig(e), api: apiConfig(e), worker: workerConfig(e), localPool: localPoolConfig(e) };
}
