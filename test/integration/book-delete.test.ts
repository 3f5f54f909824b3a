// Deleting a book while its process_book runs: the book stays deleted, whatever the processing
// does next (here it is cancelled, which used to write the book back as `cancelled`).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nestedXObjectPdf } from "../../kit/document-fixtures.js";
import { startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

describe("a book deleted while it is processed", () => {
  let stack: Stack;
  beforeAll(async () => {
    // A PDF whose one page takes hours to read keeps process_book running as long as we like.
    stack = await startStack({ documents: true, env: { JETQ_DOC_MAX_PART_SECONDS: "600" } });
  });
  afterAll(() => stack.stop());

  it("is not brought back when the processing ends", async () => {
    const form = new FormData();
    form.append("files", new Blob([new Uint8Array(nestedXObjectPdf(9, 10))], { type: "application/pdf" }), "slow.pdf");
    const upload = await fetch(`${stack.baseUrl}/api/books`, { method: "POST", body: form });
    expect(upload.status).toBe(202);
    const { bookId, taskId } = ((await upload.json()) as { books: { bookId: string; taskId: string }[] }).books[0]!;
    await waitFor("process_book to be reading the book", async () => (await stack.api("GET", `/api/books/${bookId}`)).body?.status === "processing", 60_000, 100);

    expect((await stack.api("DELETE", `/api/books/${bookId}`)).status).toBe(204);
    expect((await stack.api("POST", `/api/tasks/${taskId}/cancel`)).status).toBe(200);
    await waitFor("the task to end", async () => (await taskStatus(stack, taskId)).status === "cancelled", 60_000);

    // Give the cancelled attempt time to make its last write, then look.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await stack.api("GET", `/api/books/${bookId}`)).status).toBe(404);
    expect((await stack.api("GET", "/api/books")).body.total).toBe(0);
  }, 120_000);
});
