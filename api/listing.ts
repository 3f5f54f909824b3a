// Paged listings (books, sources): the query they take and the answer they give.
import type { Request } from "express";
import { z } from "zod";
import type { Page } from "../kernel/kv-index.js";
import { pagination, parseQuery } from "./http.js";

/** The query of the books and sources listings; exported for the OpenAPI document, which is generated from it. */
export const PagedListQuery = z.object({
  ...pagination,
  cursor: z.string().min(1).max(2048).optional().describe("nextCursor of the previous page (wins over offset)"),
});

/** `GET` of a paged listing: `{items, total, limit, offset, nextCursor}`. */
export async function listPage<T>(req: Request, page: (q: z.infer<typeof PagedListQuery>) => Promise<Page<T>>) {
  const q = parseQuery(PagedListQuery, req);
  const p = await page(q); // an unknown cursor throws InvalidCursorError, a 400 invalid_query
  return { items: p.items, total: p.total, limit: q.limit, offset: p.offset, nextCursor: p.nextCursor };
}

