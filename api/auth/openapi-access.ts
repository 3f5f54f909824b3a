// The access rules in the OpenAPI document, from the route policy: the bearer scheme, the role
// each operation needs (`x-jetq-role`, and in its description), 401 on every operation that asks
// for credentials and 403 where a role below it exists. The public operations say `security: []`.
// An operation the policy has no entry for stops the server at start: a new route cannot be
// documented without saying who may call it.
import { PUBLIC_PATHS, ROUTE_POLICY } from "./route-policy.js";
import { ROLES } from "./roles.js";

export const SECURITY_SCHEME = "bearer";

interface Operation {
  description?: string;
  security?: unknown[];
  responses: Record<string, unknown>;
  [extension: `x-${string}`]: unknown;
}
interface Document {
  info: { description: string };
  components: { responses: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
  paths: Record<string, Record<string, Operation>>;
  security?: unknown[];
}

const errorRef = (status: 401 | 403) => ({ $ref: `#/components/responses/E${status}` });

export function withAccess<D>(doc: D, enabled: boolean): D {
  const d = structuredClone(doc) as D & Document;
  const publicPaths = new Set<string>(PUBLIC_PATHS);
  for (const [path, ops] of Object.entries(d.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (publicPaths.has(path)) {
        op.security = [];
        continue;
      }
      const policy = ROUTE_POLICY[path]?.[method as "get"];
      if (!policy) throw new Error(`the route policy (api/auth/route-policy.ts) has no entry for ${method.toUpperCase()} ${path}: say which role it needs`);
      op["x-jetq-role"] = policy.role;
      if (!enabled) continue;
      op.description = `${op.description ? `${op.description} ` : ""}Needs the ${policy.role} role${policy.audit ? ` (audited as ${policy.audit})` : ""}.`;
      op.responses["401"] = errorRef(401);
      if (policy.role !== ROLES[0]) op.responses["403"] = errorRef(403);
    }
  }
  if (!enabled) {
    d.info.description += " Authentication is off on this server (JETQ_AUTH=off): every request is let through.";
    delete d.components.responses.E401;
    delete d.components.responses.E403;
    return d;
  }
  d.components.securitySchemes = {
    [SECURITY_SCHEME]: {
      type: "http",
      scheme: "bearer",
      description: "An API key (jetq_<id>_<secret>, from POST /api/keys or the first start) or, where JETQ_JWKS_URL is set, a JWT from the identity provider.",
    },
  };
  d.security = [{ [SECURITY_SCHEME]: [] }];
  return d;
}
