// Deleting a book while its process_book runs: the book stays deleted, whatever the processing
// does next (here it is cancelled, which used to write the book back as `cancelled`).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nestedXObjectPdf } from "../../kit/document-fixtures.js";
import { clientError } from "../support/client-calls.js";
import { clientOf, startStack, taskStatus, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

describe("a book deleted while it is processed", () => {
  let stack: Stack;
  beforeAll(async () => {
    // A PDF whose one page takes hours to read keeps process_book running as long as we like.
    stack = await startStack({ documents: true, env: { JETQ_DOC_MAX_PART_SECONDS: "600" } });
  });
  afterAll(() => stack.stop());

  it("is not brought back when the processing ends", async () => {
    const client = clientOf(stack);
    const { books } = await client.books.upload([{ name: "slow.pdf", data: new Uint8Array(nestedXObjectPdf(9, 10)), contentType: "application/pdf" }]);
    const { bookId, taskId } = books[0]!;
    expect(taskId).toEqual(expect.any(String));
    await waitFor("process_book to be reading the book", async () => (await client.books.get(bookId)).status === "processing", 60_000, 100);

    await client.books.delete(bookId); // 204
    expect(await client.cancelTask(taskId!)).toMatchObject({ id: taskId, status: "cancelled" });
    await waitFor("the task to end", async () => (await taskStatus(stack, taskId!)).status === "cancelled", 60_000);

    // Give the cancelled attempt time to make its last write, then look.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await clientError(client.books.get(bookId))).toMatchObject({ status: 404, code: "not_found" });
    expect((await client.books.list()).total).toBe(0);
  }, 120_000);
});
