// The API's own settings: where it listens and how large a request may be.
import { z } from "zod";
import { int, KERNEL_SETTINGS, kernelConfig, readSettings, type KernelConfig } from "../kernel/config.js";
import { LIBRARY_SETTINGS, libraryConfig, type DocumentsConfig } from "../library/config.js";

export const API_SETTINGS = z.object({
  PORT: int(8080),
  HOST: z.string().default("0.0.0.0"),
  JETQ_MAX_BODY_BYTES: int(1024 * 1024, 1024),
  JETQ_MAX_UPLOAD_BYTES: int(1024 * 1024 * 1024, 1),
  JETQ_MAX_UPLOAD_FILES: int(20, 1),
});

export interface ApiConfig {
  port: number;
  host: string;
  maxBodyBytes: number;
  maxUploadBytes: number;
  maxUploadFiles: number;
}

export function apiConfig(e: z.infer<typeof API_SETTINGS>): ApiConfig {
  return { port: e.PORT, host: e.HOST, maxBodyBytes: e.JETQ_MAX_BODY_BYTES, maxUploadBytes: e.JETQ_MAX_UPLOAD_BYTES, maxUploadFiles: e.JETQ_MAX_UPLOAD_FILES };
}

/** What the API program reads: the kernel's settings, its own, and the library's (search, sources). */
export function loadApiProgramConfig(env: Record<string, string | undefined> = process.env): KernelConfig & { api: ApiConfig; documents: DocumentsConfig } {
  const e = readSettings(env, KERNEL_SETTINGS.extend(API_SETTINGS.shape).extend(LIBRARY_SETTINGS.shape));
  return { ...kernelConfig(e), api: apiConfig(e), documents: libraryConfig(e) };
}
