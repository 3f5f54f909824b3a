// The pipeline with an OpenAI-compatible API configured: embeddings and quizzes go through it.
// The API is a stand-in server started by the test (the real one is external and paid); it
// answers one embeddings call with 429 + Retry-After, which the embedder must ride out.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientOf, createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let openai: FakeOpenAI;

beforeAll(async () => {
  openai = await startFakeOpenAI({
    defaultDimensions: 256,
    // A structured-output reply built from the chunks the prompt shows: the model's job, scripted.
    chat: (body) => {
      const prompt = JSON.stringify(body.messages);
      const id = /c0000\d\d/.exec(prompt)?.[0] ?? "c000000";
      return JSON.stringify({
        questions: [
          { kind: "multiple_choice", question: "What do the keepers tend?", choices: ["lighthouses", "orchards", "ferries", "mills"], answer: "lighthouses", sourceChunkId: id, explanation: "stated in the text" },
        ],
      });
    },
  });
  stack = await startStack({
    documents: true,
    workers: 1,
    env: { OPENAI_BASE_URL: openai.baseURL, OPENAI_API_KEY: "test-key", JETQ_EMBEDDING_MODEL: "test-embedder", JETQ_EMBEDDING_DIMENSIONS: "256", JETQ_QUIZ_MODEL: "test-chat" },
  });
});
afterAll(async () => {
  await stack?.stop();
  await openai?.close();
});

const finished = (id: string) =>
  waitFor(`task ${id}`, async () => {
    const s = await taskStatus(stack, id);
    return ["succeeded", "failed"].includes(s.status) && s;
  }, 60_000);

describe("with an OpenAI-compatible API", () => {
  it("embeds through the API, riding out a 429 with Retry-After, and searches with it", async () => {
    openai.failNext(1, { status: 429, retryAfter: "1" }); // the first embeddings call is rate-limited
    const up = await clientOf(stack).books.upload([{ name: "coast.txt", data: "The keepers tend lighthouses along the rocky northern coast and log every ship.", contentType: "text/plain" }]);
    const processed = await finished(up.books[0]!.taskId!);
    expect(processed.status).toBe("succeeded");

    const embedded = await finished(processed.result.embeddingTaskId);
    expect(embedded.status).toBe("succeeded");
    expect(embedded.result.embedder).toContain("test-embedder");

    const calls = openai.requests.filter((r) => r.path.endsWith("/embeddings"));
    const limited = calls.findIndex((r) => r.status === 429);
    expect(limited).toBeGreaterThanOrEqual(0);
    expect(calls[limited + 1]!.at - calls[limited]!.at).toBeGreaterThanOrEqual(900); // waited as told
    expect(calls[limited + 1]!.body).toMatchObject({ model: "test-embedder", dimensions: 256 });

    const [hit] = (await clientOf(stack).search("lighthouses coast", { k: 1 })).results;
    expect(hit).toMatchObject({ bookId: up.books[0]!.bookId });
  });

  it("writes a quiz with the LLM using structured output, validated before it is stored", async () => {
    const bookId = (await clientOf(stack).books.list()).items[0]!.bookId;
    const done = await finished(await createTask(stack, { type: "create_quiz", payload: { bookId, questionCount: 1 } }));
    expect(done.status).toBe("succeeded");
    expect(done.result.generator).toContain("test-chat");
    expect(done.result.questions[0]).toMatchObject({ answer: "lighthouses", choices: expect.arrayContaining(["lighthouses"]) });
    const chat = openai.requests.find((r) => r.path.endsWith("/chat/completions"))!;
    expect(chat.body.response_format.type).toBe("json_schema");
  });
});
