// The sample ProcessingTasks in examples/ run on the default offline worker: each spec, sent as the
// REST create body (the operator creates tasks through the same TaskQueue), ends as its comment
// says: the four task types succeed on an uploaded book, failing-task.yaml fails at once and sits
// in the dead-letter queue. (On Kubernetes they are proven in test/e2e/processing-task.test.ts.)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { orNotFound } from "../support/client-calls.js";
import { REPO_ROOT } from "../support/cluster.js";
import { clientOf, createTask, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

const BOOK = [
  "# The Delta",
  "The river delta shelters fishermen who live along its shifting banks. The tides decide their working hours, and the moon decides the tides.",
  "The monsoon floods replenish the soil every summer, leaving fertile silt across the rice paddies that feed the coastal villages.",
  "The archivist Magdalena Okonkwo catalogues seventeen brass astrolabes recovered from a sunken merchant ship near the lighthouse.",
  "Caravans cross the salt flats, where traders barter copper for indigo dye and dried apricots before the autumn winds arrive.",
  "The lighthouse keeper records every passing vessel in a leather-bound ledger that the harbour master inspects each winter.",
].join("\n\n");

let stack: Stack;
let bookId: string;

/** The spec of examples/<file>, with the book's id where the sample says ${BOOK_ID}. */
const exampleSpec = (file: string) =>
  (parse(readFileSync(join(REPO_ROOT, "examples", file), "utf8").replaceAll("${BOOK_ID}", bookId)) as { spec: object }).spec;

async function finished(id: string) {
  return waitFor(`task ${id} to finish`, async () => {
    const s = await taskStatus(stack, id);
    return ["succeeded", "failed", "cancelled"].includes(s.status) && s;
  }, 60_000, 100);
}

beforeAll(async () => {
  stack = await startStack({ documents: true, workers: 1 });
  const { books } = await clientOf(stack).books.upload([{ name: "delta.md", data: new TextEncoder().encode(BOOK), contentType: "text/markdown" }]);
  bookId = books[0]!.bookId;
  const processed = await finished(books[0]!.taskId!);
  expect(processed.status).toBe("succeeded");
  await finished(processed.result.embeddingTaskId);
}, 120_000);
afterAll(() => stack?.stop());

describe("examples/", () => {
  it.each([
    ["sync-sources.yaml", { sources: {} }],
    ["process-book.yaml", { bookId: expect.any(String), chunks: expect.any(Number) }],
    ["generate-embeddings.yaml", { bookId: expect.any(String), embedded: expect.any(Number) }],
    ["create-quiz.yaml", { bookId: expect.any(String), questionCount: 5 }],
  ])("%s succeeds on the default worker", async (file, result) => {
    const done = await finished(await createTask(stack, exampleSpec(file)));
    expect(done).toMatchObject({ status: "succeeded", attempts: 1, result });
  });

  it("failing-task.yaml fails once, not retried, and is dead-lettered", async () => {
    const id = await createTask(stack, exampleSpec("failing-task.yaml"));
    const done = await finished(id);
    expect(done).toMatchObject({ status: "failed", attempts: 1, error: { code: "upload_not_found" } });
    await waitFor("its dead letter", () => orNotFound(clientOf(stack).dlq.get(id)), 30_000, 100);
  });
});
