// Which operations each rate limit counts, by the route table's patterns (api/auth/route-policy.ts):
// task creates (directly, by a source sync, by replaying a dead-lettered task) and uploads.
import type { RateKind } from "./rate-limiter.js";

export const RATE_LIMITED: Record<string, RateKind> = {
  "POST /api/tasks": "creates",
  "POST /api/tasks/create": "creates",
  "POST /api/sources/{id}/sync": "creates",
  "POST /api/dlq/{id}/retry": "creates",
  "POST /api/dlq/retry": "creates",
  "POST /api/books": "uploads",
  "POST /rag/add-document": "uploads",
  "POST /rag/add-documents-batch": "uploads",
};

/** Uploads: checked against the stored-bytes quota before their bytes are read. */
export const UPLOAD_OPERATIONS = new Set(Object.entries(RATE_LIMITED).filter(([, k]) => k === "uploads").map(([op]) => op));

/** Deleting a book gives its bytes back. */
export const BOOK_DELETE = "DELETE /api/books/{id}";
