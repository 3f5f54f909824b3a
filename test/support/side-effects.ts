// A task type whose every run leaves a side effect outside NATS: one line appended to a file per
// handler run. Tests that kill servers or workers count the lines to tell "succeeded once as its
// state record says" from "the handler really ran once".
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import type { TaskTypeRegistry } from "../../kernel/registry.js";
import type { TaskHandler } from "../../worker/handler.js";

export const SIDE_EFFECT_TYPE = "side_effect";

export function registerSideEffectType(registry: TaskTypeRegistry): TaskTypeRegistry {
  return registry.register({
    name: SIDE_EFFECT_TYPE,
    description: "sleeps, then appends one line naming the task and attempt to a file",
    payload: z.object({ n: z.number().int().min(0), ms: z.number().int().min(0).max(60_000) }).strict(),
  });
}

export interface SideEffectRun {
  id: string;
  attempt: number;
  pid: number;
}

/** The handler: the line is written when the work is done, before the worker records the outcome. */
export function sideEffectHandler(file: string): TaskHandler<{ n: number; ms: number }> {
  return async (ctx) => {
    await new Promise((r) => setTimeout(r, ctx.payload.ms));
    // One short line per write with O_APPEND: lines from several processes never interleave.
    appendFileSync(file, JSON.stringify({ id: ctx.id, attempt: ctx.attempt, pid: process.pid } satisfies SideEffectRun) + "\n");
    return { n: ctx.payload.n };
  };
}

/** Every run recorded in the file, by task id. */
export function readSideEffects(file: string): Map<string, SideEffectRun[]> {
  const runs = new Map<string, SideEffectRun[]>();
  if (!existsSync(file)) return runs;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    const run = JSON.parse(line) as SideEffectRun;
    runs.set(run.id, [...(runs.get(run.id) ?? []), run]);
  }
  return runs;
}
