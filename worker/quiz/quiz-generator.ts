// A QuizGenerator writes questions from a book's chunks; one file per implementation: the
// deterministic extractive default and an LLM through an OpenAI-compatible chat API.
import type { QuizQuestion } from "../../library/api-schemas.js";
import type { Chunk } from "../documents/document.js";

/** A question as the API answers it (its schema in library/api-schemas.ts is the one definition). */
export type { QuizQuestion };

export interface QuizGenerator {
  readonly name: string;
  generate(input: { bookId: string; chunks: Chunk[]; questionCount: number }, signal?: AbortSignal): Promise<QuizQuestion[]>;
}
