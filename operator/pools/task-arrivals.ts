// Hears tasks arrive without polling: a plain core-NATS subscription to the work subjects
// (jetq.tasks.<priority>.<type>) receives every task published to the work stream — created over
// HTTP, by a ProcessingTask, by a handler or a DLQ replay — as the stream stores it, with no
// consumer on the server. Arrivals are gathered for `debounceMs` and reported as the set of task
// types seen, so a burst of thousands of tasks costs one callback, not thousands.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { parseTaskSubject } from "../../kernel/topology.js";

export interface TaskArrivals {
  stop(): void;
}

export function watchTaskArrivals(nc: NatsConnection, opts: { debounceMs: number; onArrivals: (types: ReadonlySet<string>) => void }): TaskArrivals {
  let seen = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const types = seen;
    seen = new Set();
    opts.onArrivals(types);
  };
  const sub: Subscription = nc.subscribe("jetq.tasks.>", {
    callback: (err, msg) => {
      if (err) return;
      const type = parseTaskSubject(msg.subject)?.type;
      if (!type) return;
      seen.add(type);
      // The first arrival of a quiet spell starts the clock; later ones ride along with it.
      timer ??= setTimeout(flush, opts.debounceMs);
    },
  });
  return {
    stop() {
      sub.unsubscribe();
      clearTimeout(timer);
    },
  };
}
