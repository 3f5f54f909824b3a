// PullSource: pulls task messages from one JetStream consumer, either "what is there now"
// (no_wait, so a worker can try high before normal before low without waiting on an empty
// priority) or a long poll when the worker is idle. nats.js's fetch() has no no_wait and a 1 s
// minimum wait, which would let an empty low-priority queue stall high-priority work.
import { type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { connectionInbox } from "../kernel/inbox.js";

export interface DeliveryInfo {
  stream: string;
  consumer: string;
  /** 1 on the first delivery; JetStream's count, which survives worker crashes. */
  deliveryCount: number;
  streamSeq: number;
  /** Messages left for this consumer after this one. */
  pending: number;
}

/** One delivered task message and the acknowledgements JetStream understands. */
export class Delivery {
  readonly info: DeliveryInfo;
  /** Called once, when ack() or term() takes the message off the stream for good. */
  onSettled: (() => void) | undefined;
  constructor(private readonly msg: Msg) {
    this.info = parseAckSubject(msg.reply ?? "");
  }
  get subject() { return this.msg.subject; }
  get data() { return this.msg.data; }
  get headers(): MsgHdrs | undefined { return this.msg.headers; }
  ack() {
    this.msg.respond("+ACK");
    this.settled();
  }
  /** Redeliver after `delayMs` (NakWithDelay); 0 means as soon as possible. */
  nak(delayMs = 0) { this.msg.respond(delayMs > 0 ? `-NAK ${JSON.stringify({ delay: delayMs * 1_000_000 })}` : "-NAK"); }
  /** In-progress: resets the ack-wait timer so a long task is not redelivered while alive. */
  working() { this.msg.respond("+WPI"); }
  term(reason: string) {
    this.msg.respond(`+TERM ${reason}`);
    this.settled();
  }
  private settled() {
    const f = this.onSettled;
    this.onSettled = undefined;
    f?.();
  }
}

// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>, or the longer form with
// domain and account hash that newer servers may send.
export function parseAckSubject(reply: string): DeliveryInfo {
  const t = reply.split(".");
  const o = t.length === 9 ? 2 : 4;
  return {
    stream: t[o] ?? "",
    consumer: t[o + 1] ?? "",
    deliveryCount: Number(t[o + 2] ?? 1),
    streamSeq: Number(t[o + 3] ?? 0),
    pending: Number(t[o + 6] ?? 0),
  };
}

interface OpenRequest {
  remaining: number;
  resolve: (received: number) => void;
  received: number;
  timer: NodeJS.Timeout;
  sub: Subscription;
  longPoll: boolean;
}

export class PullSource {
  private readonly prefix: string;
  private readonly open = new Map<string, OpenRequest>();
  /**
   * Subscriptions of requests the server has finished, kept for the next requests: a SUB and an
   * UNSUB per pull would cost the server a change to its subscription table each time.
   */
  private readonly spare: { inbox: string; sub: Subscription }[] = [];
  private seq = 0;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    readonly stream: string,
    readonly consumer: string,
    /** `fromLongPoll`: the delivery answered an idle long poll rather than an immediate pull. */
    private readonly onDelivery: (d: Delivery, fromLongPoll: boolean) => void,
  ) {
    this.prefix = connectionInbox(nc);
  }

  /** Messages asked for by immediate pulls and not delivered yet: capacity the worker has promised. */
  get outstanding() {
    let n = 0;
    for (const r of this.open.values()) if (!r.longPoll) n += r.remaining;
    return n;
  }

  /** Whether an idle long poll is open on this consumer. */
  get polling() {
    for (const r of this.open.values()) if (r.longPoll) return true;
    return false;
  }

  /** Takes up to `batch` messages available now; resolves with how many came. */
  pullNow(batch: number): Promise<number> {
    return this.request(batch, { batch, no_wait: true }, 10_000, false);
  }

  /** Waits up to `expiresMs` for up to `batch` messages; resolves when the request ends. */
  longPoll(batch: number, expiresMs: number): Promise<number> {
    return this.request(batch, { batch, expires: expiresMs * 1_000_000 }, expiresMs + 5_000, true);
  }

  /**
   * Stops pulling: drops every open request's subscription. The server skips pull requests whose
   * reply subject has lost interest, so a stopping worker is not handed more work.
   */
  close() {
    this.closed = true;
    this.abandonOpenRequests();
    for (const { sub } of this.spare.splice(0)) sub.unsubscribe();
  }

  /** Ends every open request on this side only (the server lost them, in a reconnect). */
  abandonOpenRequests() {
    for (const inbox of [...this.open.keys()]) this.finish(inbox, false);
  }

  private request(batch: number, body: object, clientTimeoutMs: number, longPoll: boolean): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    // One subscription per open request: JetStream delivers with the task's own subject, so only
    // the subscription tells which request a message answers.
    const reused = this.spare.pop();
    const inbox = reused?.inbox ?? `${this.prefix}.${++this.seq}`;
    return new Promise<number>((resolve) => {
      // A safety net for a request the server never finished (a reconnect dropped it).
      const timer = setTimeout(() => this.finish(inbox, false), clientTimeoutMs);
      const sub = reused?.sub ?? this.nc.subscribe(inbox, { callback: (_err, msg) => this.route(inbox, msg) });
      this.open.set(inbox, { remaining: batch, resolve, received: 0, timer, sub, longPoll });
      try {
        this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${this.consumer}`, JSON.stringify(body), { reply: inbox });
      } catch {
        this.finish(inbox, false);
      }
    });
  }

  private route(inbox: string, msg: Msg) {
    const req = this.open.get(inbox);
    const status = msg.headers?.code ?? 0;
    if (status === 0 && msg.reply) {
      if (req) {
        req.received++;
        req.remaining--;
      }
      this.onDelivery(new Delivery(msg), req?.longPoll ?? false);
      if (req && req.remaining <= 0) this.finish(inbox, true);
      return;
    }
    // 404 no messages, 408 request expired, 409 consumer gone or limits: the request is over.
    // 100 is an idle heartbeat: nothing to do.
    if (status !== 100) this.finish(inbox, true);
  }

  /** `serverDone`: the server has ended the request, so nothing more can arrive on its inbox. */
  private finish(inbox: string, serverDone: boolean) {
    const req = this.open.get(inbox);
    if (!req) return;
    clearTimeout(req.timer);
    this.open.delete(inbox);
    if (serverDone && !this.closed && this.spare.length < 8) this.spare.push({ inbox, sub: req.sub });
    else req.sub.unsubscribe();
    req.resolve(req.received);
  }
}
