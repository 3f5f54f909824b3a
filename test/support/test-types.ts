// Task types that tests register: small handlers whose behaviour a test controls through the payload.
import { z } from "zod";
import { NonRetryableError } from "../../kernel/errors.js";
import { TaskTypeRegistry } from "../../kernel/registry.js";
import type { TaskHandler } from "../../worker/handler.js";

export function testRegistry(): TaskTypeRegistry {
  return new TaskTypeRegistry()
    .register({ name: "echo", description: "returns its payload", payload: z.object({ value: z.unknown().optional(), progressSteps: z.number().int().min(0).max(100).optional(), stepMs: z.number().int().min(0).max(60_000).optional(), resultBytes: z.number().int().min(0).max(10_000_000).optional() }).strict() })
    .register({ name: "sleep", description: "sleeps, honouring the abort signal unless told not to", payload: z.object({ ms: z.number().int().min(0).max(600_000), ignoreSignal: z.boolean().optional(), marker: z.string().optional() }).strict() })
    .register({ name: "flaky", description: "fails until attempt N", payload: z.object({ succeedOnAttempt: z.number().int().min(1) }).strict() })
    .register({ name: "always_fail", description: "always throws a retryable error", payload: z.object({ key: z.string().optional() }).strict() })
    .register({ name: "poison", description: "throws NonRetryableError", payload: z.object({}).strict() })
    .register({ name: "record", description: "records the order it runs in", payload: z.object({ label: z.string() }).strict() });
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });

/**
 * Handlers for the test types. `ran` collects the order of `record` tasks, attempt times, and why
 * a `sleep` handler's signal aborted it (the reason's code: cancelled, soft_time_limit, shutdown).
 */
export function testHandlers(
  ran: { labels: string[]; attemptTimes: Map<string, number[]>; aborts: Map<string, string> } = { labels: [], attemptTimes: new Map(), aborts: new Map() },
) {
  const note = (id: string) => ran.attemptTimes.set(id, [...(ran.attemptTimes.get(id) ?? []), Date.now()]);
  const handlers: Record<string, TaskHandler> = {
    echo: async (ctx) => {
      const p = ctx.payload as { value?: unknown; progressSteps?: number; stepMs?: number; resultBytes?: number };
      const steps = p.progressSteps ?? 0;
      for (let i = 1; i <= steps; i++) {
        await sleep(p.stepMs ?? 100, ctx.signal);
        ctx.progress((i / steps) * 100, `step ${i} of ${steps}`);
        ctx.log.info(`finished step ${i} of ${steps}`, { step: i });
      }
      return p.resultBytes ? { echoed: p.value ?? null, padding: "x".repeat(p.resultBytes) } : { echoed: p.value ?? null };
    },
    sleep: async (ctx) => {
      const p = ctx.payload as { ms: number; ignoreSignal?: boolean };
      try {
        await sleep(p.ms, p.ignoreSignal ? undefined : ctx.signal);
      } catch (err) {
        if (ctx.signal.aborted) ran.aborts.set(ctx.id, (ctx.signal.reason as { code?: string })?.code ?? "unknown");
        throw err;
      }
      return { slept: p.ms, attempt: ctx.attempt };
    },
    flaky: async (ctx) => {
      note(ctx.id);
      const p = ctx.payload as { succeedOnAttempt: number };
      if (ctx.attempt < p.succeedOnAttempt) throw new Error(`attempt ${ctx.attempt} fails on purpose`);
      return { attempt: ctx.attempt };
    },
    always_fail: async (ctx) => {
      note(ctx.id);
      throw new Error("this handler always fails");
    },
    poison: async () => {
      throw new NonRetryableError("this input can never work", "bad_input");
    },
    record: async (ctx) => {
      ran.labels.push((ctx.payload as { label: string }).label);
      return null;
    },
  };
  return { handlers, ran };
}
