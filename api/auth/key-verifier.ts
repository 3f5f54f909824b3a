// Checks an API key: its shape first (a malformed key never reaches NATS), then the verified-key
// cache, then its record: the hash must match (constant-time) and the key must not have expired.
// An unknown id and a wrong secret get the same answer, so a caller learns nothing about which
// ids exist.
import { apiKeyId, hashApiKey, sameHash } from "./api-key.js";
import type { VerifiedKeyCache } from "./key-cache.js";
import { isExpired, type ApiKeyStore } from "./key-store.js";
import type { Principal } from "./principal.js";
import { refused, type Verdict } from "./verdict.js";

const INVALID = "the API key is not valid (unknown, revoked or mistyped)";

export class ApiKeyVerifier {
  constructor(
    private readonly store: ApiKeyStore,
    private readonly cache: VerifiedKeyCache,
    /** Resolves once the configured admin key is stored, so it works from the first request. */
    private readonly ready: () => Promise<void>,
  ) {}

  async verify(token: string): Promise<Verdict> {
    const id = apiKeyId(token);
    if (!id) return refused("invalid_credentials", INVALID);
    const hash = hashApiKey(token);
    const cached = this.cache.get(hash);
    if (cached) return cached.expired ? refused("credentials_expired", "the API key has expired") : { principal: cached.principal };
    await this.ready();
    const record = await this.store.get(id);
    if (!record || !sameHash(record.hash, hash)) return refused("invalid_credentials", INVALID);
    if (isExpired(record)) return refused("credentials_expired", `the API key expired at ${record.expiresAt}`);
    const principal: Principal = { via: "api_key", id, tenant: record.tenant, role: record.role };
    this.cache.set(hash, id, principal, record.expiresAt === null ? null : Date.parse(record.expiresAt));
    return { principal };
  }
}
