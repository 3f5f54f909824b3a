import { describe, expect, it } from "vitest";
import type { DocumentsConfig } from "../../library/config.js";
import { createEmbedder } from "../../library/embeddings/index.js";
import { LexicalEmbedder, lexicalTokens } from "../../library/embeddings/lexical-embedder.js";
import { OpenAIEmbedder } from "../../library/embeddings/openai-embedder.js";
import { retryAfterMs } from "../../library/llm/retry-after.js";

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (v: Float32Array) => Math.sqrt(cosine(v, v));

const documents = (over: Partial<DocumentsConfig> = {}): DocumentsConfig => ({
  vectorDir: "/tmp/unused",
  chunkSize: 1200,
  chunkOverlap: 200,
  embedBatch: 64,
  lexicalDimensions: 256,
  sources: { allowPrivateAddresses: false, allowedHosts: [], directoryRoot: "", maxBytes: 1, timeoutMs: 1 },
  syncSchedulerMs: 1000,
  ...over,
});

describe("lexical embedder", () => {
  const embedder = new LexicalEmbedder({ dimensions: 512 });
  const one = async (text: string) => (await embedder.embed([text]))[0]!;

  it("is named as lexical, with its size", () => {
    expect(embedder.name).toBe("lexical-hash-v1-512");
    expect(embedder.dimensions).toBe(512);
  });

  it("gives the same vector for the same text, across instances and calls", async () => {
    const text = "Retrieval-augmented generation grounds answers in the book's own chunks.";
    const [a, b] = await embedder.embed([text, text]);
    const c = await new LexicalEmbedder({ dimensions: 512 }).embed([text]);
    expect(Array.from(a!)).toEqual(Array.from(b!));
    expect(Array.from(a!)).toEqual(Array.from(c[0]!));
  });

  it("keeps producing the vectors it produced when v1 was released (bump the name if this changes)", async () => {
    const v = await new LexicalEmbedder({ dimensions: 16 }).embed(["The quick brown fox jumps over the lazy dog"]);
    expect(Array.from(v[0]!, (x) => Math.round(x * 1e4) / 1e4 + 0)).toEqual(GOLDEN_16); // + 0 turns -0 into 0
  });

  it("returns unit vectors of the configured size, one per text, in order", async () => {
    const texts = ["alpha beta gamma", "delta epsilon", "zeta eta theta iota"];
    const vs = await new LexicalEmbedder({ dimensions: 64 }).embed(texts);
    expect(vs).toHaveLength(3);
    for (const v of vs) {
      expect(v).toHaveLength(64);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
    expect(Array.from(vs[1]!)).toEqual(Array.from((await new LexicalEmbedder({ dimensions: 64 }).embed(["delta epsilon"]))[0]!));
  });

  it("scores texts that share words above texts that do not", async () => {
    const query = await one("how do plants turn light into chemical energy");
    const related = await one("Photosynthesis: plants capture light and store it as chemical energy in glucose.");
    const unrelated = await one("The French Revolution began in 1789 with the storming of the Bastille.");
    expect(cosine(query, related)).toBeGreaterThan(0.2);
    expect(cosine(query, related)).toBeGreaterThan(cosine(query, unrelated) + 0.15);
  });

  it("matches inflected forms through character trigrams", async () => {
    const a = await one("embedding");
    const b = await one("embeddings");
    const c = await one("volcano");
    expect(cosine(a, b)).toBeGreaterThan(0.3);
    expect(cosine(a, b)).toBeGreaterThan(cosine(a, c) + 0.3);
  });

  it("ignores case, punctuation and common stop words", async () => {
    const a = await one("The Mitochondria, the POWERHOUSE of the cell!");
    const b = await one("mitochondria powerhouse cell");
    expect(cosine(a, b)).toBeGreaterThan(0.6);
    expect(lexicalTokens("The cat and the hat")).toEqual(["cat", "hat"]);
  });

  it("tokenises letters and digits of any script", () => {
    expect(lexicalTokens("Größe: 42 Ärzte, naïve café; 東京 Ελλάδα")).toEqual(["größe", "42", "ärzte", "naïve", "café", "東京", "ελλάδα"]);
  });

  it("embeds empty, blank and stop-word-only text as the zero vector, never NaN", async () => {
    const vs = await embedder.embed(["", "   \n\t", "the and of", "!!! ???"]);
    for (const v of vs) {
      expect(v).toHaveLength(512);
      expect(v.every((x) => x === 0)).toBe(true);
    }
    expect(cosine(vs[0]!, await one("anything at all"))).toBe(0);
  });

  it("stops when its signal is aborted", async () => {
    const ac = new AbortController();
    ac.abort(new Error("stop"));
    await expect(embedder.embed(["a text"], ac.signal)).rejects.toThrow("stop");
  });
});

describe("choosing an embedder", () => {
  it("uses the lexical embedder when no OpenAI-compatible API is configured", () => {
    const e = createEmbedder(documents());
    expect(e).toBeInstanceOf(LexicalEmbedder);
    expect(e.name).toBe("lexical-hash-v1-256");
  });

  it("uses the OpenAI-compatible API when one is configured", () => {
    const e = createEmbedder(
      documents({ openai: { baseURL: "http://127.0.0.1:9/v1", apiKey: "k", embeddingModel: "text-embedding-3-small", embeddingDimensions: 256, quizModel: "m", maxRetries: 2 } }),
    );
    expect(e).toBeInstanceOf(OpenAIEmbedder);
    expect(e.name).toBe("openai:text-embedding-3-small:256");
    expect(e.dimensions).toBe(256);
  });

  it("knows OpenAI's own models' sizes, and asks for a probe for other models", () => {
    expect(new OpenAIEmbedder({ apiKey: "k", model: "text-embedding-3-large" }).dimensions).toBe(3072);
    const unknown = new OpenAIEmbedder({ apiKey: "k", model: "nomic-embed-text" });
    expect(() => unknown.dimensions).toThrow(/not known yet.*JETQ_EMBEDDING_DIMENSIONS.*init\(\)/);
    expect(unknown.name).toBe("openai:nomic-embed-text");
  });
});

describe("Retry-After", () => {
  const h = (entries: Record<string, string>) => new Headers(entries);
  it("reads seconds, HTTP dates and retry-after-ms", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(retryAfterMs(h({ "retry-after": "2" }), now)).toBe(2000);
    expect(retryAfterMs(h({ "retry-after": "0.5" }), now)).toBe(500);
    expect(retryAfterMs(h({ "retry-after": "Wed, 01 Jan 2025 00:00:03 GMT" }), now)).toBe(3000);
    expect(retryAfterMs(h({ "retry-after-ms": "150", "retry-after": "9" }), now)).toBe(150);
    expect(retryAfterMs(h({ "retry-after": "soon" }), now)).toBeUndefined();
    expect(retryAfterMs(h({}), now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

const GOLDEN_16 = [0.0626, 0.0834, 0, 0, -0.5631, -0.1251, -0.3963, 0.2086, 0, 0.2711, -0.1251, 0.5423, 0.0626, -0.146, -0.2086, -0.0626];
