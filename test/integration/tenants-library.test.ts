// Tenants in the library (issue #11): a member of one tenant never sees, searches, quizzes or
// deletes another tenant's books, nor learns they exist — by id, in lists, in search, or by naming
// them in a task it queues (each handler answers as for a missing book or source). A viewer reads
// only; an admin sees every tenant's books; a book stored before tenants is the default tenant's.
// Real NATS, real HTTP, real workers running the document handlers.
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newApiKey } from "../../api/auth/api-key.js";
import { BookStore, storeUpload, type BookRecord } from "../../library/books.js";
import { startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

const ACME_TEXT = "The acme lighthouse keeper polishes seventeen copper lanterns every evening before the fishing fleet returns to the harbour.";
const GLOBEX_TEXT = "The globex archivist Magdalena Okonkwo catalogues brass astrolabes recovered from the sunken merchant ship near the reef.";
const GLOBEX_MORE = "Each astrolabe is weighed, photographed and described in a leather ledger. The oldest one bears an inscription in three languages.";

describe("tenants: books, chunks, quizzes, search and source syncs", () => {
  let stack: Stack;
  const adminKey = newApiKey().key;
  const keys: Record<string, string> = {};
  const as = (who: string) => ({ authorization: `Bearer ${who === "admin" ? adminKey : keys[who]}` });
  const api = (who: string, method: string, path: string, body?: unknown) => stack.api(method, path, body, as(who));
  const ended = (id: string) =>
    waitFor(`task ${id} to end`, async () => {
      const r = await api("admin", "GET", `/api/tasks/${id}/status`);
      return ["succeeded", "failed", "cancelled"].includes(r.body?.status) && r.body;
    }, 60_000, 100);
  const upload = async (who: string, name: string, text: string) => {
    const form = new FormData();
    form.append("files", new Blob([text], { type: "text/markdown" }), name);
    const res = await fetch(`${stack.baseUrl}/api/books`, { method: "POST", body: form, headers: as(who) });
    expect(res.status).toBe(202);
    return ((await res.json()) as { books: { bookId: string; taskId: string }[] }).books[0]!;
  };
  /** Uploads a book and waits until it is processed and embedded. */
  const readyBook = async (who: string, name: string, text: string) => {
    const { bookId, taskId } = await upload(who, name, text);
    const processed = await ended(taskId);
    expect(processed.status, JSON.stringify(processed.error)).toBe("succeeded");
    const embedded = await ended(processed.result.embeddingTaskId);
    expect(embedded.status, JSON.stringify(embedded.error)).toBe("succeeded");
    return bookId;
  };
  const search = async (who: string, q: string, bookId?: string) => {
    const res = await api(who, "GET", `/api/search?k=100&q=${encodeURIComponent(q)}${bookId ? `&bookId=${bookId}` : ""}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.results as { bookId: string; chunkId: string; text: string; score: number }[];
  };
  const listedBookIds = async (who: string) => {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await api(who, "GET", `/api/books?limit=100${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      ids.push(...res.body.items.map((b: { bookId: string }) => b.bookId));
      cursor = res.body.nextCursor;
    } while (cursor);
    return ids;
  };
  /** A task's error with the id it names taken out, to compare the answers for two ids. */
  const errorOf = (task: { error?: { code: string; message: string } }, id: string) => ({ code: task.error?.code, message: task.error?.message.replaceAll(id, "<id>") });

  let acmeBook: string;
  let globexBook: string;

  beforeAll(async () => {
    stack = await startStack({ documents: true, workers: 1, env: { JETQ_AUTH: "on", JETQ_ADMIN_KEY: adminKey, JETQ_SOURCES_ALLOWED_HOSTS: "books.test" } });
    for (const [name, tenant, role] of [["a", "acme", "member"], ["aViewer", "acme", "viewer"], ["b", "globex", "member"], ["dflt", "default", "member"]] as const) {
      const made = await api("admin", "POST", "/api/keys", { tenant, role, name: `${role} of ${tenant}` });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      keys[name] = made.body.key;
    }
    acmeBook = await readyBook("a", "acme.md", `# Acme handbook\n\n${ACME_TEXT}\n`);
    globexBook = await readyBook("b", "globex.md", `# Globex ledger\n\n${GLOBEX_TEXT}\n\n${GLOBEX_MORE}\n`);
  }, 180_000);
  afterAll(() => stack?.stop());

  it("answers 404 for another tenant's book by id, on GET and DELETE, like a missing one", async () => {
    const missing = randomUUID();
    for (const id of [globexBook, missing]) {
      const got = await api("a", "GET", `/api/books/${id}`);
      expect(got.status, id).toBe(404);
      expect(got.body.error.code).toBe("not_found");
      expect((await api("a", "DELETE", `/api/books/${id}`)).status, id).toBe(404);
    }
    // The two answers say the same thing, so nothing tells acme that globex's book exists.
    const theirs = await api("a", "GET", `/api/books/${globexBook}`);
    const nothing = await api("a", "GET", `/api/books/${missing}`);
    expect(theirs.body.error.message.replaceAll(globexBook, "<id>")).toBe(nothing.body.error.message.replaceAll(missing, "<id>"));

    // Still there for its owner, who sees its tenant.
    expect((await api("b", "GET", `/api/books/${globexBook}`)).body).toMatchObject({ bookId: globexBook, status: "ready", tenant: "globex" });
    expect((await api("a", "GET", `/api/books/${acmeBook}`)).body).toMatchObject({ bookId: acmeBook, tenant: "acme" });
    expect((await api("aViewer", "GET", `/api/books/${acmeBook}`)).status).toBe(200);
    expect((await api("admin", "GET", `/api/books/${globexBook}`)).status).toBe(200);
  });

  it("lists only the caller's tenant's books; an admin lists every tenant's", async () => {
    const aSees = await listedBookIds("a");
    expect(aSees).toContain(acmeBook);
    expect(aSees).not.toContain(globexBook);
    const bSees = await listedBookIds("b");
    expect(bSees).toContain(globexBook);
    expect(bSees).not.toContain(acmeBook);
    expect(await listedBookIds("aViewer")).toEqual(aSees);
    expect(await listedBookIds("admin")).toEqual(expect.arrayContaining([acmeBook, globexBook]));
  });

  it("searches only the caller's tenant's chunks, even for another tenant's exact text or book id", async () => {
    // The query would find globex's chunk: the admin, who searches every tenant's, gets it first.
    const adminHits = await search("admin", GLOBEX_TEXT);
    expect(adminHits[0]?.bookId).toBe(globexBook);

    const aHits = await search("a", GLOBEX_TEXT);
    expect(aHits.map((h) => h.bookId)).not.toContain(globexBook);
    expect(aHits.every((h) => h.bookId === acmeBook)).toBe(true);
    expect((await search("a", ACME_TEXT))[0]?.bookId).toBe(acmeBook); // its own still found

    // Naming globex's book finds nothing of it: an empty answer, as for a filter on another tenant's tasks.
    expect(await search("a", GLOBEX_TEXT, globexBook)).toEqual([]);
    expect(await search("aViewer", GLOBEX_TEXT, globexBook)).toEqual([]);
    expect((await search("b", GLOBEX_TEXT, globexBook))[0]?.bookId).toBe(globexBook);
  });

  it("answers 404 for another tenant's quiz by id", async () => {
    const made = await api("b", "POST", "/api/tasks", { type: "create_quiz", payload: { bookId: globexBook, questionCount: 2 } });
    expect(made.status, JSON.stringify(made.body)).toBe(202);
    const done = await ended(made.body.id);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    const quizId = done.result.quizId as string;

    expect((await api("b", "GET", `/api/quizzes/${quizId}`)).body).toMatchObject({ quizId, bookId: globexBook, tenant: "globex" });
    expect((await api("admin", "GET", `/api/quizzes/${quizId}`)).status).toBe(200);
    const theirs = await api("a", "GET", `/api/quizzes/${quizId}`);
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe("not_found");
    const missing = randomUUID();
    expect(theirs.body.error.message.replaceAll(quizId, "<id>")).toBe((await api("a", "GET", `/api/quizzes/${missing}`)).body.error.message.replaceAll(missing, "<id>"));
  }, 60_000);

  it("fails process_book, generate_embeddings and create_quiz naming another tenant's book as for a missing one, without touching it", async () => {
    const recordBefore = (await api("b", "GET", `/api/books/${globexBook}`)).body;
    const hitsBefore = await search("admin", GLOBEX_TEXT, globexBook);
    expect(hitsBefore.length).toBeGreaterThan(0);

    // process_book has no check at create time: compare with the answer for a book that does not exist.
    const missing = randomUUID();
    const onTheirs = await api("a", "POST", "/api/tasks", { type: "process_book", payload: { bookId: globexBook } });
    const onMissing = await api("a", "POST", "/api/tasks", { type: "process_book", payload: { bookId: missing } });
    expect([onTheirs.status, onMissing.status]).toEqual([202, 202]);
    const [theirs, none] = [await ended(onTheirs.body.id), await ended(onMissing.body.id)];
    expect(theirs.status).toBe("failed");
    expect(none.status).toBe("failed");
    expect(errorOf(theirs, globexBook)).toEqual(errorOf(none, missing));
    expect(theirs.error.code).toBe("upload_not_found");

    // generate_embeddings and create_quiz: refused at create time (422 book_not_found, as a missing
    // book is) or, if admitted, failed by the handler with its missing-book error.
    for (const [type, payload] of [["generate_embeddings", {}], ["create_quiz", { questionCount: 1 }]] as const) {
      const res = await api("a", "POST", "/api/tasks", { type, payload: { bookId: globexBook, ...payload } });
      if (res.status === 422) {
        expect(res.body.error.code, type).toBe("book_not_found");
        continue;
      }
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const failed = await ended(res.body.id);
      expect(failed.status, type).toBe("failed");
      expect(errorOf(failed, globexBook), type).toEqual({ code: "book_not_found", message: "book <id> is not known; upload and process it first" });
      expect(failed.result, type).toBeUndefined();
    }

    // globex's book, chunks and vectors are as they were.
    expect((await api("b", "GET", `/api/books/${globexBook}`)).body).toEqual(recordBefore);
    expect(await search("admin", GLOBEX_TEXT, globexBook)).toEqual(hitsBefore);
    expect(await search("a", GLOBEX_TEXT, globexBook)).toEqual([]); // no point was rewritten as acme's
  }, 120_000);

  it("fails sync_sources naming another tenant's source as for an unregistered one, without syncing it", async () => {
    const made = await api("b", "POST", "/api/sources", { kind: "http", urls: ["https://books.test/globex.html"] });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const sourceId = made.body.id as string;
    const missing = randomUUID();

    const onTheirs = await api("a", "POST", "/api/tasks", { type: "sync_sources", payload: { sourceId } });
    const onMissing = await api("a", "POST", "/api/tasks", { type: "sync_sources", payload: { sourceId: missing } });
    expect([onTheirs.status, onMissing.status]).toEqual([202, 202]);
    const [theirs, none] = [await ended(onTheirs.body.id), await ended(onMissing.body.id)];
    expect(theirs.status).toBe("failed");
    expect(errorOf(theirs, sourceId)).toEqual(errorOf(none, missing));
    expect(theirs.error.code).toBe("source_not_found");

    // A sync of "every due source" by acme does not reach globex's either.
    const all = await api("a", "POST", "/api/tasks", { type: "sync_sources", payload: {} });
    const allDone = await ended(all.body.id);
    expect(allDone.status, JSON.stringify(allDone.error)).toBe("succeeded");
    expect(Object.keys(allDone.result.sources)).not.toContain(sourceId);

    const source = (await api("b", "GET", `/api/sources/${sourceId}`)).body;
    expect(source.lastSyncAt).toBeUndefined(); // never synced
    expect(source.lastResult).toBeUndefined();
  }, 60_000);

  it("lets a viewer read but not delete a book; its owner deletes it and gives its content back", async () => {
    const text = `# Acme notes\n\nA short note about the acme harbour crane, ${randomUUID()}.\n`;
    const { bookId, taskId } = await upload("a", "notes.md", text);
    await ended(taskId);
    const refused = await api("aViewer", "DELETE", `/api/books/${bookId}`);
    expect(refused.status).toBe(403);
    expect((await api("aViewer", "GET", `/api/books/${bookId}`)).status).toBe(200);

    const record = (await api("a", "GET", `/api/books/${bookId}`)).body as BookRecord;
    const books = new BookStore(stack.conn);
    expect(await books.contentOwner(record.contentHash, "acme")).toMatchObject({ bookId });
    expect((await api("a", "DELETE", `/api/books/${bookId}`)).status).toBe(204);
    expect((await api("a", "GET", `/api/books/${bookId}`)).status).toBe(404);
    expect(await books.contentOwner(record.contentHash, "acme")).toBeNull(); // acme's claim released
    // The same bytes again are a new book, not the deleted one.
    const again = await upload("a", "notes.md", text);
    expect(again.bookId).not.toBe(bookId);
  }, 60_000);

  it("treats a book stored before tenants (upload or record without a tenant) as the default tenant's", async () => {
    // An upload from before tenants: no tenant in its metadata.
    const uploaded = randomUUID();
    await storeUpload(stack.conn.uploads, { bookId: uploaded, filename: "old.md", contentType: "text/markdown" }, Readable.from([Buffer.from("# Old\n\nAn old book about the default tenant's granary.\n")]));
    expect((await api("dflt", "GET", `/api/books/${uploaded}`)).body).toMatchObject({ bookId: uploaded, status: "queued", tenant: "default" });
    expect((await api("a", "GET", `/api/books/${uploaded}`)).status).toBe(404);
    // acme may not process it; the default tenant may, and its record is the default tenant's.
    const byAcme = await api("a", "POST", "/api/tasks", { type: "process_book", payload: { bookId: uploaded } });
    expect((await ended(byAcme.body.id)).error.code).toBe("upload_not_found");
    const byDefault = await api("dflt", "POST", "/api/tasks", { type: "process_book", payload: { bookId: uploaded } });
    const processed = await ended(byDefault.body.id);
    expect(processed.status, JSON.stringify(processed.error)).toBe("succeeded");
    expect((await api("dflt", "GET", `/api/books/${uploaded}`)).body).toMatchObject({ status: "ready", tenant: "default" });

    // A record from before tenants: no `tenant` field.
    const recorded = randomUUID();
    const now = new Date().toISOString();
    const old: BookRecord = { bookId: recorded, filename: "older.md", contentType: "text/markdown", status: "ready", pages: 1, chunks: 0, characters: 0, contentHash: "0".repeat(64), chunkSize: 1000, chunkOverlap: 100, createdAt: now, updatedAt: now };
    await stack.conn.books.put(recorded, JSON.stringify(old));
    expect((await api("dflt", "GET", `/api/books/${recorded}`)).status).toBe(200);
    expect((await api("a", "GET", `/api/books/${recorded}`)).status).toBe(404);
    expect((await api("a", "DELETE", `/api/books/${recorded}`)).status).toBe(404);
    await waitFor("the old record in the default tenant's list", async () => (await listedBookIds("dflt")).includes(recorded));
    expect(await listedBookIds("a")).not.toContain(recorded);
    expect((await api("dflt", "DELETE", `/api/books/${recorded}`)).status).toBe(204);
    expect((await api("admin", "GET", `/api/books/${recorded}`)).status).toBe(404);
  }, 60_000);
});
