// StreamPublisher: JetStream publishes on the hot path (task messages, state writes) without a
// request object, timer and inbox per call. All replies come to one subscription and are matched
// by token; one sweep times out what the server never answered. Measured on the benchmark, the
// per-publish cost of `js.publish` was most of a worker's CPU (bench/README.md).
import { createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

export interface PublishOptions {
  /** Nats-Msg-Id: the stream drops a repeat within its duplicate window. */
  msgId?: string;
  /** Nats-Expected-Last-Subject-Sequence: compare-and-set on the subject (0 = must not exist). */
  expectLastSubjectSequence?: number;
  /** Nats-TTL: per-message TTL on streams that allow it ("10s", "7d"…). */
  ttl?: string;
  headers?: Record<string, string>;
}

export interface PublishAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** The server refused the write; `code` is JetStream's error code (10071: wrong last sequence). */
export class PublishRejected extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "PublishRejected";
  }
}

/** No acknowledgement in time: NATS is away or overloaded, and the write may or may not be stored. */
export class PublishTimeoutError extends Error {
  override name = "TimeoutError"; // as nats.js names its own timeouts
}

interface Pending {
  resolve: (ack: PublishAck) => void;
  reject: (err: Error) => void;
  at: number;
}

const decoder = new TextDecoder();

export class StreamPublisher {
  private readonly prefix = createInbox();
  private readonly pending = new Map<number, Pending>();
  private readonly sub: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 10_000,
  ) {
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (_err, msg) => this.settle(msg) });
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, timeoutMs));
    this.sweeper.unref();
  }

  publish(subject: string, data: Uint8Array | string, opts: PublishOptions = {}): Promise<PublishAck> {
    const token = ++this.next;
    let h: MsgHdrs | undefined;
    if (opts.msgId !== undefined || opts.expectLastSubjectSequence !== undefined || opts.ttl !== undefined || opts.headers) {
      h = natsHeaders();
      if (opts.msgId !== undefined) h.set("Nats-Msg-Id", opts.msgId);
      if (opts.expectLastSubjectSequence !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(opts.expectLastSubjectSequence));
      if (opts.ttl !== undefined) h.set("Nats-TTL", opts.ttl);
      for (const [k, v] of Object.entries(opts.headers ?? {})) h.set(k, v);
    }
    return new Promise<PublishAck>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, at: Date.now() });
      try {
        this.nc.publish(subject, data, { reply: `${this.prefix}.${token}`, ...(h ? { headers: h } : {}) });
      } catch (err) {
        this.pending.delete(token);
        reject(err as Error);
      }
    });
  }

  close() {
    clearInterval(this.sweeper);
    this.sub.unsubscribe();
    for (const p of this.pending.values()) p.reject(new Error("publisher closed"));
    this.pending.clear();
  }

  private settle(msg: Msg) {
    const token = Number(msg.subject.slice(this.prefix.length + 1));
    const p = this.pending.get(token);
    if (!p) return; // timed out already
    this.pending.delete(token);
    const status = msg.headers?.code ?? 0;
    if (status === 503) return p.reject(new PublishRejected(503, 0, "no stream listens on this subject (JetStream unavailable?)"));
    try {
      const body = JSON.parse(decoder.decode(msg.data)) as { stream?: string; seq?: number; duplicate?: boolean; error?: { code: number; err_code: number; description: string } };
      if (body.error) return p.reject(new PublishRejected(body.error.code, body.error.err_code, body.error.description));
      p.resolve({ stream: body.stream ?? "", seq: body.seq ?? 0, duplicate: body.duplicate === true });
    } catch (err) {
      p.reject(new Error(`unreadable publish ack: ${(err as Error).message}`));
    }
  }

  private sweep() {
    const cutoff = Date.now() - this.timeoutMs;
    for (const [token, p] of this.pending) {
      if (p.at > cutoff) break; // insertion order is time order
      this.pending.delete(token);
      p.reject(new PublishTimeoutError(`publish not acknowledged within ${this.timeoutMs} ms`));
    }
  }
}
