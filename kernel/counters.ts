// Atomic counters kept by NATS (JetStream counter streams, `Nats-Incr`): one round trip adds to a
// counter and answers its new value, whichever API replica asks, so limits hold across replicas
// without compare-and-set retries under contention. The streams are made by topology.ts.
import { headers, type NatsConnection } from "@nats-io/transport-node";
import type { JetStreamManager } from "@nats-io/jetstream";
import { UnavailableError } from "./errors.js";

const REQUEST_TIMEOUT_MS = 5_000;

export class NatsCounters {
  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
  ) {}

  /** Adds `by` (may be negative) to the counter of `subject`; answers its new value. */
  async add(subject: string, by: number): Promise<number> {
    const h = headers();
    h.set("Nats-Incr", by >= 0 ? `+${by}` : String(by));
    const reply = await this.nc.request(subject, new Uint8Array(), { timeout: REQUEST_TIMEOUT_MS, headers: h });
    const ack = reply.json<{ val?: string; error?: { description?: string } }>();
    if (ack.val === undefined) throw new UnavailableError("limits_unavailable", `the limit counter ${subject} could not be updated: ${ack.error?.description ?? "no value in the answer"}`);
    return Number(ack.val);
  }

  /** The counter's value; 0 when it was never written (or its window aged out). */
  async read(subject: string): Promise<number> {
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
      if (!m) return 0;
      return Number(m.json<{ val?: string }>().val ?? 0);
    } catch (err) {
      if ((err as { code?: number; status?: number }).status === 404 || /no message found/i.test(String((err as Error).message))) return 0;
      throw err;
    }
  }
}

/** A tenant name as one subject token: tenants are checked names, but never let `.`/`*`/`>` through. */
export const subjectToken = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, (c) => `~${c.charCodeAt(0).toString(16)}`);
