// `jetq limits`: the caller's tenant's rate limits and quotas and what it has used of them, so a
// script can slow down before it is refused (GET /api/limits; any role).
import type { Argv } from "yargs";
import { command, type GlobalArgs } from "../context.js";

const MIB = 1024 * 1024;
const bytes = (n: number) => (n >= MIB ? `${(n / MIB).toFixed(1)} MiB` : `${n} B`);
const cap = (limit: number, show: (n: number) => string = String) => (limit === 0 ? "unlimited" : show(limit));

export function limitCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    "limits",
    "Your tenant's rate limits and quotas, and what it has used of them",
    (c) => c,
    command(async (ctx) => {
      const l = await ctx.client.limits();
      if (ctx.out.json) return ctx.out.printJson(l);
      const rate = (what: string, r: typeof l.rates.creates) => [
        `${what} per ${r.windowSeconds} s`,
        String(r.used),
        cap(r.limit),
        r.limit === 0 ? "" : `${r.remaining} left, resets ${new Date(r.resetsAt).toLocaleTimeString()}`,
        r.setting,
      ];
      ctx.out.table(
        ["LIMIT", "USED", "MAX", "", "SETTING"],
        [
          rate("creates", l.rates.creates),
          rate("uploads", l.rates.uploads),
          ["stored book bytes", bytes(l.quotas.storedBytes.used), cap(l.quotas.storedBytes.limit, bytes), "", l.quotas.storedBytes.setting],
          ["unfinished tasks", String(l.quotas.queuedTasks.used), cap(l.quotas.queuedTasks.limit), "", l.quotas.queuedTasks.setting],
        ],
      );
      ctx.out.note(`tenant ${l.tenant}`);
    }),
  );
}
