// Every section of jetq's settings at once, for tests and benchmarks that run the API, workers and
// local pool in one process. The programs themselves each read only their own sections.
import { KERNEL_SETTINGS, kernelConfig, readSettings, type KernelConfig } from "../kernel/config.js";
import { API_SETTINGS, apiConfig, type ApiConfig } from "../api/config.js";
import { WORKER_SETTINGS, workerConfig, type WorkerConfig } from "../worker/config.js";
import { LIBRARY_SETTINGS, libraryConfig, type DocumentsConfig } from "../library/config.js";
import { LOCAL_POOL_SETTINGS, localPoolConfig, type LocalPoolConfig } from "../scripts/local-pool-config.js";
export { ConfigError } from "../kernel/config.js";

export type JetqConfig = KernelConfig & { api: ApiConfig; worker: WorkerConfig; documents: DocumentsConfig; localPool: LocalPoolConfig };

export function loadConfig(env: Record<string, string | undefined> = process.env): JetqConfig {
  const e = readSettings(env, KERNEL_SETTINGS.extend(API_SETTINGS.shape).extend(WORKER_SETTINGS.shape).extend(LIBRARY_SETTINGS.shape).extend(LOCAL_POOL_SETTINGS.shape));
  return { ...kernelConfig(e), api: apiConfig(e), worker: workerConfig(e), documents: libraryConfig(e), localPool: localPoolConfig(e) };
}
