// Bearer JWTs from an identity provider, checked with `jose` against the provider's JWKS (fetched
// and cached by jose, refetched at most every 30 s for an unknown key id): signature, issuer,
// audience and expiry (a token without `exp` is refused). Tenant and role come from claims the
// settings name. A JWKS that cannot be fetched is the provider's outage, not the caller's fault:
// 503, not 401.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from "jose";
import { UnavailableError } from "../../kernel/errors.js";
import type { JwtConfig } from "../config.js";
import { isRole, ROLES, TENANT_PATTERN, type Role } from "./roles.js";
import { refused, type Verdict } from "./verdict.js";

/** Three base64url parts: what a JWS compact serialisation looks like. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
export const looksLikeJwt = (token: string) => JWT_SHAPE.test(token);

/** Clock skew allowed between this machine and the provider, for exp and nbf. */
const CLOCK_TOLERANCE_S = 5;

/** Errors that are the token's fault: the caller gets 401. Anything else (the JWKS fetch) is 503. */
const TOKEN_ERRORS = [
  errors.JWTExpired,
  errors.JWTClaimValidationFailed,
  errors.JWTInvalid,
  errors.JWSInvalid,
  errors.JWSSignatureVerificationFailed,
  errors.JWKSNoMatchingKey,
  errors.JWKSMultipleMatchingKeys,
  errors.JOSEAlgNotAllowed,
  errors.JOSENotSupported,
];

/** A claim by name, or (when no claim has that name) by a dotted path: `realm_access.roles`. */
function claim(payload: JWTPayload, name: string): unknown {
  if (name in payload) return payload[name];
  return name.split(".").reduce<unknown>((v, part) => (v && typeof v === "object" ? (v as Record<string, unknown>)[part] : undefined), payload);
}

/** The role a claim grants: one role, or the highest of a list; unknown names are ignored. */
function roleOf(value: unknown): Role | null {
  const names = Array.isArray(value) ? value : [value];
  const roles = names.filter(isRole);
  if (roles.length === 0) return null;
  return roles.reduce((a, b) => (ROLES.indexOf(b) > ROLES.indexOf(a) ? b : a));
}

export class JwtVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly config: JwtConfig) {
    this.jwks = createRemoteJWKSet(config.jwksUrl, { timeoutDuration: 5_000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
  }

  async verify(token: string): Promise<Verdict> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ["exp"],
      }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) return refused("credentials_expired", "the token has expired");
      if (TOKEN_ERRORS.some((E) => err instanceof E)) return refused("invalid_token", `the token was refused: ${(err as Error).message}`);
      throw new UnavailableError("identity_provider_unavailable", "the identity provider's keys (JETQ_JWKS_URL) cannot be fetched right now; try again shortly", { cause: String((err as Error)?.message ?? err) });
    }
    const { tenantClaim, roleClaim } = this.config;
    const tenant = claim(payload, tenantClaim);
    if (typeof tenant !== "string" || !TENANT_PATTERN.test(tenant)) return refused("invalid_token", `the token's ${JSON.stringify(tenantClaim)} claim does not name a tenant`);
    const role = roleOf(claim(payload, roleClaim));
    if (!role) return refused("invalid_token", `the token's ${JSON.stringify(roleClaim)} claim grants none of the roles ${ROLES.join(", ")}`);
    return { principal: { via: "jwt", id: typeof payload.sub === "string" ? payload.sub : "unknown", tenant, role, issuer: this.config.issuer } };
  }
}
