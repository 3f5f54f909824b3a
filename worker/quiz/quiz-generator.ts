// A QuizGenerator writes questions from a book's chunks; one file per implementation: the
// deterministic extractive default and an LLM through an OpenAI-compatible chat API.
import type { Chunk } from "../documents/document.js";

export interface QuizQuestion {
  kind: "cloze" | "multiple_choice";
  question: string;
  choices: string[];
  /** The correct choice's text; always one of `choices`. */
  answer: string;
  answerIndex: number;
  /** The chunk the question was drawn from: its text contains the answer. */
  sourceChunkId: string;
  page: number;
  explanation?: string;
}

export interface QuizGenerator {
  readonly name: string;
  generate(input: { bookId: string; chunks: Chunk[]; questionCount: number }, signal?: AbortSignal): Promise<QuizQuestion[]>;
}
