// Access control assembled from its parts for one API process: the key store and its cache, the
// key and JWT verifiers, and the two middlewares (who is asking; may they do this).
import type { RequestHandler } from "express";
import type { JetqConnection } from "../../kernel/connection.js";
import type { Logger } from "../../kernel/logger.js";
import type { AuthConfig } from "../config.js";
import { API_KEY_PREFIX, apiKeyId } from "./api-key.js";
import { authenticate } from "./authenticate.js";
import { authorize } from "./authorize.js";
import { storeSettingKey } from "./bootstrap.js";
import { VerifiedKeyCache } from "./key-cache.js";
import { ApiKeyStore } from "./key-store.js";
import { ApiKeyVerifier } from "./key-verifier.js";
import { JwtVerifier, looksLikeJwt } from "./jwt-verifier.js";
import { refused, type Verdict } from "./verdict.js";

export interface Access {
  enabled: boolean;
  store: ApiKeyStore;
  cache: VerifiedKeyCache;
  /** The id of JETQ_ADMIN_KEY, which only the setting can take away (null: not set). */
  settingKeyId: string | null;
  authenticate: RequestHandler;
  authorize: RequestHandler;
  /** Resolves once JETQ_ADMIN_KEY is stored; retried on the next call if it failed. */
  ready(): Promise<void>;
}

export function createAccess(conn: JetqConnection, config: AuthConfig, log: Logger): Access {
  const store = new ApiKeyStore(conn);
  const cache = new VerifiedKeyCache(config.cacheTtlMs);
  let stored: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    if (!config.enabled || !config.adminKey) return Promise.resolve();
    stored ??= storeSettingKey(store, config.adminKey).then(
      (r) => void (r === "stored" && log.info("admin key from JETQ_ADMIN_KEY stored (its hash)", { keyId: apiKeyId(config.adminKey!) })),
      (err: unknown) => {
        stored = undefined;
        throw err;
      },
    );
    return stored;
  };
  const keys = new ApiKeyVerifier(store, cache, ready);
  const jwt = config.jwt ? new JwtVerifier(config.jwt) : null;
  const verify = (token: string): Promise<Verdict> => {
    if (token.startsWith(API_KEY_PREFIX)) return keys.verify(token);
    if (looksLikeJwt(token)) {
      if (jwt) return jwt.verify(token);
      return Promise.resolve(refused("invalid_credentials", "this server takes API keys (jetq_…), not JWTs: JETQ_JWKS_URL is not set"));
    }
    return Promise.resolve(refused("invalid_credentials", "the credentials are neither a jetq API key (jetq_…) nor a JWT"));
  };
  return {
    enabled: config.enabled,
    store,
    cache,
    settingKeyId: config.adminKey ? apiKeyId(config.adminKey) : null,
    authenticate: authenticate({ enabled: config.enabled, verify }),
    authorize: authorize(log),
    ready,
  };
}
