// Books: add (upload; --wait follows each file through process_book → generate_embeddings with a
// bar per file), ls, rm.
import { openAsBlob, statSync } from "node:fs";
import { basename } from "node:path";
import type { Argv } from "yargs";
import { JetqClientError } from "../../client/errors.js";
import type { BookView, TaskStatusView, UploadedBooks } from "../../client/index.js";
import { PRIORITIES } from "../../kernel/task.js";
import { wholeNumber } from "../args.js";
import { command, type Context, type GlobalArgs } from "../context.js";
import { EXIT, UsageError } from "../exit-codes.js";
import { followTask } from "../follow.js";
import { age } from "../output.js";
import { ProgressBars, type Bar } from "../progress.js";

type Uploaded = UploadedBooks["books"][number];

/** What became of one uploaded file once --wait followed it. */
interface Outcome {
  upload: Uploaded;
  /** The worst end among its tasks: failed, then cancelled, then succeeded. */
  status: "succeeded" | "failed" | "cancelled";
  /** The task that decided the outcome's error, if it failed. */
  error?: TaskStatusView["error"];
  tasks: TaskStatusView[];
  book: BookView | null;
}

/** The files, each checked to be a readable regular file before anything is sent. */
async function readFiles(paths: string[]) {
  return Promise.all(
    paths.map(async (path) => {
      let isFile: boolean;
      try {
        isFile = statSync(path).isFile();
      } catch (err) {
        throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (!isFile) throw new UsageError(`${path} is not a file`);
      // A file-backed Blob: fetch streams it from disk, so a large book is never whole in memory.
      return { name: basename(path), data: await openAsBlob(path) };
    }),
  );
}

/**
 * Follows one file: its process_book task (first half of the bar), then the generate_embeddings
 * task that one chains (second half). A duplicate whose task is unknown is read from its record.
 */
async function followUpload(ctx: Context, upload: Uploaded, bar: Bar): Promise<Outcome> {
  const tasks: TaskStatusView[] = [];
  const steps: { half: number; taskId: string | null }[] = [{ half: 0, taskId: upload.taskId }];
  for (const step of steps) {
    if (!step.taskId) break;
    const final = await followTask(ctx.client, step.taskId, {
      signal: ctx.signal,
      onEvent: (e) => {
        if (e.event === "gone") return;
        const t = e.data;
        bar.update({ percent: step.half * 50 + t.progress.percent / 2, status: t.status === "running" || t.status === "queued" ? t.type : t.status, message: t.progress.message ?? t.status });
      },
    });
    if (!final) break;
    tasks.push(final);
    if (final.status !== "succeeded") {
      bar.update({ percent: step.half * 50 + final.progress.percent / 2, status: final.status, message: final.error ? `${final.type}: ${final.error.message}` : final.type });
      break;
    }
    const next = (final.result as { embeddingTaskId?: unknown } | undefined)?.embeddingTaskId;
    if (step.half === 0 && typeof next === "string") steps.push({ half: 1, taskId: next });
  }
  // A book deleted meanwhile is simply gone; any other error is the command's.
  const book = await ctx.client.books.get(upload.bookId).catch((err: unknown) => {
    if (err instanceof JetqClientError && err.status === 404) return null;
    throw err;
  });
  const failed = tasks.find((t) => t.status === "failed");
  const status = failed || book?.status === "failed" ? "failed" : tasks.some((t) => t.status === "cancelled") ? "cancelled" : "succeeded";
  if (status === "succeeded") bar.update({ percent: 100, status: book?.status ?? "ready", message: book ? `${book.pages ?? 0} pages, ${book.chunks ?? 0} chunks` : null });
  return { upload, status, ...(failed?.error ? { error: failed.error } : {}), tasks, book };
}

export function bookCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command("books", "Books: add, ls, rm", (b) =>
    b
      .command(
        "add <files..>",
        "Upload books (PDF, EPUB, HTML, Markdown, text); --wait follows each through processing and embedding",
        (c) =>
          c
            .positional("files", { type: "string", array: true, demandOption: true, describe: "the files to upload" })
            .option("wait", { alias: "w", type: "boolean", describe: "a bar per file until it is searchable; exit code 0 all ready, 1 one failed, 3 one cancelled" })
            .option("priority", { choices: PRIORITIES, describe: "priority of their process_book tasks" })
            .option("chunk-size", { type: "number", describe: "characters per chunk", coerce: wholeNumber("--chunk-size", 1) })
            .option("chunk-overlap", { type: "number", describe: "characters shared by neighbouring chunks", coerce: wholeNumber("--chunk-overlap") })
            .option("new", { type: "boolean", describe: "make a new book even for bytes an existing book has" })
            .example("$0 books add handbook.pdf notes.md --wait", ""),
        command(async (ctx, a) => {
          const files = await readFiles(a.files);
          const answer = await ctx.client.books.upload(files, {
            ...(a.priority ? { priority: a.priority } : {}),
            ...(a.chunkSize !== undefined ? { chunkSize: a.chunkSize } : {}),
            ...(a.chunkOverlap !== undefined ? { chunkOverlap: a.chunkOverlap } : {}),
            ...(a.new ? { duplicate: "new" as const } : {}),
          });
          if (!a.wait) {
            if (ctx.out.json) return ctx.out.printJson(answer);
            ctx.out.table(
              ["BOOK", "FILE", "TASK", "STATUS"],
              answer.books.map((bk) => [bk.bookId, bk.filename, bk.taskId ?? "-", bk.duplicate ? "duplicate (existing book)" : ctx.out.status(bk.status ?? "-")]),
            );
            return;
          }
          const bars = new ProgressBars(ctx.out, answer.books.map((bk) => bk.filename));
          let outcomes: Outcome[];
          try {
            outcomes = await Promise.all(answer.books.map((bk) => followUpload(ctx, bk, bars.add(bk.filename, { percent: 0, status: "queued", message: bk.duplicate ? "duplicate of an existing book" : null }))));
          } catch (err) {
            if (ctx.signal.aborted) ctx.out.note("the uploads go on being processed; see them with: jetq books ls");
            throw err;
          } finally {
            bars.stop();
          }
          if (ctx.out.json) ctx.out.printJson({ books: outcomes.map((o) => ({ ...o.upload, outcome: o.status, book: o.book, tasks: o.tasks })) });
          else
            ctx.out.table(
              ["BOOK", "FILE", "STATUS", "PAGES", "CHUNKS"],
              outcomes.map((o) => [o.upload.bookId, o.upload.filename, ctx.out.status(o.book?.status ?? o.status), String(o.book?.pages ?? "-"), String(o.book?.chunks ?? "-")]),
            );
          for (const o of outcomes) if (o.status !== "succeeded") ctx.out.warn(`${o.upload.filename}: ${o.status}${o.error ? `: ${o.error.code}: ${o.error.message}` : ""}`);
          return outcomes.some((o) => o.status === "failed") ? EXIT.taskFailed : outcomes.some((o) => o.status === "cancelled") ? EXIT.taskCancelled : EXIT.ok;
        }),
      )
      .command(
        "ls",
        "List books, newest first",
        (c) =>
          c
            .option("limit", { alias: "n", type: "number", default: 50, describe: "at most this many", coerce: wholeNumber("--limit", 1) })
            .option("cursor", { type: "string", describe: "where the previous page stopped (its nextCursor)" }),
        command(async (ctx, a) => {
          const page = await ctx.client.books.list({ limit: a.limit, ...(a.cursor ? { cursor: a.cursor } : {}) });
          if (ctx.out.json) return ctx.out.printJson(page);
          ctx.out.table(
            ["BOOK", "FILE", "STATUS", "PAGES", "CHUNKS", "AGE"],
            page.items.map((bk) => [bk.bookId, bk.filename ?? "-", ctx.out.status(bk.status), String(bk.pages ?? "-"), String(bk.chunks ?? "-"), age(bk.createdAt)]),
            "no books yet: jetq books add FILE",
          );
          if (page.nextCursor) ctx.out.note(`${page.total} in all; more: jetq books ls --cursor ${page.nextCursor}`);
        }),
      )
      .command(
        "rm <ids..>",
        "Delete books with their chunks, upload and vectors",
        (c) => c.positional("ids", { type: "string", array: true, demandOption: true, describe: "book ids" }),
        command(async (ctx, a) => {
          for (const id of a.ids) {
            await ctx.client.books.delete(id);
            if (!ctx.out.json) ctx.out.line(`deleted ${id}`);
          }
          if (ctx.out.json) ctx.out.printJson({ deleted: a.ids });
        }),
      )
      .demandCommand(1, "give a books command: add, ls or rm"),
  );
}
