// Picks the quiz generator the configuration asks for: an LLM when an OpenAI-compatible API is
// configured, otherwise the deterministic extractive generator.
import type { DocumentsConfig } from "../../library/config.js";
import { ExtractiveQuizGenerator } from "./extractive-quiz.js";
import { LlmQuizGenerator } from "./llm-quiz.js";
import type { QuizGenerator } from "./quiz-generator.js";

export type { QuizGenerator, QuizQuestion } from "./quiz-generator.js";
export { ExtractiveQuizGenerator } from "./extractive-quiz.js";
export { LlmQuizError, LlmQuizGenerator } from "./llm-quiz.js";

export function createQuizGenerator(cfg: DocumentsConfig): QuizGenerator {
  if (!cfg.openai) return new ExtractiveQuizGenerator();
  const { baseURL, apiKey, quizModel, maxRetries } = cfg.openai;
  return new LlmQuizGenerator({ ...(baseURL ? { baseURL } : {}), apiKey, model: quizModel, maxRetries });
}
