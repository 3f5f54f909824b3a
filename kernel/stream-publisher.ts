// StreamPublisher: JetStream publishes on the hot path (task messages, state writes) without a
// request object, timer and inbox per call. All replies come to one subscription and are matched
// by token; one sweep times out what the server never answered. Measured on the benchmark, the
// per-publish cost of `js.publish` was most of a worker's CPU (bench/README.md).
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { connectionInbox } from "./inbox.js";

export interface PublishOptions {
  /** Nats-Msg-Id: the stream drops a repeat within its duplicate window. */
  msgId?: string;
  /** Nats-Expected-Last-Subject-Sequence: compare-and-set on the subject (0 = must not exist). */
  expectLastSubjectSequence?: number;
  /** Nats-TTL: per-message TTL on streams that allow it ("10s", "7d"…). */
  ttl?: string;
  headers?: Record<string, string>;
  /** How long to wait for the server's acknowledgement (default: the publisher's timeout). */
  timeoutMs?: number;
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

/**
 * The client refused to send the message at all: nothing was stored. Either the connection was
 * closed or draining (another try, on another connection, may work), or the message itself cannot
 * be sent (`aboutTheMessage`: over the server's max_payload, a bad subject): no try ever will.
 */
export class PublishNotSentError extends Error {
  override name = "PublishNotSentError";
  constructor(
    message: string,
    readonly aboutTheMessage = false,
  ) {
    super(message);
  }
}

/**
 * The write got no answer from a stream leader: none acknowledged in time, the client could not
 * send it, or no stream listened (503: in a cluster, while a stream elects a new leader). The
 * same write may work in a moment; after a timeout it may also have landed.
 */
export const isUnconfirmedPublish = (err: unknown): boolean =>
  err instanceof PublishTimeoutError || (err instanceof PublishNotSentError && !err.aboutTheMessage) || (err instanceof PublishRejected && err.status === 503);

/**
 * publishConfirmed() gave up before the server confirmed the write. `maybeStored`: at least one
 * attempt went out without a definite answer, so the server may still store it (a frozen server
 * holds it in its socket buffer); false when every attempt was refused before it was stored.
 */
export class PublishUnconfirmedError extends Error {
  override name = "PublishUnconfirmedError";
  constructor(
    message: string,
    readonly maybeStored: boolean,
    readonly attempts: number,
  ) {
    super(message);
  }
}

export interface ConfirmOptions {
  /** Give up after this long in all. */
  deadlineMs: number;
  /** Wait at most this long for each attempt's acknowledgement. */
  attemptMs: number;
}

interface Pending {
  resolve: (ack: PublishAck) => void;
  reject: (err: Error) => void;
  deadline: number;
}

const decoder = new TextDecoder();

export class StreamPublisher {
  private readonly prefix: string;
  private readonly pending = new Map<number, Pending>();
  private readonly sub: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 10_000,
  ) {
    this.prefix = connectionInbox(nc);
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (_err, msg) => this.settle(msg) });
    // Often enough for the shortest per-call timeout callers use (publishConfirmed's attempts).
    this.sweeper = setInterval(() => this.sweep(), Math.min(250, timeoutMs));
    this.sweeper.unref();
  }

  publish(subject: string, data: Uint8Array | string, opts: PublishOptions = {}): Promise<PublishAck> {
    return this.send(subject, data, opts, opts.timeoutMs ?? this.timeoutMs);
  }

  private send(subject: string, data: Uint8Array | string, opts: PublishOptions, timeoutMs: number): Promise<PublishAck> {
    const token = ++this.next;
    const reply = `${this.prefix}.${token}`;
    let h: MsgHdrs | undefined;
    if (opts.msgId !== undefined || opts.expectLastSubjectSequence !== undefined || opts.ttl !== undefined || opts.headers) {
      h = natsHeaders();
      if (opts.msgId !== undefined) h.set("Nats-Msg-Id", opts.msgId);
      if (opts.expectLastSubjectSequence !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(opts.expectLastSubjectSequence));
      if (opts.ttl !== undefined) h.set("Nats-TTL", opts.ttl);
      if (opts.headers) for (const k in opts.headers) h.set(k, opts.headers[k]!);
    }
    return new Promise<PublishAck>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + timeoutMs });
      try {
        this.nc.publish(subject, data, h ? { reply, headers: h } : { reply });
      } catch (err) {
        this.pending.delete(token);
        // An open connection refuses only what is wrong with the message (it buffers while reconnecting).
        reject(new PublishNotSentError((err as Error).message, !this.nc.isClosed() && !this.nc.isDraining()));
      }
    });
  }

  /**
   * Publishes until the server confirms, retrying with the same options (give a `msgId`: the
   * stream's dedupe makes a repeat of a write that did land harmless) until `deadlineMs` has
   * passed. A refusal that retrying cannot change (a failed compare-and-set, a message over the
   * limit) is thrown as it is; otherwise PublishUnconfirmedError says whether the write may still
   * land.
   */
  async publishConfirmed(subject: string, data: Uint8Array | string, opts: PublishOptions, confirm: ConfirmOptions): Promise<PublishAck> {
    const deadline = Date.now() + confirm.deadlineMs;
    let maybeStored = false;
    let attempts = 0;
    let last: Error | undefined;
    for (let remaining = confirm.deadlineMs; remaining > 0; remaining = deadline - Date.now()) {
      attempts++;
      try {
        return await this.send(subject, data, opts, Math.min(confirm.attemptMs, remaining));
      } catch (err) {
        last = err as Error;
        // 503 "no responders": no stream took it. Any other refusal by the server is final — but
        // after an unconfirmed attempt it may be about that attempt's copy, so the outcome stays
        // unknown; a compare-and-set's conflict is the answer itself (the caller reads the owner).
        if (err instanceof PublishRejected && err.status !== 503) {
          if (!maybeStored || opts.expectLastSubjectSequence !== undefined) throw err;
          throw new PublishUnconfirmedError(`refused after an unconfirmed attempt: ${err.message}`, true, attempts);
        }
        if (!(err instanceof PublishRejected) && !(err instanceof PublishNotSentError)) maybeStored = true;
        const pause = Math.min(50 * 2 ** attempts, 500, deadline - Date.now());
        if (pause > 0) await new Promise((r) => setTimeout(r, pause));
      }
    }
    throw new PublishUnconfirmedError(`not confirmed after ${attempts} attempt(s) in ${confirm.deadlineMs} ms: ${last?.message ?? "no time to try"}`, maybeStored, attempts);
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
    const now = Date.now();
    // Deadlines differ per call, so every pending publish is looked at (a few hundred at most).
    for (const [token, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(token);
      p.reject(new PublishTimeoutError("publish not acknowledged in time"));
    }
  }
}
