// What the pipeline produced: books (list, one, delete with their vectors) and quizzes.
import { Router } from "express";
import type { KV } from "@nats-io/kv";
import type { BookStore } from "../../core/books.js";
import { notFound } from "../../core/errors.js";
import type { VectorStore } from "../../core/vectors/vector-store.js";
import { methodNotAllowed } from "../http.js";

export function libraryRouter(deps: { books: BookStore; vectors: VectorStore; quizzes: KV }): Router {
  const r = Router();
  r.route("/api/books/:id")
    .get(async (req, res) => {
      const book = await deps.books.get(String(req.params.id));
      if (!book) throw notFound("book", String(req.params.id));
      res.json(book);
    })
    .delete(async (req, res) => {
      const id = String(req.params.id);
      const book = await deps.books.get(id);
      const upload = book ? null : await deps.books.openUpload(id);
      if (!book && !upload) throw notFound("book", id);
      // Vectors first: a book that is gone must not turn up in searches.
      await deps.vectors.deleteBook(id);
      await deps.books.delete(id);
      res.status(204).end();
    })
    .all(methodNotAllowed("GET", "DELETE"));

  r.route("/api/quizzes/:id")
    .get(async (req, res) => {
      const e = await deps.quizzes.get(String(req.params.id));
      if (!e || e.operation !== "PUT" || !e.value.length) throw notFound("quiz", String(req.params.id));
      res.json(e.json());
    })
    .all(methodNotAllowed("GET"));
  return r;
}
