// The LLM quiz generator against a small OpenAI-compatible chat server of this file's own: what a
// good structured reply becomes, what is thrown away, and how rate limits and rejections end.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NonRetryableError } from "../../kernel/errors.js";
import type { Chunk } from "../../worker/documents/document.js";
import { LlmQuizError, LlmQuizGenerator } from "../../worker/quiz/llm-quiz.js";

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

/** Answers each chat completion with the next queued reply, and remembers what it was asked. */
class FakeChatServer {
  readonly requests: Array<{ at: number; body: any }> = [];
  private replies: Reply[] = [];
  private server = http.createServer((req, res) => this.handle(req, res));
  url = "";

  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }
  stop() {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
  reset(...replies: Reply[]) {
    this.requests.length = 0;
    this.replies = replies;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse) {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        res.writeHead(404).end();
        return;
      }
      this.requests.push({ at: Date.now(), body: JSON.parse(raw) });
      const reply = this.replies.shift() ?? { status: 500, body: { error: { message: "no reply queued" } } };
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      res.end(JSON.stringify(reply.body));
    });
  }
}

const completion = (content: unknown): Reply => ({
  status: 200,
  body: {
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 0,
    model: "test-model",
    choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: typeof content === "string" ? content : JSON.stringify(content) } }],
  },
});

const chunks: Chunk[] = [
  { chunkId: "c000001", index: 0, page: 1, text: "Marie Curie won the Nobel Prize in Physics in 1903 and in Chemistry in 1911." },
  { chunkId: "c000002", index: 1, page: 4, text: "Isaac Newton published the Principia Mathematica in 1687." },
];

const good = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    question: `Question ${i + 1}: in which year did Marie Curie win her first Nobel Prize?`,
    choices: ["1899", "1903", "1911", "1921"],
    answer: "1903",
    sourceChunkId: i % 2 === 0 ? "c000001" : "c000002",
    explanation: "Stated in the excerpt.",
  }));

describe("LLM quiz generator", () => {
  const server = new FakeChatServer();
  let generator: LlmQuizGenerator;

  beforeAll(() => server.start());
  afterAll(() => server.stop());
  beforeEach(() => {
    generator = new LlmQuizGenerator({ baseURL: server.url, apiKey: "test-key", model: "test-model", maxRetries: 2, backoff: { baseMs: 10, maxMs: 50 } });
  });

  it("turns a structured reply into questions that cite their chunk", async () => {
    server.reset(completion({ questions: good(3) }));
    const quiz = await generator.generate({ bookId: "b1", chunks, questionCount: 3 });

    expect(quiz).toHaveLength(3);
    expect(quiz[0]).toMatchObject({ kind: "multiple_choice", answer: "1903", answerIndex: 1, sourceChunkId: "c000001", page: 1 });
    expect(quiz[1]).toMatchObject({ sourceChunkId: "c000002", page: 4 });

    const request = server.requests[0]!.body;
    expect(request.model).toBe("test-model");
    expect(request.response_format).toMatchObject({ type: "json_schema", json_schema: { name: "quiz", strict: true } });
    expect(request.response_format.json_schema.schema.properties.questions.items.properties.sourceChunkId.enum).toEqual(["c000001", "c000002"]);
    const prompt = request.messages.map((m: { content: string }) => m.content).join("\n");
    expect(prompt).toContain("c000001");
    expect(prompt).toContain("Isaac Newton published");
  });

  it("drops items whose answer is not a choice or whose chunk was never shown", async () => {
    const items = good(4);
    items[1] = { ...items[1]!, answer: "1905" };
    items[2] = { ...items[2]!, sourceChunkId: "c999999" };
    server.reset(completion({ questions: items }));
    const quiz = await generator.generate({ bookId: "b1", chunks, questionCount: 4 });
    expect(quiz.map((q) => q.question)).toEqual([items[0]!.question, items[3]!.question]);
    expect(server.requests).toHaveLength(1);
  });

  it("asks again once when fewer than half the questions are usable, then gives up with a retryable error", async () => {
    server.reset(completion("not json at all"), completion({ questions: good(2) }));
    const quiz = await generator.generate({ bookId: "b1", chunks, questionCount: 4 });
    expect(quiz).toHaveLength(2);
    expect(server.requests).toHaveLength(2);

    server.reset(completion({ questions: [] }), completion({ questions: [{ question: "?", choices: ["a"], answer: "b", sourceChunkId: "c000001", explanation: "" }] }));
    const err = await generator.generate({ bookId: "b1", chunks, questionCount: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmQuizError);
    expect(err).not.toBeInstanceOf(NonRetryableError);
    expect((err as LlmQuizError).code).toBe("llm_invalid_output");
    expect((err as Error).message).toMatch(/0 usable question/);
    expect(server.requests).toHaveLength(2);
  });

  it("waits out a 429's Retry-After and tries again", async () => {
    server.reset({ status: 429, headers: { "retry-after": "1" }, body: { error: { message: "slow down", type: "rate_limit" } } }, completion({ questions: good(2) }));
    const quiz = await generator.generate({ bookId: "b1", chunks, questionCount: 2 });
    expect(quiz).toHaveLength(2);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it("retries a 5xx and reports the API unavailable once retries run out", async () => {
    server.reset({ status: 503, body: { error: { message: "overloaded" } } }, completion({ questions: good(1) }));
    expect(await generator.generate({ bookId: "b1", chunks, questionCount: 1 })).toHaveLength(1);

    server.reset(...Array.from({ length: 3 }, () => ({ status: 502, body: { error: { message: "bad gateway" } } })));
    const err = await generator.generate({ bookId: "b1", chunks, questionCount: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmQuizError);
    expect((err as LlmQuizError).code).toBe("llm_unavailable");
    expect(server.requests).toHaveLength(3);
  });

  it("does not retry a 400: the request itself is wrong", async () => {
    server.reset({ status: 400, body: { error: { message: "response_format json_schema is not supported", type: "invalid_request_error" } } });
    const err = await generator.generate({ bookId: "b1", chunks, questionCount: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableError);
    expect((err as NonRetryableError).code).toBe("llm_request_rejected");
    expect((err as Error).message).toContain("400");
    expect(server.requests).toHaveLength(1);
  });
});
