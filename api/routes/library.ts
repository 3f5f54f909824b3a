// What the pipeline produced: books (list, one, delete with their vectors) and quizzes. Another
// tenant's book or quiz is a 404 exactly like a missing one (issue #11): its existence is not revealed.
import { Router } from "express";
import type { KV } from "@nats-io/kv";
import { inScope, type BookStore } from "../../library/books.js";
import { notFound } from "../../kernel/errors.js";
import { isLiveEntry } from "../../kernel/kv-live.js";
import type { VectorStore } from "../../library/vectors/vector-store.js";
import { idParam, methodNotAllowed } from "../http.js";
import { readScopeOf } from "../tenant-scope.js";

export function libraryRouter(deps: { books: BookStore; vectors: VectorStore; quizzes: KV }): Router {
  const r = Router();
  r.route("/api/books/:id")
    .get(async (req, res) => {
      const id = idParam(req, "book");
      const book = (await deps.books.get(id)) ?? (await deps.books.uploadedView(id));
      if (!book || !inScope(book, readScopeOf(req))) throw notFound("book", id);
      res.json(book);
    })
    .delete(async (req, res) => {
      const id = idParam(req, "book");
      const tenant = await deps.books.tenantOfBook(id);
      if (tenant === null || !inScope({ tenant }, readScopeOf(req))) throw notFound("book", id);
      await deps.books.delete(id, deps.vectors);
      res.status(204).end();
    })
    .all(methodNotAllowed("GET", "DELETE"));

  r.route("/api/quizzes/:id")
    .get(async (req, res) => {
      const id = idParam(req, "quiz");
      const e = await deps.quizzes.get(id);
      // A quiz stored before tenants has no `tenant`: the default tenant's, like its book.
      if (!isLiveEntry(e) || !inScope(e.json<{ tenant?: string }>(), readScopeOf(req))) throw notFound("quiz", id);
      res.json(e.json());
    })
    .all(methodNotAllowed("GET"));
  return r;
}
