// Which role each operation needs, and which operations are audited: one table, written in the
// OpenAPI document's paths, so the document can state it and a test can check that every
// operation the document lists has an entry. What the table does not name needs admin: a route
// added without an entry is closed, not open.
//
// viewer: reads. member: creates, cancels, uploads, search, and deleting or replaying single
// objects (its own tenant's, once tenants are isolated). admin: queue-wide views, DLQ bulk
// actions, key management. Replaying one dead-lettered task is a member's: it is the same as
// creating that task again.
import type { Request } from "express";
import type { Role } from "./roles.js";

export interface OperationPolicy {
  role: Role;
  /** The audit action name; absent: not audited. */
  audit?: string;
  /** What the audit line names as the target (default: the path). Read when the answer is sent, so the body is parsed. */
  target?: (req: Request) => string;
}

type Method = "get" | "post" | "delete";

const viewer: OperationPolicy = { role: "viewer" };
const member: OperationPolicy = { role: "member" };
const audited = (role: Role, audit: string, target?: OperationPolicy["target"]): OperationPolicy => ({ role, audit, ...(target ? { target } : {}) });
const withQuery = (req: Request) => `${req.path}${req.originalUrl.includes("?") ? req.originalUrl.slice(req.originalUrl.indexOf("?")) : ""}`;
const withBody = (req: Request) => `${req.path} ${JSON.stringify(req.body ?? null)}`;

/** The paths anyone may call without credentials, with any method (a wrong one is a 405). */
export const PUBLIC_PATHS = ["/healthz", "/readyz", "/metrics", "/openapi.json"] as const;

export const ROUTE_POLICY: Record<string, Partial<Record<Method, OperationPolicy>>> = {
  "/api/tasks/create": { post: member },
  "/api/tasks": { get: viewer, post: member },
  "/api/tasks/queue": { get: audited("admin", "queue.view") },
  "/api/tasks/{id}/status": { get: viewer },
  "/api/tasks/{id}": { get: viewer },
  "/api/tasks/{id}/events": { get: viewer },
  "/api/tasks/{id}/logs": { get: viewer },
  "/api/tasks/{id}/cancel": { post: audited("member", "task.cancel") },
  "/api/dlq": { get: viewer, delete: audited("admin", "dlq.discard_many", withQuery) },
  "/api/dlq/retry": { post: audited("admin", "dlq.retry_many", withBody) },
  "/api/dlq/{id}": { get: viewer, delete: audited("member", "dlq.discard") },
  "/api/dlq/{id}/retry": { post: audited("member", "dlq.retry") },
  "/api/books": { get: viewer, post: member },
  "/api/books/{id}": { get: viewer, delete: audited("member", "book.delete") },
  "/api/search": { get: viewer },
  "/api/sources": { get: viewer, post: member },
  "/api/sources/{id}": { get: viewer, delete: audited("member", "source.delete") },
  "/api/sources/{id}/sync": { post: member },
  "/api/quizzes/{id}": { get: viewer },
  "/api/keys": { get: audited("admin", "key.list"), post: audited("admin", "key.create") },
  "/api/keys/{id}": { delete: audited("admin", "key.revoke") },
  "/api/whoami": { get: viewer },
  "/api/limits": { get: viewer },
  "/api/pools": { get: { role: "admin" } },
  "/api/stats": { get: { role: "admin" } },
  "/rag/add-document": { post: member },
  "/rag/add-documents-batch": { post: member },
  "/rag/task/{task_id}": { get: viewer },
};

/** Needed where the table says nothing (an unknown path or method): closed by default. */
export const UNLISTED_ROLE: Role = "admin";

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// Express matches paths case-insensitively and with an optional trailing slash: so does this.
// Fewer parameters first, so /api/tasks/queue wins over /api/tasks/{id}, as in the routers.
const compiled = Object.entries(ROUTE_POLICY)
  .map(([pattern, ops]) => ({
    pattern,
    ops,
    params: (pattern.match(/\{/g) ?? []).length,
    regex: new RegExp(`^${pattern.split(/\{[^}]+\}/).map(escape).join("[^/]+")}/?$`, "i"),
  }))
  .sort((a, b) => a.params - b.params);

const publicPaths = new Set<string>(PUBLIC_PATHS);

/** The web view's files (api/web-view.ts) are under this prefix: the code is public, the data it shows is not. */
export const WEB_VIEW_PREFIX = "/ui";

export function isPublicPath(path: string): boolean {
  const p = path.toLowerCase();
  if (p === WEB_VIEW_PREFIX || p.startsWith(`${WEB_VIEW_PREFIX}/`)) return true;
  return publicPaths.has(p.replace(/(.)\/$/, "$1"));
}

/** The policy of a request: its table entry, or admin for anything the table does not list. */
export function policyOf(method: string, path: string): OperationPolicy & { pattern: string | null } {
  const m = (method === "HEAD" ? "get" : method.toLowerCase()) as Method; // express answers HEAD with the GET route
  const route = compiled.find((r) => r.regex.test(path));
  const op = route?.ops[m];
  return op ? { ...op, pattern: route!.pattern } : { role: UNLISTED_ROLE, pattern: route?.pattern ?? null };
}
