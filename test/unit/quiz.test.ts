// The extractive quiz generator: questions a reader can check against the book, the same every time.
import { describe, expect, it } from "vitest";
import { NonRetryableError } from "../../kernel/errors.js";
import type { Chunk } from "../../worker/documents/document.js";
import { ExtractiveQuizGenerator } from "../../worker/quiz/extractive-quiz.js";
import { createQuizGenerator } from "../../worker/quiz/index.js";
import { LlmQuizGenerator } from "../../worker/quiz/llm-quiz.js";

const pages = [
  "The Roman Republic was founded in 509 BC after the last king was expelled from the city. " +
    "Its government balanced two consuls, a powerful senate and several popular assemblies. " +
    "Julius Caesar crossed the Rubicon in 49 BC with a single legion and started a civil war.",
  "Marie Curie was the first person to win two Nobel Prizes in different sciences. " +
    "She shared the physics prize in 1903 with Pierre Curie and Henri Becquerel for work on radioactivity. " +
    "Her later discovery of polonium was named after her native country, Poland.",
  "The Great Barrier Reef stretches for more than 2,300 kilometres along the coast of Queensland. " +
    "Rising ocean temperatures cause widespread bleaching of the delicate coral colonies. " +
    "Scientists estimate that about 30% of the shallow reef died during the heatwave of 2016.",
  "Isaac Newton published the Principia Mathematica in 1687 and described universal gravitation. " +
    "His three laws of motion remained the foundation of classical mechanics for centuries. " +
    "Newton also built the first practical reflecting telescope while working at Cambridge University.",
  "Ada Lovelace wrote what many historians consider the first computer program in 1843. " +
    "She translated an article by Luigi Menabrea about the Analytical Engine designed by Charles Babbage. " +
    "Her extensive notes described how the engine could compute Bernoulli numbers step by step.",
];

const chunks: Chunk[] = pages.map((text, i) => ({ chunkId: `c${String(i + 1).padStart(6, "0")}`, index: i, page: i + 1, text }));
const chunkById = new Map(chunks.map((c) => [c.chunkId, c]));

describe("extractive quiz generator", () => {
  const generator = new ExtractiveQuizGenerator();

  it("writes the questions asked for, each answerable from the chunk it cites", async () => {
    const quiz = await generator.generate({ bookId: "b1", chunks, questionCount: 6 });
    expect(quiz).toHaveLength(6);
    for (const q of quiz) {
      const source = chunkById.get(q.sourceChunkId)!;
      expect(source).toBeDefined();
      expect(q.page).toBe(source.page);
      expect(source.text).toContain(q.answer);
      expect(q.question).toContain("_____");
      expect(q.question).not.toContain(q.answer);
      expect(q.choices).toContain(q.answer);
      expect(q.choices[q.answerIndex]).toBe(q.answer);
      expect(new Set(q.choices.map((c) => c.toLowerCase())).size).toBe(q.choices.length);
    }
  });

  it("mixes multiple choice with cloze, and offers distractors of the answer's kind", async () => {
    const quiz = await generator.generate({ bookId: "b1", chunks, questionCount: 6 });
    const multipleChoice = quiz.filter((q) => q.kind === "multiple_choice");
    expect(multipleChoice.length).toBeGreaterThan(0);
    expect(quiz.some((q) => q.kind === "cloze")).toBe(true);
    for (const q of multipleChoice) {
      expect(q.choices).toHaveLength(4);
      const isNumber = (s: string) => /^[\d,.%]+$/.test(s);
      const isName = (s: string) => /^\p{Lu}/u.test(s);
      for (const choice of q.choices) {
        if (isNumber(q.answer)) expect(isNumber(choice)).toBe(true);
        else if (isName(q.answer)) expect(isName(choice)).toBe(true);
      }
    }
  });

  it("spreads questions over the book and never asks twice about one sentence", async () => {
    const quiz = await generator.generate({ bookId: "b1", chunks, questionCount: 5 });
    expect(new Set(quiz.map((q) => q.page)).size).toBe(5);
    const sentences = quiz.map((q) => q.explanation);
    expect(new Set(sentences).size).toBe(sentences.length);
  });

  it("gives the same quiz for the same book", async () => {
    const first = await generator.generate({ bookId: "b1", chunks, questionCount: 8 });
    const second = await new ExtractiveQuizGenerator().generate({ bookId: "b1", chunks: [...chunks].reverse(), questionCount: 8 });
    expect(second).toEqual(first);
  });

  it("asks about an overlapping sentence once even when two chunks share it", async () => {
    const shared = "Charles Darwin sailed aboard HMS Beagle on a voyage that lasted almost five years.";
    const overlapping: Chunk[] = [
      { chunkId: "c000001", index: 0, page: 1, text: `The ship left Plymouth harbour in December. ${shared}` },
      { chunkId: "c000002", index: 1, page: 1, text: `${shared} He collected finches on the remote Galapagos Islands in 1835.` },
    ];
    const quiz = await generator.generate({ bookId: "b2", chunks: overlapping, questionCount: 5 });
    const onShared = quiz.filter((q) => q.explanation?.includes("HMS Beagle"));
    expect(onShared.length).toBeLessThanOrEqual(1);
    expect(quiz.length).toBeGreaterThan(0);
  });

  it("refuses a book with too little text for a single question", async () => {
    const tiny: Chunk[] = [{ chunkId: "c000001", index: 0, page: 1, text: "Hello there. Short lines only." }];
    const err = await generator.generate({ bookId: "tiny", chunks: tiny, questionCount: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableError);
    expect((err as NonRetryableError).code).toBe("not_enough_text");
    await expect(generator.generate({ bookId: "empty", chunks: [], questionCount: 3 })).rejects.toMatchObject({ code: "not_enough_text" });
  });

  it("returns fewer questions when the book has fewer good sentences than asked for", async () => {
    const quiz = await generator.generate({ bookId: "b1", chunks: chunks.slice(0, 1), questionCount: 20 });
    expect(quiz.length).toBeGreaterThan(0);
    expect(quiz.length).toBeLessThanOrEqual(3);
  });
});

describe("quiz generator choice", () => {
  const base = {
    vectorDir: "/tmp/v",
    chunkSize: 1200,
    chunkOverlap: 200,
    embedBatch: 64,
    lexicalDimensions: 512,
    sources: { allowPrivateAddresses: false, allowedHosts: [], directoryRoot: "", maxBytes: 1, timeoutMs: 100 },
    syncSchedulerMs: 30_000,
  };

  it("uses the extractive generator without an LLM and the LLM when one is configured", () => {
    expect(createQuizGenerator(base).name).toBe("extractive-v1");
    const llm = createQuizGenerator({
      ...base,
      openai: { apiKey: "k", embeddingModel: "e", quizModel: "gpt-4o-mini", maxRetries: 2 },
    });
    expect(llm).toBeInstanceOf(LlmQuizGenerator);
  });
});
