// Dead letters: ls, show, retry and purge — one entry by id, or in bulk by --type or --all.
// --dry-run asks the bulk endpoint itself (dryRun), so the count is of exactly what the same
// call would act on; for one id it checks that the entry exists. Nothing changes either way.
import type { Argv } from "yargs";
import type { DeadLetterView, DlqBulkFilter } from "../../client/index.js";
import { wholeNumber } from "../args.js";
import { command, type Context, type GlobalArgs } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { age, clip } from "../output.js";

interface Target {
  id?: string | undefined;
  type?: string | undefined;
  all?: boolean | undefined;
}

/** Exactly one of: an id, --type, --all (so an empty command never touches the whole DLQ). */
function oneTarget(a: Target): true {
  const given = [a.id !== undefined, a.type !== undefined, a.all === true].filter(Boolean).length;
  if (given !== 1) throw new Error("give one dead-lettered task's id, or --type TYPE, or --all");
  return true;
}

const bulkFilter = (a: Target): DlqBulkFilter => (a.type !== undefined ? { type: a.type } : { all: true });
const filterText = (a: Target) => (a.type !== undefined ? `of type ${a.type}` : "of every type");

/** How many entries a target matches now: 1 for an id that exists (an error otherwise). */
async function countTarget(ctx: Context, a: Target, action: "retry" | "purge"): Promise<number> {
  if (a.id !== undefined) {
    await ctx.client.dlq.get(a.id);
    return 1;
  }
  const filter = { ...bulkFilter(a), dryRun: true };
  const answer = action === "retry" ? await ctx.client.dlq.retryMany(filter) : await ctx.client.dlq.deleteMany(filter);
  return answer.matched ?? 0;
}

const targetOptions = <T>(c: Argv<T>) =>
  c
    .positional("id", { type: "string", describe: "one dead-lettered task (its task id)" })
    .option("type", { alias: "t", type: "string", describe: "every dead-lettered task of this type" })
    .option("all", { type: "boolean", describe: "every dead-lettered task" })
    .option("dry-run", { type: "boolean", describe: "only count what would be affected; change nothing" })
    .check(oneTarget);

export function dlqCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command("dlq", "Dead-lettered tasks: ls, show, retry, purge", (d) =>
    d
      .command(
        "ls",
        "List dead-lettered tasks with their last error",
        (c) =>
          c
            .option("type", { alias: "t", type: "string", describe: "only this task type" })
            .option("limit", { alias: "n", type: "number", default: 50, describe: "at most this many", coerce: wholeNumber("--limit", 1) })
            .option("offset", { type: "number", default: 0, describe: "skip this many", coerce: wholeNumber("--offset") })
            .option("cursor", { type: "string", describe: "the page after the one that printed this cursor" }),
        command(async (ctx, a) => {
          const page = await ctx.client.dlq.list({ ...(a.type ? { type: a.type } : {}), limit: a.limit, ...(a.cursor ? { cursor: a.cursor } : { offset: a.offset }) });
          if (ctx.out.json) return ctx.out.printJson(page);
          ctx.out.table(
            ["ID", "TYPE", "REASON", "ATTEMPTS", "ERROR", "AGE"],
            page.items.map((d) => [d.task.id, d.task.type, d.reason, String(d.attempts), ctx.out.paint("red", clip(`${d.error.code}: ${d.error.message}`, 60)), age(d.deadLetteredAt)]),
            "the dead-letter queue is empty" + (a.type ? ` for ${a.type}` : ""),
          );
          if (page.nextCursor) ctx.out.note(`${page.total} in all; more: jetq dlq ls${a.type ? ` --type ${a.type}` : ""} --limit ${a.limit} --cursor ${page.nextCursor}`);
        }),
      )
      .command(
        "show <id>",
        "Show one dead-lettered task: its payload, last error, attempts",
        (c) => c.positional("id", { type: "string", demandOption: true, describe: "the task id" }),
        command(async (ctx, a) => {
          const d = await ctx.client.dlq.get(a.id);
          if (ctx.out.json) return ctx.out.printJson(d);
          printDeadLetter(ctx, d);
        }),
      )
      .command(
        "retry [id]",
        "Replay dead-lettered tasks with fresh attempts: one id, --type or --all",
        (c) => targetOptions(c).example("$0 dlq retry --type process_book --dry-run", "").example("$0 dlq retry --all", ""),
        command(async (ctx, a) => {
          if (a.dryRun) return dryRun(ctx, a, "retry");
          if (a.id !== undefined) {
            const t = await ctx.client.dlq.retry(a.id);
            if (ctx.out.json) return ctx.out.printJson(t);
            ctx.out.line(`${t.id} ${ctx.out.status(t.status)} again (${t.type})`);
            return;
          }
          const r = await ctx.client.dlq.retryMany(bulkFilter(a));
          if (ctx.out.json) ctx.out.printJson(r);
          else {
            ctx.out.line(`retried ${r.retried.length} dead-lettered task(s) ${filterText(a)}`);
            for (const id of r.retried) ctx.out.line(`  ${id}`);
          }
          for (const e of r.errors) ctx.out.warn(`could not retry ${e.id ?? "a task"}: ${e.message ?? "unknown error"}`);
          return r.errors.length ? EXIT.refused : EXIT.ok;
        }),
      )
      .command(
        "purge [id]",
        "Discard dead-lettered tasks for good: one id, --type or --all",
        (c) => targetOptions(c).example("$0 dlq purge --type sync_sources --dry-run", ""),
        command(async (ctx, a) => {
          if (a.dryRun) return dryRun(ctx, a, "purge");
          if (a.id !== undefined) {
            await ctx.client.dlq.delete(a.id);
            if (ctx.out.json) return ctx.out.printJson({ deleted: 1 });
            ctx.out.line(`discarded ${a.id}`);
            return;
          }
          const r = await ctx.client.dlq.deleteMany(bulkFilter(a));
          if (ctx.out.json) return ctx.out.printJson(r);
          ctx.out.line(`discarded ${r.deleted} dead-lettered task(s) ${filterText(a)}`);
        }),
      )
      .demandCommand(1, "give a dlq command: ls, show, retry or purge"),
  );
}

async function dryRun(ctx: Context, a: Target, action: "retry" | "purge") {
  const count = await countTarget(ctx, a, action);
  if (ctx.out.json) return ctx.out.printJson({ dryRun: true, action, ...(a.id !== undefined ? { id: a.id } : a.type !== undefined ? { type: a.type } : { all: true }), count });
  const what = a.id !== undefined ? a.id : `${count} dead-lettered task(s) ${filterText(a)}`;
  ctx.out.line(`would ${action === "retry" ? "retry" : "discard"} ${what}; nothing changed (dry run)`);
}

function printDeadLetter(ctx: Context, d: DeadLetterView) {
  ctx.out.fields([
    ["id", d.task.id],
    ["type", d.task.type],
    ["priority", d.task.priority],
    ["reason", d.reason === "max_deliveries" ? "max_deliveries (attempts exhausted, or workers kept crashing)" : "terminated (a worker gave up on it)"],
    ["attempts", String(d.attempts)],
    ["dead-lettered", `${d.deadLetteredAt} (${age(d.deadLetteredAt)} ago)`],
    ["error", `${ctx.out.paint("red", d.error.code)}: ${d.error.message}`],
    ["payload", JSON.stringify(d.task.payload ?? {}, null, 2)],
  ]);
}
