// Uploads: POST /api/books and the earlier service's /rag endpoints store each file in the
// JetStream object store and queue one process_book task for it; a big upload is streamed
// through, never held whole in the API's memory.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "@nats-io/obj";
import { loadConfig } from "../../kit/config.js";
import { connectLibrary, type LibraryConnection } from "../../library/connection.js";
import { documentTaskTypes } from "../../library/task-types.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { JetqClient, type UploadedBooks, type UploadFile } from "../../client/index.js";
import { clientOf, startStack, TEST_ENV, type Stack } from "../support/stack.js";
import { testRegistry } from "../support/test-types.js";
import { readRss, sampleRss, startApiProcess, streamMultipartUpload, type ApiProcess } from "../../kit/upload-helpers.js";

const MiB = 1024 * 1024;

/** A form posted as it is: for forms the client would never send (over limits, repeated fields, bad values). */
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
const textFile = (name: string, text: string): UploadFile => ({ name, data: text, contentType: "text/plain" });

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
    let res: UploadedBooks;

    beforeAll(async () => {
      res = await clientOf(stack).books.upload(books.map((b) => ({ name: b.name, data: b.bytes, contentType: "text/plain" }))); // 202
    });

    it("answers 202 with a bookId, size, taskId and statusUrl for each file", () => {
      expect(res.books).toHaveLength(2);
      for (const entry of res.books) {
        expect(entry).toMatchObject({ bookId: expect.any(String), filename: expect.any(String), taskId: expect.any(String) });
        expect(entry.size).toBe(sent(entry.filename).bytes.length);
        expect(entry.statusUrl).toBe(`/api/tasks/${entry.taskId}/status`);
      }
      expect(new Set(res.books.map((b) => b.bookId)).size).toBe(2);
    });

    it("lists the books in the order they were sent", () => {
      expect(res.books.map((b) => b.filename)).toEqual(books.map((b) => b.name));
    });

    it("stores each file's exact bytes in the object store under books/{bookId}", async () => {
      for (const entry of res.books) {
        const stored = await readObject(stack.conn.uploads, `books/${entry.bookId}`);
        expect(stored, `books/${entry.bookId}`).not.toBeNull();
        expect(stored!.equals(sent(entry.filename).bytes)).toBe(true);
      }
    });

    it("queues one process_book task per file, carrying its bookId", async () => {
      for (const entry of res.books) {
        const status = await clientOf(stack).getTask(entry.taskId!);
        expect(status).toMatchObject({ id: entry.taskId, type: "process_book", status: "queued" });
        // The status view does not show the payload; the task record does.
        const stored = await stack.record(entry.taskId!);
        expect(stored.payload).toMatchObject({ bookId: entry.bookId, filename: entry.filename });
      }
      expect((await stack.api("GET", "/api/tasks?type=process_book")).body.total).toBe(2);
    });
  });

  describe("the earlier service's /rag endpoints", () => {
    it("POST /rag/add-document with field `file` answers 202 {status:'queued', task_id}", async () => {
      const res = await clientOf(stack).rag.addDocument(textFile("single.txt", "a single document")); // 202

      expect(res).toEqual({ status: "queued", task_id: expect.any(String) });
      expect((await clientOf(stack).getTask(res.task_id!)).type).toBe("process_book");
    });

    it("POST /rag/add-documents-batch with two `files` answers 202 [{task_id, filename}]", async () => {
      const res = await clientOf(stack).rag.addDocuments([textFile("first.txt", "first document"), textFile("second.txt", "second document")]); // 202

      expect(res).toHaveLength(2);
      expect(res).toEqual(
        expect.arrayContaining([
          { task_id: expect.any(String), filename: "first.txt" },
          { task_id: expect.any(String), filename: "second.txt" },
        ]),
      );
      expect(res[0]!.task_id).not.toBe(res[1]!.task_id);
    });

    it("POST /rag/add-documents-batch lists the documents in the order they were sent", async () => {
      const res = await clientOf(stack).rag.addDocuments([textFile("long.txt", "a long document. ".repeat(20_000)), textFile("short.txt", "a short one")]);

      expect(res.map((d) => d.filename)).toEqual(["long.txt", "short.txt"]);
    });

    it("GET /rag/task/{task_id} answers 200 with the Celery state PENDING for a queued task", async () => {
      const queued = await clientOf(stack).rag.addDocument(textFile("status.txt", "status please"));

      const res = await clientOf(stack).rag.task(queued.task_id!);

      expect(res).toMatchObject({ task_id: queued.task_id, status: "PENDING", state: "queued" });
    });
  });
});

/** File names of the objects in the uploads bucket that are not deleted. */
async function liveUploads(stack: Stack): Promise<string[]> {
  const subjects = (await stack.conn.jsm.streams.info("OBJ_jetq-uploads", { subjects_filter: "$O.jetq-uploads.M.>" })).state.subjects ?? {};
  const infos = await Promise.all(Object.keys(subjects).map((s) => stack.conn.uploads.info(Buffer.from(s.split(".").pop()!, "base64url").toString())));
  return infos.filter((i) => i && !i.deleted).map((i) => String(i!.metadata?.filename));
}

/** How many uploads are stored: what a rejected or duplicate upload must not add to. */
const storedUploads = async (stack: Stack) => (await liveUploads(stack)).length;

/**
 * A multipart body built by hand, the file name as an RFC 5987 `filename*` parameter (which busboy
 * decodes): FormData percent-encodes CR, LF and quotes, so any character reaches the server only so.
 */
function rawMultipart(parts: { field: string; filename: string; body: string }[]) {
  const boundary = `----jetq${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const name = `filename*=UTF-8''${encodeURIComponent(p.filename)}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.field}"; ${name}\r\nContent-Type: text/plain\r\n\r\n${p.body}\r\n`));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

const processBookTasks = async (stack: Stack) => (await stack.api("GET", "/api/tasks?type=process_book&limit=500")).body.total as number;

describe("upload limits and file names", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ registry: documentTaskTypes(testRegistry()), workers: 0 });
  });
  afterAll(async () => stack?.stop());

  async function expectRefused(form: FormData, status: number, code: string, limitInMessage: string) {
    const [objects, tasks] = [await storedUploads(stack), await processBookTasks(stack)];
    const res = await postForm(stack.baseUrl, "/api/books", form);
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toContain(limitInMessage);
    expect(await storedUploads(stack)).toBe(objects);
    expect(await processBookTasks(stack)).toBe(tasks);
  }

  it("refuses a form with more than 50 fields with 413 naming the limit, even when the extra one is priority", async () => {
    const form = new FormData();
    for (let i = 0; i < 50; i++) form.append(`note${i}`, "x");
    form.append("priority", "sideways"); // the 51st field: before the fix it was dropped unseen
    form.append("file", new Blob(["fields galore"], { type: "text/plain" }), "fields.txt");
    await expectRefused(form, 413, "too_many_fields", "50");
  });

  it("refuses a form field larger than 64 KiB with 413", async () => {
    const form = new FormData();
    form.append("chunkSize", "1".repeat(70 * 1024));
    form.append("file", new Blob(["big field"], { type: "text/plain" }), "field.txt");
    await expectRefused(form, 413, "field_too_large", String(64 * 1024));
  });

  it("refuses a field given twice with 400", async () => {
    const form = new FormData();
    form.append("priority", "high");
    form.append("priority", "low");
    form.append("file", new Blob(["twice"], { type: "text/plain" }), "twice.txt");
    await expectRefused(form, 400, "duplicate_field", "priority");
  });

  it("stores file names without control characters, bidi overrides or path separators, keeping UTF-8", async () => {
    const cases: [string, string][] = [
      ["evil\r\nX-Injected: 1.txt", "evilX-Injected: 1.txt"],
      ["nul\u0000byte.txt", "nulbyte.txt"],
      ["invoice\u202Efdp.exe", "invoicefdp.exe"],
      ["\u2066isolated\u2069 Привет 📚.md", "isolated Привет 📚.md"],
      ["../../etc/passwd", "passwd"],
      ["..", "{bookId}.bin"],
      ["\u202E\u0000", "{bookId}.bin"],
    ];
    for (const [sent, expected] of cases) {
      const { body, contentType } = rawMultipart([{ field: "file", filename: sent, body: `contents of ${JSON.stringify(sent)}` }]);
      const res = await fetch(stack.baseUrl + "/api/books", { method: "POST", headers: { "content-type": contentType }, body });
      const answer = (await res.json()) as any;
      expect(res.status, JSON.stringify(answer)).toBe(202);
      const [entry] = answer.books;
      const want = expected.replace("{bookId}", entry.bookId);
      expect(entry.filename).toBe(want);
      const info = await stack.conn.uploads.info(`books/${entry.bookId}`);
      expect(info?.metadata?.filename).toBe(want);
      expect((await stack.record(entry.taskId)).payload).toMatchObject({ filename: want });
    }
  });
});

describe("uploading the same bytes again", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ registry: documentTaskTypes(testRegistry()), workers: 0, documents: true });
  });
  afterAll(async () => stack?.stop());

  const form = (text: string, name: string, fields: Record<string, string> = {}) => {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) f.append(k, v);
    f.append("file", new Blob([text], { type: "text/plain" }), name);
    return f;
  };

  /** Uploads one text file through the client and returns its entry. */
  const uploadOne = async (text: string, name: string, options: { duplicate?: "existing" | "new" } = {}) => (await clientOf(stack).books.upload([textFile(name, text)], options)).books[0]!;

  it("answers with the existing book and its task, flagged as a duplicate, and stores nothing new", async () => {
    const first = await uploadOne("The heron waits in the shallows.", "heron.txt");
    const [objects, tasks] = [await storedUploads(stack), await processBookTasks(stack)];

    const again = await uploadOne("The heron waits in the shallows.", "heron-copy.txt"); // 202

    expect(again).toMatchObject({ bookId: first.bookId, taskId: first.taskId, duplicate: true });
    expect(first.duplicate).toBe(false);
    expect(await storedUploads(stack)).toBe(objects);
    expect(await processBookTasks(stack)).toBe(tasks);
  });

  it("makes a new book when the form says duplicate=new, and refuses other values with 422", async () => {
    const first = await uploadOne("A second heron.", "h2.txt");
    const forced = await uploadOne("A second heron.", "h2.txt", { duplicate: "new" });
    expect(forced.duplicate).toBe(false);
    expect(forced.bookId).not.toBe(first.bookId);
    const objects = await storedUploads(stack);
    const bad = await postForm(stack.baseUrl, "/api/books", form("A third heron.", "h3.txt", { duplicate: "maybe" }));
    expect(bad.status).toBe(422);
    expect(await storedUploads(stack)).toBe(objects);
  });

  it("lets only one of several concurrent uploads of the same bytes create a book", async () => {
    const entries = await Promise.all(Array.from({ length: 6 }, (_, i) => uploadOne("Concurrent cormorants. ".repeat(5000), `c${i}.txt`))); // each 202
    expect(entries.filter((e) => !e.duplicate)).toHaveLength(1);
    expect(new Set(entries.map((e) => e.bookId)).size).toBe(1);
    const owner = entries.find((e) => !e.duplicate)!;
    expect((await liveUploads(stack)).filter((n) => /^c\d\.txt$/.test(n))).toEqual([owner.filename]);
  });

  it("releases the content when the book is deleted, so the file can be uploaded again", async () => {
    const { bookId } = await uploadOne("The egret leaves at dusk.", "egret.txt");
    await clientOf(stack).books.delete(bookId); // 204
    const again = await uploadOne("The egret leaves at dusk.", "egret.txt");
    expect(again.duplicate).toBe(false);
    expect(again.bookId).not.toBe(bookId);
    // The new book holds the content now.
    const third = await uploadOne("The egret leaves at dusk.", "egret.txt");
    expect(third).toMatchObject({ bookId: again.bookId, duplicate: true });
  });

  it("does the same on the /rag endpoints", async () => {
    const rag = clientOf(stack).rag;
    const first = await rag.addDocument(textFile("loons.txt", "Legacy loons."));
    expect(first).toEqual({ status: "queued", task_id: expect.any(String) });
    const again = await rag.addDocument(textFile("loons.txt", "Legacy loons.")); // 202
    expect(again).toMatchObject({ status: "duplicate", task_id: first.task_id, duplicate: true });
    const both = await rag.addDocuments([textFile("loons.txt", "Legacy loons."), textFile("grebes.txt", "Fresh grebes.")]);
    expect(both).toEqual([
      { task_id: first.task_id, filename: "loons.txt", book_id: again.book_id, duplicate: true },
      { task_id: expect.any(String), filename: "grebes.txt" },
    ]);
  });
});

describe("a 200 MB upload", () => {
  const CHUNK = MiB;
  const CHUNKS = 200;
  const RSS_BUDGET = 100 * MiB;
  let nats: NatsServerHandle;
  let api: ApiProcess;
  let conn: LibraryConnection;

  beforeAll(async () => {
    nats = await startNatsServer();
    api = await startApiProcess(nats.url);
    const config = loadConfig({ ...TEST_ENV, NATS_URL: nats.url });
    conn = await connectLibrary(nats.url, config.topology, { name: "upload-memory-test", consumersFor: { taskTypes: [] } });
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
      const status = await new JetqClient({ baseUrl: api.baseUrl }).getTask(entry.taskId);
      expect(status).toMatchObject({ type: "process_book", status: "queued" });
    },
    180_000,
  );
});
