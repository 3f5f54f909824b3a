// The OpenAI-compatible embedder against a local stand-in of the API (test/support/fake-openai.ts):
// batching, order, dimensions, and what it does when the API pushes back.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LexicalEmbedder } from "../../library/embeddings/lexical-embedder.js";
import { EmbeddingServiceError, OpenAIEmbedder, type OpenAIEmbedderOptions } from "../../library/embeddings/openai-embedder.js";
import { NonRetryableError } from "../../kernel/errors.js";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";

let api: FakeOpenAI;
beforeAll(async () => {
  api = await startFakeOpenAI({ defaultDimensions: 48, vectorScale: 3 });
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => {
  api.reset();
});

const embedder = (over: Partial<OpenAIEmbedderOptions> = {}) =>
  new OpenAIEmbedder({ baseURL: api.baseURL, apiKey: "test-key", model: "text-embedding-3-small", dimensions: 32, batchSize: 4, maxRetries: 3, backoff: { baseMs: 20, maxMs: 100 }, ...over });
const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const embeddingRequests = () => api.requests.filter((r) => r.path === "/v1/embeddings");

describe("OpenAI-compatible embedder", () => {
  it("sends ceil(N / batch) requests and returns one unit vector per text, in order", async () => {
    const texts = Array.from({ length: 10 }, (_, i) => `chunk number ${i} about topic ${i * 7}`);
    const vectors = await embedder().embed(texts);

    expect(embeddingRequests().map((r) => r.body.input.length)).toEqual([4, 4, 2]);
    expect(vectors).toHaveLength(10);
    // The fake derives each vector from its text (scaled by 3): the client re-normalises and keeps order.
    const expected = await new LexicalEmbedder({ dimensions: 32 }).embed(texts);
    vectors.forEach((v, i) => {
      expect(norm(v)).toBeCloseTo(1, 5);
      v.forEach((x, j) => expect(x).toBeCloseTo(expected[i]![j]!, 6));
    });
  });

  it("asks for the configured dimensions and names itself after model and size", async () => {
    const e = embedder({ dimensions: 24 });
    const [v] = await e.embed(["a single text"]);
    expect(embeddingRequests()[0]!.body).toMatchObject({ model: "text-embedding-3-small", dimensions: 24, encoding_format: "float" });
    expect(embeddingRequests()[0]!.headers.authorization).toBe("Bearer test-key");
    expect(v).toHaveLength(24);
    expect(e.dimensions).toBe(24);
    expect(e.name).toBe("openai:text-embedding-3-small:24");
  });

  it("learns the size of an unknown model from its first answer, or from init()", async () => {
    const e = embedder({ model: "nomic-embed-text", dimensions: undefined });
    expect(() => e.dimensions).toThrow(/not known yet/);
    expect(e.name).toBe("openai:nomic-embed-text");
    await e.init();
    expect(e.dimensions).toBe(48);
    expect(e.name).toBe("openai:nomic-embed-text"); // the same before and after: names are compared across processes
    expect(embeddingRequests()[0]!.body).not.toHaveProperty("dimensions");
    await e.init(); // known now: no second probe
    expect(embeddingRequests()).toHaveLength(1);
  });

  it("embeds blank texts as zero vectors without sending them", async () => {
    const vectors = await embedder().embed(["real text", "", "  ", "more text"]);
    expect(embeddingRequests()).toHaveLength(1);
    expect(embeddingRequests()[0]!.body.input).toEqual(["real text", "more text"]);
    expect(vectors.map((v) => norm(v) > 0.99)).toEqual([true, false, false, true]);
  });

  it("waits as long as a 429's Retry-After says, then succeeds", async () => {
    api.failNext(1, { status: 429, retryAfter: "1" });
    const retries: number[] = [];
    const vectors = await embedder({ onRetry: (i) => retries.push(i.delayMs) }).embed(["rate limited text"]);
    const [first, second] = embeddingRequests();
    expect(first!.status).toBe(429);
    expect(second!.status).toBe(200);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
    expect(retries).toEqual([1000]);
    expect(vectors[0]).toHaveLength(32);
  });

  it("honours retry-after-ms too", async () => {
    api.failNext(1, { status: 429, retryAfterMs: "300" });
    await embedder().embed(["text"]);
    const [first, second] = embeddingRequests();
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(280);
  });

  it("retries server errors with backoff", async () => {
    api.failNext(2, { status: 500 });
    const vectors = await embedder().embed(["server trouble"]);
    expect(embeddingRequests().map((r) => r.status)).toEqual([500, 500, 200]);
    expect(vectors).toHaveLength(1);
  });

  it("gives up after maxRetries with a retryable error", async () => {
    api.failNext(3, { status: 503 });
    const err = await embedder({ maxRetries: 2 }).embed(["down"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmbeddingServiceError);
    expect(err).not.toBeInstanceOf(NonRetryableError);
    expect((err as EmbeddingServiceError).code).toBe("embedding_unavailable");
    expect(embeddingRequests()).toHaveLength(3);
  });

  it("does not sit out a Retry-After longer than it may wait: the task runtime retries later", async () => {
    api.failNext(1, { status: 429, retryAfter: "30" });
    const started = Date.now();
    const err = await embedder({ maxRetryAfterMs: 5_000 }).embed(["busy"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmbeddingServiceError);
    expect((err as Error).message).toMatch(/retry after 30 s/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("fails at once, non-retryable, with the API's message on other 4xx", async () => {
    api.failNext(1, { status: 400, message: "This model's maximum context length is 8192 tokens" });
    const err = await embedder().embed(["too long"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableError);
    expect((err as NonRetryableError).code).toBe("embedding_request_rejected");
    expect((err as Error).message).toContain("maximum context length is 8192 tokens");
    expect(embeddingRequests()).toHaveLength(1);
  });

  it("treats an exhausted quota as non-retryable even though it is a 429", async () => {
    api.failNext(1, { status: 429, code: "insufficient_quota", message: "You exceeded your current quota" });
    const err = await embedder().embed(["no money"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableError);
    expect(embeddingRequests()).toHaveLength(1);
  });

  it("stops retrying when its signal is aborted", async () => {
    api.failNext(5, { status: 429, retryAfter: "10" });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("soft time limit")), 200);
    const started = Date.now();
    await expect(embedder().embed(["slow"], ac.signal)).rejects.toThrow("soft time limit");
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(embeddingRequests()).toHaveLength(1);
  });
});

describe("fake OpenAI API", () => {
  it("serves scripted chat completions and the SDK's default base64 embeddings", async () => {
    const { default: OpenAI } = await import("openai");
    const fake = await startFakeOpenAI({ chat: (body) => JSON.stringify({ echo: body.messages.at(-1).content }) });
    try {
      const client = new OpenAI({ baseURL: fake.baseURL, apiKey: "k", maxRetries: 0 });
      const chat = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }] });
      expect(JSON.parse(chat.choices[0]!.message.content!)).toEqual({ echo: "hello" });
      const emb = await client.embeddings.create({ model: "text-embedding-3-small", input: ["one", "two"], dimensions: 8 });
      expect(emb.data.map((d) => d.embedding.length)).toEqual([8, 8]);
      expect(fake.requests.map((r) => [r.path, r.status])).toEqual([
        ["/v1/chat/completions", 200],
        ["/v1/embeddings", 200],
      ]);
    } finally {
      await fake.close();
    }
  });
});
