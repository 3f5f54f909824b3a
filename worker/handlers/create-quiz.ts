// create_quiz: questions from a book (or chosen chunks), each citing the chunk it came from. The
// quiz is stored (GET /api/quizzes/{id}) and returned in the task result.
import { randomUUID } from "node:crypto";
import { NonRetryableError } from "../../kernel/errors.js";
import { bookTenantOf, type Chunk } from "../../library/books.js";
import { tenantOf } from "../../kernel/task.js";
import type { Quiz } from "../../library/api-schemas.js";
import type { CreateQuizPayload } from "../../library/task-types.js";
import type { HandlerFor } from "../handler.js";
import type { Pipeline } from "./pipeline.js";

/** Most chunks handed to a generator: spread evenly over the book so a quiz covers all of it. */
const MAX_CHUNKS = 200;

/**
 * What is stored and answered by GET /api/quizzes/{id}: the API's schema (library/api-schemas.ts)
 * with the tenant always set (absent only on quizzes stored before tenants: the default tenant's).
 */
export type QuizRecord = Quiz & { tenant: string };

export function createQuiz(p: Pipeline): HandlerFor<typeof CreateQuizPayload> {
  return async (ctx) => {
    const { bookId, chunkIds } = ctx.payload;
    const questionCount = ctx.payload.questionCount ?? 10;
    const tenant = tenantOf(ctx.task);
    const found = await p.books.get(bookId);
    // Another tenant's book is as unknown to this task as a missing one (issue #11): the same error.
    const book = found && bookTenantOf(found) === tenant ? found : null;
    if (!book) throw new NonRetryableError(`book ${bookId} is not known; upload and process it first`, "book_not_found");
    if (book.status !== "ready") throw new NonRetryableError(`book ${bookId} is not processed yet`, "book_not_ready");

    const only = chunkIds?.length ? new Set(chunkIds) : undefined;
    const step = Math.max(1, Math.ceil((only?.size ?? book.chunks) / MAX_CHUNKS));
    const chunks: Chunk[] = [];
    let i = 0;
    for await (const c of p.books.readChunks(bookId, only)) if (i++ % step === 0) chunks.push(c);
    if (!chunks.length) throw new NonRetryableError(`no chunks selected from book ${bookId}`, "no_chunks");

    ctx.progress(20, `writing ${questionCount} questions from ${chunks.length} chunks`);
    const questions = await p.quiz.generate({ bookId, chunks, questionCount }, ctx.signal);
    const quiz: QuizRecord = { quizId: randomUUID(), bookId, tenant, taskId: ctx.id, generator: p.quiz.name, questions, createdAt: new Date().toISOString() };
    await p.conn.quizzes.put(quiz.quizId, JSON.stringify(quiz));
    return { quizId: quiz.quizId, bookId, generator: quiz.generator, questionCount: questions.length, questions, quizUrl: `/api/quizzes/${quiz.quizId}` };
  };
}
