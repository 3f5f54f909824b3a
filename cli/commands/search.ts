// search: the library's chunks nearest to a query, best first, with the page each cites.
import type { Argv } from "yargs";
import { wholeNumber } from "../args.js";
import { command, type GlobalArgs } from "../context.js";
import { clip } from "../output.js";

export function searchCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    "search <query..>",
    "Search the books: the best passages with their book and page",
    (c) =>
      c
        .positional("query", { type: "string", array: true, demandOption: true, describe: "what to look for (several words are one query)" })
        .option("k", { type: "number", default: 5, describe: "how many passages", coerce: wholeNumber("-k", 1) })
        .option("book", { alias: "b", type: "string", describe: "only in this book (its id)" })
        .example("$0 search brass astrolabes -k 3", ""),
    command(async (ctx, a) => {
      const q = a.query.join(" ");
      const found = await ctx.client.search(q, { k: a.k, ...(a.book ? { bookId: a.book } : {}) });
      if (ctx.out.json) return ctx.out.printJson(found);
      if (!found.results.length) return ctx.out.note(`nothing found for ${JSON.stringify(q)}`);
      found.results.forEach((r, i) => {
        const where = `${r.title ?? r.bookId}, page ${r.page}${r.section ? `, ${r.section}` : ""}`;
        ctx.out.line(`${ctx.out.paint("bold", `${i + 1}.`)} ${ctx.out.paint("dim", r.score.toFixed(3))}  ${where}  ${ctx.out.paint("dim", `(book ${r.bookId})`)}`);
        ctx.out.line(`   ${clip(r.text, 300)}`);
      });
    }),
  );
}
