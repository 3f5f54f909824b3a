// GET /api/search?q=&k=&bookId=: the chunks nearest to the query, best first.
import { Router } from "express";
import { z } from "zod";
import type { Embedder } from "../../core/embeddings/embedder.js";
import type { VectorStore } from "../../core/vectors/vector-store.js";
import { methodNotAllowed, parseQuery } from "../http.js";

const SearchQuery = z.object({
  q: z.string().trim().min(1, "give a query in q").max(2000),
  k: z.coerce.number().int().min(1).max(100).default(10),
  bookId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/).optional(),
});

export function searchRouter(deps: { embedder: Embedder; vectors: VectorStore }): Router {
  const r = Router();
  r.route("/api/search")
    .get(async (req, res) => {
      const q = parseQuery(SearchQuery, req);
      const [vector] = await deps.embedder.embed([q.q]);
      await deps.vectors.ensureCollection(vector!.length);
      const hits = await deps.vectors.search(vector!, q.k, q.bookId ? { bookId: q.bookId } : {});
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
