// The pieces of access control that need no server: the key format, the route policy's matching
// (the way express matches), the verified-key cache's bounds, date-times, and the settings.
import { describe, expect, it } from "vitest";
import { apiKeyId, hashApiKey, newApiKey, sameHash } from "../../api/auth/api-key.js";
import { VerifiedKeyCache } from "../../api/auth/key-cache.js";
import { parseDateTime } from "../../api/auth/key-schemas.js";
import type { Principal } from "../../api/auth/principal.js";
import { isPublicPath, policyOf } from "../../api/auth/route-policy.js";
import { roleAllows } from "../../api/auth/roles.js";
import { loadApiProgramConfig } from "../../api/config.js";
import { ConfigError } from "../../kernel/config.js";

const principal: Principal = { via: "api_key", id: "k1", tenant: "acme", role: "member" };

describe("API keys", () => {
  it("look like jetq_<uuid>_<64 hex>, carry their id, and are stored as SHA-256", () => {
    const { id, key } = newApiKey();
    expect(key).toMatch(/^jetq_[0-9a-f-]{36}_[0-9a-f]{64}$/);
    expect(apiKeyId(key)).toBe(id);
    expect(hashApiKey(key)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(sameHash(hashApiKey(key), hashApiKey(key))).toBe(true);
    expect(sameHash(hashApiKey(key), hashApiKey(newApiKey().key))).toBe(false);
    for (const bad of ["", "jetq_", `jetq_${id}`, `jetq_${id}_abc`, `${key}0`, key.toUpperCase(), ` ${key}`, key.replace("jetq_", "jetx_")]) expect(apiKeyId(bad), bad).toBeNull();
  });
});

describe("the route policy", () => {
  it("matches paths the way express routes them: any case, an optional trailing slash, HEAD as GET", () => {
    expect(policyOf("GET", "/api/tasks/queue")).toMatchObject({ role: "admin", pattern: "/api/tasks/queue" });
    expect(policyOf("GET", "/API/Tasks/Queue/")).toMatchObject({ role: "admin", pattern: "/api/tasks/queue" });
    expect(policyOf("HEAD", "/api/tasks/queue")).toMatchObject({ role: "admin" });
    expect(policyOf("GET", "/api/tasks/0b7c2c3e-0000-4000-8000-000000000001")).toMatchObject({ role: "viewer", pattern: "/api/tasks/{id}" });
    expect(policyOf("POST", "/api/dlq/retry")).toMatchObject({ role: "admin", pattern: "/api/dlq/retry", audit: "dlq.retry_many" });
    expect(policyOf("POST", "/api/dlq/abc/retry")).toMatchObject({ role: "member", pattern: "/api/dlq/{id}/retry" });
  });

  it("needs admin for whatever it does not list: unknown paths, and methods a path does not have", () => {
    expect(policyOf("GET", "/api/brand-new-thing").role).toBe("admin");
    expect(policyOf("PUT", "/api/tasks").role).toBe("admin");
    expect(policyOf("GET", "/api/tasks/x/y/z").role).toBe("admin");
    expect(policyOf("OPTIONS", "/api/books").role).toBe("admin");
  });

  it("lets only health, readiness, metrics and the document through without credentials", () => {
    for (const p of ["/healthz", "/readyz", "/metrics", "/openapi.json", "/HEALTHZ", "/metrics/"]) expect(isPublicPath(p), p).toBe(true);
    for (const p of ["/", "/api/tasks", "/healthz/x", "/metricsx", "/openapi.jsonx", "/api/../metrics"]) expect(isPublicPath(p), p).toBe(false);
  });

  it("orders the roles", () => {
    expect(roleAllows("admin", "viewer")).toBe(true);
    expect(roleAllows("member", "member")).toBe(true);
    expect(roleAllows("viewer", "member")).toBe(false);
    expect(roleAllows("member", "admin")).toBe(false);
  });
});

describe("the verified-key cache", () => {
  it("trusts a key for ttlMs at most, then asks again", () => {
    let now = 1_000;
    const cache = new VerifiedKeyCache(5_000, 100, () => now);
    cache.set("h1", "k1", principal, null);
    now += 4_999;
    expect(cache.get("h1")).toEqual({ principal, expired: false });
    now += 1;
    expect(cache.get("h1")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("says a cached key has expired the moment its own expiry passes", () => {
    let now = 0;
    const cache = new VerifiedKeyCache(5_000, 100, () => now);
    cache.set("h1", "k1", principal, 2_000);
    now = 1_999;
    expect(cache.get("h1")?.expired).toBe(false);
    now = 2_000;
    expect(cache.get("h1")?.expired).toBe(true);
  });

  it("forgets a revoked key at once, holds at most maxEntries, and caches nothing with a TTL of 0", () => {
    const cache = new VerifiedKeyCache(5_000, 3);
    for (let i = 0; i < 10; i++) cache.set(`h${i}`, `k${i}`, principal, null);
    expect(cache.size).toBe(3);
    expect(cache.get("h0")).toBeUndefined(); // the oldest went first
    cache.forget("k9");
    expect(cache.get("h9")).toBeUndefined();
    const off = new VerifiedKeyCache(0);
    off.set("h", "k", principal, null);
    expect(off.size).toBe(0);
  });
});

describe("expiry date-times (RFC 3339)", () => {
  it("reads what the document's format allows and refuses what it does not", () => {
    expect(parseDateTime("2027-01-31T00:00:00Z")).toBe(Date.UTC(2027, 0, 31));
    expect(parseDateTime("2027-01-31t01:30:00+01:30")).toBe(Date.UTC(2027, 0, 31));
    expect(parseDateTime("2027-01-31T00:00:00.250Z")).toBe(Date.UTC(2027, 0, 31, 0, 0, 0, 250));
    expect(parseDateTime("2016-12-31T23:59:60Z")).toBe(Date.UTC(2017, 0, 1)); // a leap second
    for (const bad of ["2027-02-29T00:00:00Z", "2027-13-01T00:00:00Z", "2027-01-31", "2027-01-31T24:00:00Z", "2027-01-31T00:00:00", "2027-01-31T00:00:00+24:00", "tomorrow"]) expect(parseDateTime(bad), bad).toBeNull();
  });
});

describe("access settings", () => {
  const fails = (env: Record<string, string>, ...says: string[]) => {
    let error: unknown;
    try {
      loadApiProgramConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    for (const s of says) expect(String(error)).toContain(s);
    return String(error);
  };

  it("asks for credentials and listens on loopback unless told otherwise", () => {
    const { api } = loadApiProgramConfig({});
    expect(api.host).toBe("127.0.0.1");
    expect(api.auth).toMatchObject({ enabled: true, adminKey: null, cacheTtlMs: 5_000, printFirstAdminKey: false, jwt: null });
    expect(loadApiProgramConfig({ JETQ_AUTH: "off" }).api.auth.enabled).toBe(false);
    fails({ JETQ_AUTH: "no" }, "JETQ_AUTH");
  });

  it("refuses a JETQ_ADMIN_KEY that is no jetq key, naming the setting and how to make one, never echoing it", () => {
    const message = fails({ JETQ_ADMIN_KEY: "correct-horse-battery-staple" }, "JETQ_ADMIN_KEY", "randomUUID");
    expect(message).not.toContain("correct-horse");
    const { key } = newApiKey();
    expect(loadApiProgramConfig({ JETQ_ADMIN_KEY: key }).api.auth.adminKey).toBe(key);
  });

  it("takes JWTs only with a JWKS URL, an issuer and an audience, and the JWKS over HTTPS (HTTP on loopback)", () => {
    fails({ JETQ_JWKS_URL: "https://id.example/jwks.json" }, "JETQ_JWT_ISSUER", "JETQ_JWT_AUDIENCE");
    fails({ JETQ_JWT_AUDIENCE: "jetq" }, "JETQ_JWKS_URL", "JETQ_JWT_ISSUER");
    fails({ JETQ_JWKS_URL: "http://id.example/jwks.json", JETQ_JWT_ISSUER: "i", JETQ_JWT_AUDIENCE: "a" }, "JETQ_JWKS_URL");
    fails({ JETQ_JWKS_URL: "not a url", JETQ_JWT_ISSUER: "i", JETQ_JWT_AUDIENCE: "a" }, "JETQ_JWKS_URL");
    const jwt = loadApiProgramConfig({ JETQ_JWKS_URL: "http://127.0.0.1:9000/jwks.json", JETQ_JWT_ISSUER: "https://id.example/", JETQ_JWT_AUDIENCE: "jetq" }).api.auth.jwt;
    expect(jwt).toMatchObject({ issuer: "https://id.example/", audience: "jetq", tenantClaim: "tenant", roleClaim: "role" });
    fails({ JETQ_AUTH_CACHE_TTL_MS: "600000" }, "JETQ_AUTH_CACHE_TTL_MS");
  });
});
