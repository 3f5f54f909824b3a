// quiz: makes a quiz from a book (a create_quiz task, followed with a bar) and shows it.
import type { Argv } from "yargs";
import { PRIORITIES } from "../../kernel/task.js";
import { wholeNumber } from "../args.js";
import { command, type GlobalArgs } from "../context.js";
import { EXIT, exitCodeOfTask } from "../exit-codes.js";
import { followTask } from "../follow.js";
import type { Output } from "../output.js";
import { ProgressBars } from "../progress.js";

/** A question as the quiz generators write it (worker/quiz/quiz-generator.ts). */
interface Question {
  question: string;
  choices?: string[];
  answer?: string;
  page?: number;
  explanation?: string;
}

function printQuiz(out: Output, quiz: { quizId?: string; questions?: unknown[] }) {
  const questions = (quiz.questions ?? []) as Question[];
  questions.forEach((q, i) => {
    out.line(`${out.paint("bold", `${i + 1}.`)} ${q.question}`);
    (q.choices ?? []).forEach((c, j) => out.line(`   ${String.fromCharCode(97 + j)}) ${c}${c === q.answer ? out.paint("green", "  ✓") : ""}`));
    out.line(out.paint("dim", `   answer: ${q.answer ?? "?"}${q.page !== undefined ? ` (page ${q.page})` : ""}${q.explanation ? ` — ${q.explanation}` : ""}`));
  });
  if (quiz.quizId) out.note(`quiz ${quiz.quizId} (GET /api/quizzes/${quiz.quizId})`);
}

export function quizCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    "quiz <book>",
    "Make a quiz from a book and show it (--no-wait: only queue it)",
    (c) =>
      c
        .positional("book", { type: "string", demandOption: true, describe: "the book's id (jetq books ls)" })
        .option("questions", { alias: "q", type: "number", describe: "how many questions (default 10)", coerce: wholeNumber("--questions", 1) })
        .option("priority", { choices: PRIORITIES, describe: "priority of the create_quiz task" })
        .option("wait", { type: "boolean", default: true, describe: "wait for the quiz and show it" }),
    command(async (ctx, a) => {
      const accepted = await ctx.client.createTask({
        type: "create_quiz",
        payload: { bookId: a.book, ...(a.questions !== undefined ? { questionCount: a.questions } : {}) },
        ...(a.priority ? { priority: a.priority } : {}),
      });
      if (!a.wait) {
        if (ctx.out.json) return ctx.out.printJson(accepted);
        ctx.out.line(accepted.id);
        return ctx.out.note(`queued; see it with: jetq status ${accepted.id}`);
      }
      const bars = new ProgressBars(ctx.out, ["create_quiz"]);
      const bar = bars.add("create_quiz", { percent: 0, status: "queued" });
      let final;
      try {
        final = await followTask(ctx.client, accepted.id, { signal: ctx.signal, onEvent: (e) => e.event !== "gone" && bar.update({ percent: e.data.progress.percent, status: e.data.status, message: e.data.progress.message }) });
      } catch (err) {
        if (ctx.signal.aborted) ctx.out.note(`the quiz is still being made; see it with: jetq status ${accepted.id}`);
        throw err;
      } finally {
        bars.stop();
      }
      if (!final) return EXIT.refused;
      if (final.status !== "succeeded") {
        if (ctx.out.json) ctx.out.printJson(final);
        ctx.out.warn(`the quiz task ${final.id} ${final.status}${final.error ? `: ${final.error.code}: ${final.error.message}` : ""}`);
        return exitCodeOfTask(final.status);
      }
      const quiz = final.result as { quizId?: string; questions?: unknown[] };
      if (ctx.out.json) ctx.out.printJson(quiz);
      else printQuiz(ctx.out, quiz);
    }),
  );
}
