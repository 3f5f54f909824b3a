// Who may do what: the three roles, ordered from least to most, and what a tenant name looks like.
// No imports: the key schemas, the client and the CLI read these as well.

/** Least to most: each role may do everything the roles before it may. */
export const ROLES = ["viewer", "member", "admin"] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (v: unknown): v is Role => typeof v === "string" && (ROLES as readonly string[]).includes(v);

/** Whether a caller with role `have` may act where `need` is required. */
export const roleAllows = (have: Role, need: Role): boolean => ROLES.indexOf(have) >= ROLES.indexOf(need);

/**
 * A tenant name: a DNS label (lower-case letters, digits and inner dashes, at most 63), so it can
 * be a Kubernetes namespace, a NATS subject token and a KV key as it is.
 */
export const TENANT_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The tenant of the keys jetq makes itself (the first admin key, JETQ_ADMIN_KEY). */
export const DEFAULT_TENANT = "default";
