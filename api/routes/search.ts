// GET /api/search?q=&k=&bookId=: the chunks nearest to the query, best first, among the caller's
// tenant's books only (an admin searches every tenant's). Another tenant's bookId finds nothing,
// as a filter naming another tenant's task does in GET /api/tasks: an empty answer, not a 404.
import { Router } from "express";
import { z } from "zod";
import type { Embedder } from "../../library/embeddings/embedder.js";
import type { VectorStore } from "../../library/vectors/vector-store.js";
import { UUID_PATTERN } from "../../kernel/ids.js";
import { methodNotAllowed, optionalFilter, parseQuery, queryInt } from "../http.js";
import { readScopeOf } from "../tenant-scope.js";

/**
 * Text that is not only white space, as `String#trim` counts it (the same set the document's
 * pattern lists, so a generated query and this check agree on every character).
 */
export const HAS_TEXT = /[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/;
export const MAX_QUERY_CHARS = 2000;
export const MAX_K = 100;

const SearchQuery = z.object({
  q: z
    .string()
    .regex(HAS_TEXT, "give a query in q")
    // Counted in characters (code points), as the document's maxLength is, not UTF-16 units.
    .refine((q) => [...q].length <= MAX_QUERY_CHARS, `at most ${MAX_QUERY_CHARS} characters`)
    .transform((q) => q.trim()),
  k: queryInt(1, MAX_K, 10),
  bookId: optionalFilter(z.string().regex(UUID_PATTERN, "book ids are UUIDs")).transform((id) => id?.toLowerCase()),
});

export function searchRouter(deps: { embedder: Embedder; vectors: VectorStore }): Router {
  const r = Router();
  r.route("/api/search")
    .get(async (req, res) => {
      const q = parseQuery(SearchQuery, req);
      const [vector] = await deps.embedder.embed([q.q]);
      await deps.vectors.ensureCollection(vector!.length);
      const hits = await deps.vectors.search(vector!, q.k, { ...readScopeOf(req), ...(q.bookId ? { bookId: q.bookId } : {}) });
      res.json({
        query: q.q,
        embedder: deps.embedder.name,
        results: hits.map((h) => ({
          score: Math.round(h.score * 1e6) / 1e6,
          bookId: h.payload.bookId,
          chunkId: h.payload.chunkId,
          page: h.payload.page,
          text: h.payload.text,
          ...(h.payload.title ? { title: h.payload.title } : {}),
          ...(h.payload.section ? { section: h.payload.section } : {}),
        })),
      });
    })
    .all(methodNotAllowed("GET"));
  return r;
}
