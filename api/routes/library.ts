// What the pipeline produced: books (list, one, delete with their vectors) and quizzes.
import { Router } from "express";
import type { KV } from "@nats-io/kv";
import type { BookStore } from "../../library/books.js";
import { notFound } from "../../kernel/errors.js";
import { isLiveEntry } from "../../kernel/kv-live.js";
import type { VectorStore } from "../../library/vectors/vector-store.js";
import { idParam, methodNotAllowed } from "../http.js";

export function libraryRouter(deps: { books: BookStore; vectors: VectorStore; quizzes: KV }): Router {
  const r = Router();
  r.route("/api/books/:id")
    .get(async (req, res) => {
      const id = idParam(req, "book");
      const book = (await deps.books.get(id)) ?? (await deps.books.uploadedView(id));
      if (!book) throw notFound("book", id);
      res.json(book);
    })
    .delete(async (req, res) => {
      const id = idParam(req, "book");
      const book = await deps.books.get(id);
      if (!book && !(await deps.books.hasUpload(id))) throw notFound("book", id);
      await deps.books.delete(id, deps.vectors);
      res.status(204).end();
    })
    .all(methodNotAllowed("GET", "DELETE"));

  r.route("/api/quizzes/:id")
    .get(async (req, res) => {
      const id = idParam(req, "quiz");
      const e = await deps.quizzes.get(id);
      if (!isLiveEntry(e)) throw notFound("quiz", id);
      res.json(e.json());
    })
    .all(methodNotAllowed("GET"));
  return r;
}
