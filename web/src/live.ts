// Live data: a hook that polls while the page shows it, and the API's health as the banner sees it.
import { useEffect, useRef, useState } from "preact/hooks";
import { JetqClientError, type JetqClient } from "../../client/index.js";

export interface Polled<T> {
  data: T | undefined;
  error: JetqClientError | Error | undefined;
  /** Fetch again now (after an action). */
  refresh: () => void;
}

/** Calls `load` at once and every `everyMs` while mounted, and again when `deps` change. */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: unknown[] = []): Polled<T> {
  const [state, setState] = useState<{ data: T | undefined; error: Error | undefined }>({ data: undefined, error: undefined });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const data = await loadRef.current();
        if (!stopped) setState({ data, error: undefined });
      } catch (err) {
        if (!stopped) setState((s) => ({ data: s.data, error: err as Error }));
      }
      if (!stopped && everyMs > 0) timer = setTimeout(run, everyMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [...deps, tick, everyMs]);
  return { ...state, refresh: () => setTick((t) => t + 1) };
}

/** What the banner says about the API: fine, NATS away (the API answers, not ready), or the API away. */
export type Health = "ok" | "nats_down" | "api_down" | "unknown";

/** Polls /readyz (public): 200 ready, 503 NATS unreachable, no answer: the API is away. */
export function useHealth(client: JetqClient, everyMs = 2_000): Health {
  const [health, setHealth] = useState<Health>("unknown");
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      let h: Health;
      try {
        await client.ready();
        h = "ok";
      } catch (err) {
        h = err instanceof JetqClientError && err.status >= 500 && err.status !== 502 && err.status !== 504 ? "nats_down" : "api_down";
      }
      if (stopped) return;
      setHealth(h);
      timer = setTimeout(run, everyMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [client]);
  return health;
}

/** A message for an error a call threw, for people. */
export function describeError(err: unknown): string {
  if (err instanceof JetqClientError) {
    if (err.status === 0) return "The API cannot be reached.";
    if (err.status === 403) return "Your role may not do this.";
    if (err.code === "unavailable") return "The API cannot reach NATS right now; try again shortly.";
    return `${err.message} (${err.code})`;
  }
  return err instanceof Error ? err.message : String(err);
}
