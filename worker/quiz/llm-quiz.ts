// Quiz questions written by an LLM through an OpenAI-compatible chat completions API, with
// structured output (a strict JSON schema). Every reply is validated: a question must pick its
// answer from its own choices and cite one of the excerpts it was shown.
import type OpenAI from "openai";
import { z } from "zod";
import { NonRetryableError } from "../../kernel/errors.js";
import type { Chunk } from "../documents/document.js";
import type { QuizGenerator, QuizQuestion } from "./quiz-generator.js";
import { openAIClient } from "../../library/llm/openai-client.js";
import { withRetries, type CallFailure, type RetryPolicy, type RetryReporting } from "../../library/llm/retry-policy.js";

export interface LlmQuizGeneratorOptions {
  baseURL?: string;
  apiKey: string;
  model: string;
  /** Retries for 429, 5xx and connection failures, each after the server's Retry-After when it sends one. */
  maxRetries: number;
  /** Upper bound on the excerpts put in the prompt, in characters. */
  maxPromptChars?: number;
  /** Longest excerpt taken from one chunk, in characters. */
  maxExcerptChars?: number;
  /** A Retry-After longer than this is not waited out here: the task's own retry takes over. */
  maxRetryAfterMs?: number;
  /** Backoff when the server gives no Retry-After. */
  backoff?: { baseMs: number; maxMs: number };
  requestTimeoutMs?: number;
}

/** A retryable failure of the LLM (unavailable, rate limited for long, or unusable output); the code says which. */
export class LlmQuizError extends Error {
  constructor(
    message: string,
    readonly code: "llm_unavailable" | "llm_invalid_output",
  ) {
    super(message);
    this.name = "LlmQuizError";
  }
}

const ReplyItem = z.object({
  question: z.string().trim().min(1),
  choices: z.array(z.string().trim().min(1)).min(2).max(6),
  answer: z.string().trim().min(1),
  sourceChunkId: z.string().trim(),
  explanation: z.string().trim().optional(),
});

const REPLY_SCHEMA = (chunkIds: string[]) => ({
  type: "object",
  additionalProperties: false,
  required: ["questions"],
  properties: {
    questions: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["question", "choices", "answer", "sourceChunkId", "explanation"],
        properties: {
          question: { type: "string" },
          choices: { type: "array", items: { type: "string" } },
          answer: { type: "string", description: "The correct choice, copied exactly from choices." },
          sourceChunkId: { type: "string", enum: chunkIds, description: "The id of the excerpt the question is drawn from." },
          explanation: { type: "string" },
        },
      },
    },
  },
});

const SYSTEM_PROMPT =
  "You write multiple-choice quiz questions that test understanding of a book. Use only facts stated in the excerpts you are given. " +
  "Each question has 4 distinct choices, exactly one of them correct; `answer` is that choice copied exactly. " +
  "Cite the excerpt each question comes from by its chunk id. Spread the questions over the excerpts and do not repeat a fact.";

export class LlmQuizGenerator implements QuizGenerator {
  readonly name: string;
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly retry: RetryPolicy;
  private readonly maxPromptChars: number;
  private readonly maxExcerptChars: number;

  constructor(options: LlmQuizGeneratorOptions) {
    this.client = openAIClient({ apiKey: options.apiKey, ...(options.baseURL ? { baseURL: options.baseURL } : {}), timeoutMs: options.requestTimeoutMs ?? 120_000 });
    this.model = options.model;
    this.name = `llm:${options.model}`;
    this.retry = {
      maxRetries: options.maxRetries,
      backoff: options.backoff ?? { baseMs: 1_000, maxMs: 30_000 },
      maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
    };
    this.maxPromptChars = options.maxPromptChars ?? 24_000;
    this.maxExcerptChars = options.maxExcerptChars ?? 2_000;
  }

  async generate(input: { bookId: string; chunks: Chunk[]; questionCount: number }, signal?: AbortSignal): Promise<QuizQuestion[]> {
    const wanted = Math.max(0, Math.floor(input.questionCount));
    if (wanted === 0) return [];
    const excerpts = this.pickExcerpts(input.chunks);
    if (excerpts.length === 0) throw new NonRetryableError(`book ${input.bookId} has no text to write a quiz from`, "not_enough_text");
    const byId = new Map(excerpts.map((c) => [c.chunkId, c]));
    const enough = Math.ceil(wanted / 2);

    const valid: QuizQuestion[] = [];
    let lastProblem = "";
    for (let attempt = 1; attempt <= 2; attempt++) {
      const reply = await this.request(excerpts, wanted - valid.length, signal);
      const { questions, problem } = validateReply(reply, byId);
      for (const q of questions) {
        if (valid.length < wanted && !valid.some((v) => sameText(v.question, q.question))) valid.push(q);
      }
      lastProblem = problem;
      if (valid.length >= enough) return valid;
    }
    throw new LlmQuizError(
      `the model ${this.model} gave ${valid.length} usable question(s) of ${wanted} asked for, twice${lastProblem ? ` (${lastProblem})` : ""}`,
      "llm_invalid_output",
    );
  }

  /** Excerpts spread evenly over the book, as many as fit in the prompt budget. */
  private pickExcerpts(chunks: Chunk[]): Chunk[] {
    const usable = [...chunks].filter((c) => c.text.trim().length > 0).sort((a, b) => a.index - b.index);
    if (usable.length === 0) return [];
    const typical = averageLength(usable.map((c) => Math.min(c.text.length, this.maxExcerptChars)));
    const count = Math.min(usable.length, Math.max(1, Math.floor(this.maxPromptChars / typical)));
    const picked: Chunk[] = [];
    let budget = this.maxPromptChars;
    for (let k = 0; k < count && budget > 0; k++) {
      const chunk = usable[Math.floor((k * usable.length) / count)]!;
      const text = chunk.text.trim().slice(0, Math.min(this.maxExcerptChars, budget));
      picked.push({ ...chunk, text });
      budget -= text.length;
    }
    return picked;
  }

  private prompt(excerpts: Chunk[], count: number): string {
    const body = excerpts.map((c, i) => `Excerpt ${i + 1} (chunk id ${c.chunkId}, page ${c.page}):\n${c.text}`).join("\n\n");
    return `Write ${count} quiz question(s) from these excerpts. For each, give the chunk id of the excerpt it is drawn from.\n\n${body}`;
  }

  /** One chat completion, retried on 429, 5xx and connection failures; its JSON content, parsed (or undefined). */
  private async request(excerpts: Chunk[], count: number, signal?: AbortSignal): Promise<unknown> {
    const completion = await withRetries(
      () =>
        this.client.chat.completions.create(
          {
            model: this.model,
            messages: [
              { role: "system", content: SYSTEM_PROMPT },
              { role: "user", content: this.prompt(excerpts, count) },
            ],
            response_format: {
              type: "json_schema",
              json_schema: { name: "quiz", strict: true, schema: REPLY_SCHEMA(excerpts.map((c) => c.chunkId)) },
            },
          },
          signal ? { signal } : {},
        ),
      this.retry,
      QUIZ_RETRY_REPORTING,
      signal,
    );
    const content = completion.choices[0]?.message?.content;
    if (!content) return undefined;
    try {
      return JSON.parse(content);
    } catch {
      return undefined;
    }
  }
}

const what = (f: CallFailure) => (f.status ? `answered ${f.status}` : `could not be reached (${(f.error as Error).message})`);

/** The quiz generator's errors for the retry policy's verdicts. */
const QUIZ_RETRY_REPORTING: RetryReporting = {
  rejected: (f) => new NonRetryableError(`the LLM API rejected the quiz request with ${f.status}: ${(f.error as Error).message}`, "llm_request_rejected"),
  exhausted: (f, attempts) => new LlmQuizError(`the LLM API ${what(f)}, after ${attempts} attempt(s)`, "llm_unavailable"),
  waitTooLong: (f, waitMs) => new LlmQuizError(`the LLM API ${what(f)} and asked to retry after ${Math.ceil(waitMs / 1000)} s`, "llm_unavailable"),
};

/** Keeps the items that are well formed, answer from their own choices and cite a chunk they were shown. */
function validateReply(reply: unknown, byId: Map<string, Chunk>): { questions: QuizQuestion[]; problem: string } {
  const items = (reply as { questions?: unknown })?.questions;
  if (!Array.isArray(items)) return { questions: [], problem: "the reply was not a JSON object with a questions array" };
  const questions: QuizQuestion[] = [];
  const problems = new Set<string>();
  for (const item of items) {
    const parsed = ReplyItem.safeParse(item);
    if (!parsed.success) {
      problems.add("malformed item");
      continue;
    }
    const { question, choices, answer, sourceChunkId, explanation } = parsed.data;
    const chunk = byId.get(sourceChunkId);
    if (!chunk) {
      problems.add("unknown sourceChunkId");
      continue;
    }
    if (new Set(choices.map((c) => c.toLowerCase())).size !== choices.length) {
      problems.add("repeated choices");
      continue;
    }
    const answerIndex = choices.findIndex((c) => sameText(c, answer));
    if (answerIndex < 0) {
      problems.add("answer not among choices");
      continue;
    }
    questions.push({
      kind: "multiple_choice",
      question,
      choices,
      answer: choices[answerIndex]!,
      answerIndex,
      sourceChunkId,
      page: chunk.page,
      ...(explanation ? { explanation } : {}),
    });
  }
  return { questions, problem: [...problems].join(", ") };
}

function sameText(a: string, b: string): boolean {
  return a.trim().replace(/\s+/g, " ").toLowerCase() === b.trim().replace(/\s+/g, " ").toLowerCase();
}

function averageLength(lengths: number[]): number {
  return Math.max(1, Math.round(lengths.reduce((n, l) => n + l, 0) / lengths.length));
}
