// Tasks: submit (optionally waiting with a live bar), status, watch, ls, queue, cancel.
import { readFileSync } from "node:fs";
import type { Argv } from "yargs";
import type { TaskEvent, TaskStatusView } from "../../client/index.js";
import { PRIORITIES, TASK_STATUSES } from "../../kernel/task.js";
import { wholeNumber } from "../args.js";
import { command, type Context, type GlobalArgs } from "../context.js";
import { EXIT, exitCodeOfTask, type ExitCode } from "../exit-codes.js";
import { followTask } from "../follow.js";
import { age, clip, logLine, printTask, progressText, TASK_COLUMNS, taskRow, type Output } from "../output.js";
import { ProgressBars } from "../progress.js";

/** `--payload`: JSON text, `@file` for a file's JSON, `@-` for standard input. Thrown errors are usage errors. */
export function parsePayload(value: string): unknown {
  let text = value;
  let from = "--payload";
  if (value.startsWith("@")) {
    const file = value.slice(1);
    from = file === "-" ? "standard input" : file;
    try {
      text = readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (err) {
      throw new Error(`--payload ${value}: cannot read ${from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`--payload: ${from === "--payload" ? "not" : `${from} is not`} valid JSON (${(err as Error).message})`);
  }
}

/**
 * Follows a task to its end with a live bar, then prints it. The exit code is its outcome; a
 * task that failed also gets its error on stderr. Ctrl-C leaves it running and says how to look.
 */
export async function waitForTask(ctx: Context, id: string, label: string): Promise<ExitCode> {
  const bars = new ProgressBars(ctx.out, [label]);
  const bar = bars.add(label, { percent: 0, status: "queued" });
  let final: TaskStatusView | null;
  try {
    final = await followTask(ctx.client, id, { signal: ctx.signal, onEvent: (e) => e.event !== "gone" && bar.update(barState(e.data)) });
  } catch (err) {
    if (ctx.signal.aborted) ctx.out.note(`the task goes on; see it with: jetq status ${id}`);
    throw err;
  } finally {
    bars.stop();
  }
  if (!final) {
    ctx.out.warn(`task ${id} disappeared while it was followed (its record expired or was removed)`);
    return EXIT.refused;
  }
  if (ctx.out.json) ctx.out.printJson(final);
  else printTask(ctx.out, final);
  return followedOutcome(ctx, id, final);
}

const barState = (t: TaskStatusView) => ({ percent: t.progress.percent, status: t.status, message: t.progress.message });

/** One line per event for `watch`: time, status, progress. */
function eventLine(out: Output, e: TaskEvent): string {
  const time = new Date().toISOString().slice(11, 23);
  if (e.event === "gone") return `${time}  gone (the task's record disappeared)`;
  const t = e.data;
  const extra = e.event === "end" ? (t.error ? `  ${t.error.code}: ${t.error.message}` : t.result !== undefined ? `  result ${clip(JSON.stringify(t.result), 200)}` : "") : "";
  const pad = " ".repeat(Math.max(0, "succeeded".length - t.status.length)); // padded as plain text: colour codes have no width
  return `${time}  ${out.status(t.status)}${pad}  ${progressText(t)}${extra}`;
}

/** The exit code of a followed task (watch, logs --follow), saying on stderr how it ended unless it succeeded. */
function followedOutcome(ctx: Context, id: string, final: TaskStatusView | null): ExitCode {
  if (!final) return EXIT.refused; // its record disappeared
  if (final.status !== "succeeded") ctx.out.warn(`task ${id} ${final.status}${final.error ? `: ${final.error.code}: ${final.error.message}` : ""}`);
  return exitCodeOfTask(final.status);
}

export function taskCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y
    .command(
      "submit <type>",
      "Queue a task (prints its id); --wait follows it to the end",
      (c) =>
        c
          .positional("type", { type: "string", demandOption: true, describe: "the task type (GET /openapi.json lists them)" })
          .option("payload", { alias: "p", type: "string", describe: "the payload: JSON, @file, or @- for standard input", default: "{}", coerce: parsePayload })
          .option("priority", { choices: PRIORITIES, describe: "queue priority (default: normal)" })
          .option("idempotency-key", { alias: "k", type: "string", describe: "the same key again returns the first task instead of a new one" })
          .option("max-attempts", { type: "number", describe: "attempts before it is dead-lettered", coerce: wholeNumber("--max-attempts", 1) })
          .option("timeout", { type: "number", describe: "soft time limit in seconds", coerce: wholeNumber("--timeout", 1) })
          .option("wait", { alias: "w", type: "boolean", describe: "follow it with a live progress bar; exit code = outcome (0 succeeded, 1 failed, 3 cancelled)" })
          .example("$0 submit sync_sources --priority high", "")
          .example(`$0 submit create_quiz -p '{"bookId":"…","questionCount":5}' --wait`, "")
          .example("$0 submit sync_sources -p @sync.json -k nightly-2026-11-23", ""),
      command(async (ctx, a) => {
        const spec = {
          type: a.type,
          payload: a.payload,
          ...(a.priority ? { priority: a.priority } : {}),
          ...(a.idempotencyKey ? { idempotencyKey: a.idempotencyKey } : {}),
          ...(a.maxAttempts !== undefined ? { maxAttempts: a.maxAttempts } : {}),
          ...(a.timeout !== undefined ? { timeoutSeconds: a.timeout } : {}),
        };
        const accepted = await ctx.client.createTask(spec);
        if (accepted.created === false) ctx.out.note(`a task with this idempotency key exists already: ${accepted.id} (nothing new queued)`);
        if (a.wait) {
          if (!ctx.out.json) ctx.out.note(`${accepted.id} queued; following it (Ctrl-C stops following, not the task)`);
          return waitForTask(ctx, accepted.id, a.type);
        }
        if (ctx.out.json) ctx.out.printJson(accepted);
        else {
          ctx.out.line(accepted.id);
          ctx.out.note(`${accepted.status}; follow it with: jetq watch ${accepted.id}`);
        }
      }),
    )
    .command(
      "status <id>",
      "Show a task: status, progress, attempts, result or error",
      (c) => c.positional("id", { type: "string", demandOption: true, describe: "task id" }),
      command(async (ctx, a) => {
        const t = await ctx.client.getTask(a.id);
        if (ctx.out.json) ctx.out.printJson(t);
        else printTask(ctx.out, t);
      }),
    )
    .command(
      "watch <id>",
      "Stream a task's events until it ends (exit code = outcome, like submit --wait)",
      (c) => c.positional("id", { type: "string", demandOption: true, describe: "task id" }),
      command(async (ctx, a) => {
        let final: TaskStatusView | null;
        try {
          final = await followTask(ctx.client, a.id, {
            signal: ctx.signal,
            onEvent: (e) => (ctx.out.json ? ctx.out.printJsonLine(e) : ctx.out.line(eventLine(ctx.out, e))),
          });
        } catch (err) {
          if (ctx.signal.aborted) ctx.out.note(`the task goes on; see it with: jetq status ${a.id}`);
          throw err;
        }
        return followedOutcome(ctx, a.id, final);
      }),
    )
    .command(
      "logs <id>",
      "Print what a task's workers logged about it (info and above), oldest first; --follow streams it until the task ends",
      (c) =>
        c
          .positional("id", { type: "string", demandOption: true, describe: "task id" })
          .option("follow", { alias: "f", type: "boolean", describe: "keep printing new lines until the task ends (exit code = outcome, like watch)" })
          .example("$0 logs 3f2b… --follow", ""),
      command(async (ctx, a) => {
        if (a.follow) {
          const final = await followTask(ctx.client, a.id, {
            signal: ctx.signal,
            onLog: (line) => (ctx.out.json ? ctx.out.printJsonLine(line) : ctx.out.line(logLine(ctx.out, line))),
          });
          return followedOutcome(ctx, a.id, final);
        }
        const lines = [];
        for (let after = 0; ; ) {
          const page = await ctx.client.taskLogs(a.id, { after, limit: 1_000 });
          lines.push(...page.items);
          if (page.items.length < page.limit) break;
          after = page.last;
        }
        if (ctx.out.json) return ctx.out.printJson({ items: lines });
        if (lines.length === 0) ctx.out.note("the task has logged nothing (or its log has expired)");
        for (const l of lines) ctx.out.line(logLine(ctx.out, l));
      }),
    )
    .command(
      "ls",
      "List tasks, newest first, a page at a time",
      (c) =>
        c
          .option("status", { alias: "s", choices: TASK_STATUSES, describe: "only tasks in this status" })
          .option("type", { alias: "t", type: "string", describe: "only tasks of this type" })
          .option("limit", { alias: "n", type: "number", default: 20, describe: "at most this many", coerce: wholeNumber("--limit", 1) })
          .option("cursor", { type: "string", describe: "where the previous page stopped (its nextCursor)" })
          .example("$0 ls --status failed --type process_book", ""),
      command(async (ctx, a) => {
        const page = await ctx.client.listTasks({
          ...(a.status ? { status: a.status } : {}),
          ...(a.type ? { type: a.type } : {}),
          limit: a.limit,
          ...(a.cursor ? { cursor: a.cursor } : {}),
        });
        if (ctx.out.json) return ctx.out.printJson(page);
        ctx.out.table(TASK_COLUMNS, page.items.map((t) => taskRow(ctx.out, t)), "no tasks on this page");
        const total = page.total === null ? "" : page.totalExact ? `${page.total} in all` : `about ${page.total} in all`;
        if (total) ctx.out.note(total);
        if (page.nextCursor) {
          const filters = `${a.status ? ` --status ${a.status}` : ""}${a.type ? ` --type ${a.type}` : ""}${a.limit !== 20 ? ` --limit ${a.limit}` : ""}`;
          ctx.out.note(`more: jetq ls${filters} --cursor ${page.nextCursor}`);
        }
      }),
    )
    .command(
      "queue",
      "Queue depth by priority and type, in flight, dead-lettered, workers",
      (c) => c,
      command(async (ctx) => {
        const q = await ctx.client.queue();
        if (ctx.out.json) return ctx.out.printJson(q);
        ctx.out.fields([
          ["depth", String(q.depth)],
          ["waiting", String(q.waiting)],
          ["in flight", String(q.inFlight)],
          ["dead-lettered", q.deadLettered ? ctx.out.paint("red", String(q.deadLettered)) : "0"],
          ["workers", `${q.workers.count} (${q.workers.busy}/${q.workers.slots} slots busy, ${Math.round(q.workers.utilisation * 100)}%)`],
          ["by priority", PRIORITIES.map((p) => `${p} ${q.byPriority[p]}`).join(", ")],
        ]);
        const types = Object.entries(q.byType).sort((x, z) => z[1] - x[1]);
        if (types.length) {
          ctx.out.line();
          ctx.out.table(["TYPE", "WAITING"], types.map(([t, n]) => [t, String(n)]));
        }
      }),
    )
    .command(
      "cancel <id>",
      "Cancel a queued, retrying or running task",
      (c) => c.positional("id", { type: "string", demandOption: true, describe: "task id" }),
      command(async (ctx, a) => {
        const t = await ctx.client.cancelTask(a.id);
        if (ctx.out.json) return ctx.out.printJson(t);
        ctx.out.line(`${t.id} ${ctx.out.status(t.status)} (${t.type}, ${age(t.createdAt)} old)`);
      }),
    );
}
