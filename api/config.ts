// The API's own settings: where it listens, how large a request may be, and who may use it.
import { z } from "zod";
import { bool, ConfigError, int, KERNEL_SETTINGS, kernelConfig, readSettings, type KernelConfig } from "../kernel/config.js";
import { LIBRARY_SETTINGS, libraryConfig, type DocumentsConfig } from "../library/config.js";
import { API_KEY_PATTERN, API_KEY_RECIPE } from "./auth/api-key.js";
import { isLoopbackHost } from "./listen-address.js";

/** A JWKS is fetched over HTTPS; plain HTTP only from this machine (a local identity provider, tests). */
const jwksUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === "https:" || (u.protocol === "http:" && isLoopbackHost(u.hostname));
  } catch {
    return false;
  }
}, "an https:// URL of a JSON Web Key Set (http:// only for a loopback address)");

const claimName = z.string().min(1).max(200);

export const API_SETTINGS = z.object({
  PORT: int(8080),
  // Loopback unless asked: an API that holds other people's books is not opened to the network by default.
  HOST: z.string().min(1).default("127.0.0.1"),
  JETQ_MAX_BODY_BYTES: int(1024 * 1024, 1024),
  JETQ_MAX_UPLOAD_BYTES: int(1024 * 1024 * 1024, 1),
  JETQ_MAX_UPLOAD_FILES: int(20, 1),
  // Health and metrics on a port of their own as well (0 or unset: none).
  JETQ_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(0),

  JETQ_AUTH: z.enum(["on", "off"]).default("on"),
  JETQ_ADMIN_KEY: z.string().regex(API_KEY_PATTERN, `must be a jetq API key (jetq_<uuid>_<64 hex digits>); make one with: ${API_KEY_RECIPE}`).optional(),
  JETQ_AUTH_CACHE_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  JETQ_PRINT_FIRST_ADMIN_KEY: bool(false),
  JETQ_JWKS_URL: jwksUrl.optional(),
  JETQ_JWT_ISSUER: z.string().min(1).optional(),
  JETQ_JWT_AUDIENCE: z.string().min(1).optional(),
  JETQ_JWT_TENANT_CLAIM: claimName.default("tenant"),
  JETQ_JWT_ROLE_CLAIM: claimName.default("role"),

  // Per-tenant limits (api/limits/); 0 = unlimited, the default, so nothing trips them unasked.
  JETQ_RATE_CREATES: int(0),
  JETQ_RATE_UPLOADS: int(0),
  JETQ_RATE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  JETQ_TENANT_MAX_BYTES: int(0),
});

export interface JwtConfig {
  jwksUrl: URL;
  issuer: string;
  audience: string;
  /** Claim holding the tenant; a name, or a dotted path into nested claims. */
  tenantClaim: string;
  /** Claim holding the role: admin, member or viewer (or a list of roles: the highest counts). */
  roleClaim: string;
}

export interface AuthConfig {
  /** False with JETQ_AUTH=off: every request is let through as an anonymous admin. */
  enabled: boolean;
  /** JETQ_ADMIN_KEY: stored (as its hash) as an admin key at start. */
  adminKey: string | null;
  /** How long a verified key is trusted without asking NATS again: the bound on a revoke's delay. */
  cacheTtlMs: number;
  /** Print a first admin key at start when there is none (npm start). */
  printFirstAdminKey: boolean;
  jwt: JwtConfig | null;
}

export interface ApiConfig {
  port: number;
  host: string;
  /** 0: no separate port for /metrics, /healthz and /readyz. */
  metricsPort: number;
  maxBodyBytes: number;
  maxUploadBytes: number;
  maxUploadFiles: number;
  auth: AuthConfig;
  limits: LimitsConfig;
}

/** Per-tenant rate limits and quotas; 0 = unlimited. */
export interface LimitsConfig {
  /** Task creates (POST /api/tasks, /api/tasks/create, a source sync, a DLQ replay) per window. */
  createsPerWindow: number;
  /** Upload requests (POST /api/books, /rag/add-document, /rag/add-documents-batch) per window. */
  uploadsPerWindow: number;
  windowSeconds: number;
  /** Bytes of uploaded books a tenant may hold. */
  maxStoredBytes: number;
}

function jwtConfig(e: z.infer<typeof API_SETTINGS>): JwtConfig | null {
  const given = { JETQ_JWKS_URL: e.JETQ_JWKS_URL, JETQ_JWT_ISSUER: e.JETQ_JWT_ISSUER, JETQ_JWT_AUDIENCE: e.JETQ_JWT_AUDIENCE };
  const missing = Object.entries(given).filter(([, v]) => v === undefined).map(([k]) => k);
  if (missing.length === 3) return null;
  if (missing.length > 0) {
    throw new ConfigError(`invalid configuration:\n${missing.map((k) => `  ${k}: required when any of JETQ_JWKS_URL, JETQ_JWT_ISSUER, JETQ_JWT_AUDIENCE is set (JWTs are checked against all three)`).join("\n")}`);
  }
  return { jwksUrl: new URL(e.JETQ_JWKS_URL!), issuer: e.JETQ_JWT_ISSUER!, audience: e.JETQ_JWT_AUDIENCE!, tenantClaim: e.JETQ_JWT_TENANT_CLAIM, roleClaim: e.JETQ_JWT_ROLE_CLAIM };
}

export function apiConfig(e: z.infer<typeof API_SETTINGS>): ApiConfig {
  return {
    port: e.PORT,
    host: e.HOST,
    metricsPort: e.JETQ_METRICS_PORT,
    maxBodyBytes: e.JETQ_MAX_BODY_BYTES,
    maxUploadBytes: e.JETQ_MAX_UPLOAD_BYTES,
    maxUploadFiles: e.JETQ_MAX_UPLOAD_FILES,
    auth: {
      enabled: e.JETQ_AUTH === "on",
      adminKey: e.JETQ_ADMIN_KEY ?? null,
      cacheTtlMs: e.JETQ_AUTH_CACHE_TTL_MS,
      printFirstAdminKey: e.JETQ_PRINT_FIRST_ADMIN_KEY,
      jwt: jwtConfig(e),
    },
    limits: { createsPerWindow: e.JETQ_RATE_CREATES, uploadsPerWindow: e.JETQ_RATE_UPLOADS, windowSeconds: e.JETQ_RATE_WINDOW_SECONDS, maxStoredBytes: e.JETQ_TENANT_MAX_BYTES },
  };
}

/** What the API program reads: the kernel's settings, its own, and the library's (search, sources). */
export function loadApiProgramConfig(env: Record<string, string | undefined> = process.env): KernelConfig & { api: ApiConfig; documents: DocumentsConfig } {
  const e = readSettings(env, KERNEL_SETTINGS.extend(API_SETTINGS.shape).extend(LIBRARY_SETTINGS.shape));
  return { ...kernelConfig(e), api: apiConfig(e), documents: libraryConfig(e) };
}
