// Uploads: POST /api/books and the earlier service's /rag endpoints store each file in the
// JetStream object store and queue one process_book task for it; a big upload is streamed
// through, never held whole in the API's memory.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "@nats-io/obj";
import { loadConfig } from "../../core/config.js";
import { connectJetq, type JetqConnection } from "../../core/connection.js";
import { documentTaskTypes } from "../../core/task-types.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { startStack, TEST_ENV, type Stack } from "../support/stack.js";
import { testRegistry } from "../support/test-types.js";
import { readRss, sampleRss, startApiProcess, streamMultipartUpload, type ApiProcess } from "../support/upload-helpers.js";

const MiB = 1024 * 1024;

async function postForm(baseUrl: string, path: string, form: FormData) {
  const res = await fetch(baseUrl + path, { method: "POST", body: form });
  return { status: res.status, body: (await res.json()) as any };
}

/** Reads an object back from the store, every chunk of it. */
async function readObject(store: ObjectStore, name: string): Promise<Buffer | null> {
  const obj = await store.get(name);
  if (!obj) return null;
  const parts: Uint8Array[] = [];
  for await (const part of obj.data as unknown as AsyncIterable<Uint8Array>) parts.push(part);
  const err = await obj.error;
  if (err) throw err;
  return Buffer.concat(parts);
}

const book = (name: string, text: string) => ({ name, bytes: Buffer.from(text) });

describe("uploads", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ registry: documentTaskTypes(testRegistry()), workers: 0 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  describe("POST /api/books with two files", () => {
    // The first file spans several object-store chunks (128 KiB each), the second is tiny, so the
    // second is stored first: the answer must still list them in the order they were sent.
    const books = [book("moby-dick.txt", "Call me Ishmael. ".repeat(20_000)), book("заметки 📚.md", "# Notes\n\n- chunk me\n- embed me\n")]; // names are UTF-8
    const sent = (filename: string) => books.find((b) => b.name === filename)!;
    let res: { status: number; body: any };

    beforeAll(async () => {
      const form = new FormData();
      for (const b of books) form.append("files", new Blob([b.bytes], { type: "text/plain" }), b.name);
      res = await postForm(stack.baseUrl, "/api/books", form);
    });

    it("answers 202 with a bookId, size, taskId and statusUrl for each file", () => {
      expect(res.status).toBe(202);
      expect(res.body.books).toHaveLength(2);
      for (const entry of res.body.books) {
        expect(entry).toMatchObject({ bookId: expect.any(String), filename: expect.any(String), taskId: expect.any(String) });
        expect(entry.size).toBe(sent(entry.filename).bytes.length);
        expect(entry.statusUrl).toBe(`/api/tasks/${entry.taskId}/status`);
      }
      expect(new Set(res.body.books.map((b: any) => b.bookId)).size).toBe(2);
    });

    it("lists the books in the order they were sent", () => {
      expect(res.body.books.map((b: any) => b.filename)).toEqual(books.map((b) => b.name));
    });

    it("stores each file's exact bytes in the object store under books/{bookId}", async () => {
      for (const entry of res.body.books) {
        const stored = await readObject(stack.conn.uploads, `books/${entry.bookId}`);
        expect(stored, `books/${entry.bookId}`).not.toBeNull();
        expect(stored!.equals(sent(entry.filename).bytes)).toBe(true);
      }
    });

    it("queues one process_book task per file, carrying its bookId", async () => {
      for (const entry of res.body.books) {
        const status = await stack.api("GET", entry.statusUrl);
        expect(status.status).toBe(200);
        expect(status.body).toMatchObject({ id: entry.taskId, type: "process_book", status: "queued" });
        // The status view does not show the payload; the task record does.
        const stored = await stack.record(entry.taskId);
        expect(stored.payload).toMatchObject({ bookId: entry.bookId, filename: entry.filename });
      }
      expect((await stack.api("GET", "/api/tasks?type=process_book")).body.total).toBe(2);
    });
  });

  describe("the earlier service's /rag endpoints", () => {
    it("POST /rag/add-document with field `file` answers 202 {status:'queued', task_id}", async () => {
      const form = new FormData();
      form.append("file", new Blob(["a single document"], { type: "text/plain" }), "single.txt");

      const res = await postForm(stack.baseUrl, "/rag/add-document", form);

      expect(res.status).toBe(202);
      expect(res.body).toEqual({ status: "queued", task_id: expect.any(String) });
      expect((await stack.api("GET", `/api/tasks/${res.body.task_id}/status`)).body.type).toBe("process_book");
    });

    it("POST /rag/add-documents-batch with two `files` answers 202 [{task_id, filename}]", async () => {
      const form = new FormData();
      form.append("files", new Blob(["first document"], { type: "text/plain" }), "first.txt");
      form.append("files", new Blob(["second document"], { type: "text/plain" }), "second.txt");

      const res = await postForm(stack.baseUrl, "/rag/add-documents-batch", form);

      expect(res.status).toBe(202);
      expect(res.body).toHaveLength(2);
      expect(res.body).toEqual(
        expect.arrayContaining([
          { task_id: expect.any(String), filename: "first.txt" },
          { task_id: expect.any(String), filename: "second.txt" },
        ]),
      );
      expect(res.body[0].task_id).not.toBe(res.body[1].task_id);
    });

    it("POST /rag/add-documents-batch lists the documents in the order they were sent", async () => {
      const form = new FormData();
      form.append("files", new Blob(["a long document. ".repeat(20_000)], { type: "text/plain" }), "long.txt");
      form.append("files", new Blob(["a short one"], { type: "text/plain" }), "short.txt");

      const res = await postForm(stack.baseUrl, "/rag/add-documents-batch", form);

      expect(res.status).toBe(202);
      expect(res.body.map((d: any) => d.filename)).toEqual(["long.txt", "short.txt"]);
    });

    it("GET /rag/task/{task_id} answers 200 with the Celery state PENDING for a queued task", async () => {
      const form = new FormData();
      form.append("file", new Blob(["status please"], { type: "text/plain" }), "status.txt");
      const { body: queued } = await postForm(stack.baseUrl, "/rag/add-document", form);

      const res = await stack.api("GET", `/rag/task/${queued.task_id}`);

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ task_id: queued.task_id, status: "PENDING" });
    });
  });
});

describe("a 200 MB upload", () => {
  const CHUNK = MiB;
  const CHUNKS = 200;
  const RSS_BUDGET = 100 * MiB;
  let nats: NatsServerHandle;
  let api: ApiProcess;
  let conn: JetqConnection;

  beforeAll(async () => {
    nats = await startNatsServer();
    api = await startApiProcess(nats.url);
    const config = loadConfig({ ...TEST_ENV, NATS_URL: nats.url });
    conn = await connectJetq(nats.url, config.topology, { name: "upload-memory-test", consumersFor: { taskTypes: [] } });
  });
  afterAll(async () => {
    await api?.stop();
    await conn?.close();
    await nats?.stop();
  });

  it(
    "through POST /api/books keeps the API's RSS growth under 100 MB",
    async () => {
      // Warm up: the first upload loads code paths and buffers that every upload shares.
      const warmUp = await streamMultipartUpload({ url: `${api.baseUrl}/api/books`, field: "file", filename: "warm-up.bin", chunks: 4, chunkBytes: CHUNK });
      expect(warmUp.status).toBe(202);
      const baseline = await readRss(api.pid);

      const sampler = sampleRss(api.pid, 100);
      const upload = await streamMultipartUpload({ url: `${api.baseUrl}/api/books`, field: "file", filename: "big.bin", chunks: CHUNKS, chunkBytes: CHUNK });
      const { max, samples } = await sampler.stop();

      const growth = max - baseline;
      console.log(
        `200 MB upload: API RSS baseline ${(baseline / MiB).toFixed(1)} MiB, max ${(max / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB over ${samples} samples`,
      );
      expect(upload.status, JSON.stringify(upload.body)).toBe(202);
      expect(upload.body.books).toHaveLength(1);
      const [entry] = upload.body.books;
      expect(entry.size).toBe(CHUNKS * CHUNK);
      expect(samples).toBeGreaterThan(5);
      expect(growth).toBeLessThan(RSS_BUDGET);

      const info = await conn.uploads.info(`books/${entry.bookId}`);
      expect(info?.size).toBe(CHUNKS * CHUNK);
      expect(info?.digest).toBe(upload.digest);
      const status = await fetch(`${api.baseUrl}${entry.statusUrl}`).then((r) => r.json());
      expect(status).toMatchObject({ type: "process_book", status: "queued" });
    },
    180_000,
  );
});
