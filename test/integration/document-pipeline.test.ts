// The document pipeline end to end through the REST API on a real NATS, offline defaults:
// upload → process_book → generate_embeddings → search finds the right page → create_quiz cites
// chunks that contain the answers; re-processing and re-embedding change nothing; deleting a
// book removes it from search; a corrupt file is dead-lettered with a clear error. Hostile
// documents (a zip bomb, an archive of 10,001 entries, a million-page PDF, HTML nested 100,000
// deep) go to a real worker process: each fails once with an error naming its limit, and the
// same process goes on to the next book with no temporary files left behind.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BookStore } from "../../library/books.js";
import { clientError, orNotFound } from "../support/client-calls.js";
import { clientOf, createTask, startStack, taskStatus, TEST_ENV, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";
import { bigPdf, deeplyNestedHtml, makeEpub, makeEpubWithEntries, makePdf, makeRepeatedPagePdf, makeZipBombEpub } from "../../kit/document-fixtures.js";

let stack: Stack;
let dir: string;
beforeAll(async () => {
  stack = await startStack({ documents: true, workers: 1, env: { JETQ_CHUNK_SIZE: "400", JETQ_CHUNK_OVERLAP: "80" } });
  dir = await mkdtemp(join(tmpdir(), "jetq-docs-"));
});
afterAll(async () => stack?.stop());

const PAGES = [
  "Chapter one introduces the river delta and the fishermen who live along its shifting banks. The tides decide their working hours.",
  "The second page describes how the monsoon floods replenish the soil every summer, leaving fertile silt across the rice paddies.",
  "On the third page the archivist Magdalena Okonkwo catalogues seventeen brass astrolabes recovered from the sunken merchant ship.",
  "Page four follows the caravan across the salt flats, where the traders barter copper for indigo dye and dried apricots.",
  "The final page returns to the delta, where the lighthouse keeper records every passing vessel in a leather-bound ledger.",
];

/** Uploads new books through the client; each gets its process_book task. */
async function upload(files: { name: string; type: string; data: Uint8Array }[]) {
  const { books } = await clientOf(stack).books.upload(files.map((f) => ({ name: f.name, data: f.data, contentType: f.type })));
  expect(books.map((b) => b.filename)).toEqual(files.map((f) => f.name));
  return books.map((b) => {
    if (!b.taskId) throw new Error(`no task for ${b.filename}: ${JSON.stringify(b)}`);
    return { ...b, taskId: b.taskId };
  });
}

/** The task's dead letter, or null while there is none. */
const dlqEntry = (id: string) => orNotFound(clientOf(stack).dlq.get(id));

async function finished(id: string) {
  return waitFor(`task ${id} to finish`, async () => {
    const s = await taskStatus(stack, id);
    return ["succeeded", "failed", "cancelled"].includes(s.status) && s;
  }, 60_000, 100);
}

describe("document pipeline", () => {
  let bookId: string;

  it("processes an uploaded PDF into chunks with page numbers and embeds them", async () => {
    const pdf = join(dir, "delta.pdf");
    await makePdf(pdf, PAGES, { title: "The Delta" });
    const [book] = await upload([{ name: "delta.pdf", type: "application/pdf", data: await readFile(pdf) }]);
    bookId = book!.bookId;

    const processed = await finished(book!.taskId);
    expect(processed.status).toBe("succeeded");
    expect(processed.result).toMatchObject({ bookId, pages: 5 });
    expect(processed.result.chunks).toBeGreaterThanOrEqual(2);

    const embedded = await finished(processed.result.embeddingTaskId);
    expect(embedded.status).toBe("succeeded");
    expect(embedded.result).toMatchObject({ bookId, embedded: processed.result.chunks });

    const record = await clientOf(stack).books.get(bookId);
    expect(record).toMatchObject({ bookId, status: "ready", pages: 5, chunks: processed.result.chunks, format: "pdf" });
  });

  it("finds the right page for a phrase from it", async () => {
    const { results } = await clientOf(stack).search("brass astrolabes catalogued by the archivist", { k: 3 });
    const [best] = results;

    expect(best).toMatchObject({ bookId, page: 3 });
    expect(best!.text).toContain("astrolabes");
    const scores = results.map((r) => r.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  it("generates a quiz whose answers appear in the chunks they cite", async () => {
    const id = await createTask(stack, { type: "create_quiz", payload: { bookId, questionCount: 3 } });
    const done = await finished(id);
    expect(done.status).toBe("succeeded");
    expect(done.result.quizUrl).toBe(`/api/quizzes/${done.result.quizId}`);
    const quiz = (await clientOf(stack).quizzes.get(done.result.quizId)) as { questions: { choices: string[]; answer: string; sourceChunkId: string }[] };
    expect(quiz.questions.length).toBeGreaterThanOrEqual(1);
    const chunks = new Map<string, string>();
    for await (const c of new BookStore(stack.conn).readChunks(bookId)) chunks.set(c.chunkId, c.text);
    for (const q of quiz.questions) {
      expect(q.choices).toContain(q.answer);
      expect(chunks.get(q.sourceChunkId)).toContain(q.answer);
    }
  });

  it("re-processing an unchanged book and re-embedding it change nothing", async () => {
    const countBefore = await vectorCount(bookId);
    expect(countBefore).toBeGreaterThan(0);
    const again = await finished(await createTask(stack, { type: "process_book", payload: { bookId } }));
    expect(again.result).toMatchObject({ bookId, pages: 5, unchanged: true });
    const reembed = await finished(await createTask(stack, { type: "generate_embeddings", payload: { bookId } }));
    expect(reembed.status).toBe("succeeded");
    expect(await vectorCount(bookId)).toBe(countBefore);
  });

  it("deletes a book and its vectors", async () => {
    await clientOf(stack).books.delete(bookId); // 204
    expect(await clientError(clientOf(stack).books.get(bookId))).toMatchObject({ status: 404, code: "not_found" });
    const { results } = await clientOf(stack).search("astrolabes", { k: 5 });
    expect(results.filter((r) => r.bookId === bookId)).toHaveLength(0);
  });

  it("processes text, Markdown, HTML and EPUB uploads with sections", async () => {
    const epub = join(dir, "tale.epub");
    await makeEpub(epub, [{ title: "Departure", html: "<p>The glassblower packed her furnace tools at dawn.</p>" }, { title: "Arrival", html: "<p>At the harbour a cartographer unrolled maps of the northern fjords.</p>" }], "A Tale");
    const books = await upload([
      { name: "notes.txt", type: "text/plain", data: Buffer.from("Beekeepers in the valley harvest heather honey in late August.\n\nThe hives winter in the orchard.") },
      { name: "guide.md", type: "text/markdown", data: Buffer.from("# Pottery\n\nA kiln fires stoneware at high temperature.\n\n## Glazes\n\nCeladon glazes turn jade green in reduction.") },
      { name: "page.html", type: "text/html", data: Buffer.from("<html><head><title>Clocks</title></head><body><h1>Escapements</h1><p>The anchor escapement keeps a pendulum clock accurate.</p></body></html>") },
      { name: "tale.epub", type: "application/epub+zip", data: await readFile(epub) },
    ]);
    const results = await Promise.all(books.map((b) => finished(b.taskId)));
    for (const r of results) expect(r.status, JSON.stringify(r.error)).toBe("succeeded");
    for (const r of results) await finished(r.result.embeddingTaskId);
    const [hit] = (await clientOf(stack).search("cartographer maps fjords", { k: 1 })).results;
    expect(hit!.bookId).toBe(books[3]!.bookId);
    expect(hit!.text).toContain("cartographer");
  });

  it("dead-letters a corrupt file with a clear, non-retryable error", async () => {
    const [book] = await upload([{ name: "broken.pdf", type: "application/pdf", data: Buffer.from("this is not a pdf at all, just bytes") }]);
    const done = await finished(book!.taskId);
    expect(done.status).toBe("failed");
    expect(done.attempts).toBe(1);
    expect(done.error).toMatchObject({ code: "corrupt_document", retryable: false });
    const entry = await waitFor("the DLQ entry", () => dlqEntry(book!.taskId));
    expect(entry.error.code).toBe("corrupt_document");
  });
});

describe("hostile documents, in a real worker process", () => {
  let worker: ChildProcess;
  let workerTmp: string;
  const alive = () => worker.exitCode === null && worker.signalCode === null;
  const bookDirs = async () => (await readdir(workerTmp)).filter((name) => name.startsWith("jetq-book-"));

  beforeAll(async () => {
    // From here on the worker process runs every task: the in-process one stops.
    await Promise.all(stack.workers.map((w) => w.stop(1000)));
    workerTmp = await mkdtemp(join(tmpdir(), "jetq-worker-tmp-"));
    worker = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../../worker/main.ts", import.meta.url))], {
      env: { ...process.env, ...TEST_ENV, NATS_URL: stack.nats.url, JETQ_DATA_DIR: stack.config.dataDir, TMPDIR: workerTmp, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    process.on("exit", () => worker.kill("SIGKILL"));
    // Its log lines (the failures these tests cause among them) stay out of the test output.
    let output = "";
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-100_000));
    worker.stdout!.on("data", keep);
    worker.stderr!.on("data", keep);
    await waitFor("the worker process to start", () => output.includes("worker started") || (!alive() && Promise.reject(new Error("worker exited"))), 60_000);
  }, 90_000);
  afterAll(async () => {
    if (!worker || !alive()) return;
    const exited = new Promise((resolve) => worker.once("exit", resolve));
    worker.kill("SIGTERM");
    await exited;
  });

  /** Uploads a file and asserts what a client sees: one failed attempt, non-retryable, in the DLQ, the book failed. */
  async function expectRefused(file: { name: string; type: string; data: Uint8Array }, code: string, says: string) {
    const pid = worker.pid;
    const [book] = await upload([file]);
    const done = await waitFor(`task ${book!.taskId} to finish`, async () => {
      const s = await taskStatus(stack, book!.taskId);
      return ["succeeded", "failed", "cancelled"].includes(s.status) && s;
    }, 120_000, 200);
    expect(done).toMatchObject({ status: "failed", attempts: 1, error: { code, retryable: false } });
    expect(done.error.message).toContain(says);
    const entry = await waitFor("the DLQ entry", () => dlqEntry(book!.taskId));
    expect(entry.error.code).toBe(code);
    const record = await clientOf(stack).books.get(book!.bookId);
    expect(record).toMatchObject({ status: "failed", error: expect.stringContaining(says) });
    expect(alive()).toBe(true);
    expect(worker.pid).toBe(pid);
    expect(await bookDirs()).toEqual([]);
  }

  it("fails a zip-bomb EPUB once, naming the ratio limit, without inflating it", async () => {
    await makeZipBombEpub(join(dir, "bomb.epub"), 64 * 1024 * 1024);
    const data = await readFile(join(dir, "bomb.epub"));
    expect(data.length).toBeLessThan(1024 * 1024);
    await expectRefused({ name: "bomb.epub", type: "application/epub+zip", data }, "document_limit_exceeded", "JETQ_DOC_MAX_COMPRESSION_RATIO");
  }, 180_000);

  it("fails an EPUB of more than 10,000 entries once, naming the entry limit", async () => {
    await makeEpubWithEntries(join(dir, "crowded.epub"), 10_001);
    await expectRefused({ name: "crowded.epub", type: "application/epub+zip", data: await readFile(join(dir, "crowded.epub")) }, "document_limit_exceeded", "JETQ_DOC_MAX_ARCHIVE_ENTRIES");
  }, 180_000);

  it("fails a 2 KB PDF of 1,000,000 pages once, naming the page limit, without reading its pages", async () => {
    await makeRepeatedPagePdf(join(dir, "million.pdf"));
    const started = Date.now();
    await expectRefused({ name: "million.pdf", type: "application/pdf", data: await readFile(join(dir, "million.pdf")) }, "document_limit_exceeded", "JETQ_DOC_MAX_PAGES");
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 180_000);

  it("fails HTML nested 100,000 deep once (a stack overflow is not worth retrying)", async () => {
    await expectRefused({ name: "deep.html", type: "text/html", data: Buffer.from(deeplyNestedHtml(100_000)) }, "document_too_complex", "nested too deeply");
  }, 180_000);

  it("marks a book whose processing was cancelled as cancelled, and removes its temporary copy", async () => {
    await bigPdf(join(dir, "long.pdf"), 400);
    const [book] = await upload([{ name: "long.pdf", type: "application/pdf", data: await readFile(join(dir, "long.pdf")) }]);
    await waitFor("the book to be read", async () => (await taskStatus(stack, book!.taskId)).progress?.message?.startsWith("read page"), 120_000, 100);
    expect(await clientOf(stack).cancelTask(book!.taskId)).toMatchObject({ id: book!.taskId, status: "cancelled" });
    const record = await waitFor("the book to say cancelled", async () => {
      const r = await clientOf(stack).books.get(book!.bookId);
      return r.status !== "processing" && r;
    }, 60_000, 100);
    expect(record.status).toBe("cancelled");
    expect((await taskStatus(stack, book!.taskId)).status).toBe("cancelled");
    await waitFor("the temporary copy to go", async () => (await bookDirs()).length === 0, 30_000);
  }, 240_000);

  it("is the same process after all of them, and processes the next book to the end with a final progress message", async () => {
    const pid = worker.pid;
    const [book] = await upload([{ name: "after.txt", type: "text/plain", data: Buffer.from("A calm book after the storm.\n\nIts pages are few and harmless.") }]);
    const done = await finished(book!.taskId);
    expect(done).toMatchObject({ status: "succeeded", attempts: 1, progress: { percent: 100, message: "done" } });
    expect(alive()).toBe(true);
    expect(worker.pid).toBe(pid);
    expect(await bookDirs()).toEqual([]);
  }, 120_000);
});

async function vectorCount(bookId: string): Promise<number> {
  const { createVectorStore } = await import("../../library/vectors/index.js");
  const store = createVectorStore(stack.config.documents);
  const { createEmbedder } = await import("../../library/embeddings/index.js");
  const [v] = await createEmbedder(stack.config.documents).embed(["x"]);
  await store.ensureCollection(v!.length);
  const n = await store.count({ bookId });
  await store.close();
  return n;
}

