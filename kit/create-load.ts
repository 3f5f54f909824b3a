// A steady stream of task creates over HTTP, as clients send them, with every answer recorded
// (when it was sent and answered, its status, the task id or the error code), and what the
// answers say about an outage: how long the API answered 503 and how long no create was accepted.
// Shared by the NATS failover test and its benchmark.

export interface CreateAnswer {
  /** Milliseconds since the epoch. */
  sentAt: number;
  answeredAt: number;
  /** HTTP status; 0 when no answer came (connection error or client timeout). */
  status: number;
  id?: string;
  code?: string;
  outcome?: string;
}

export interface CreateLoadOptions {
  baseUrl: string;
  /** The create body of the n-th task. */
  body: (n: number) => unknown;
  /** Creates per second, spread over the lanes. */
  ratePerSecond: number;
  /** Requests in flight at most: a stalled create holds its lane, so the rest keep probing. */
  lanes?: number;
  headers?: Record<string, string>;
  /** A request with no answer after this long counts as status 0. */
  requestTimeoutMs?: number;
}

export interface CreateLoad {
  readonly answers: readonly CreateAnswer[];
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<CreateAnswer[]>;
}

export function startCreateLoad(opts: CreateLoadOptions): CreateLoad {
  const answers: CreateAnswer[] = [];
  const lanes = opts.lanes ?? 8;
  const interval = 1000 / opts.ratePerSecond;
  let n = 0;
  let next = Date.now();
  let stopped = false;

  async function one(): Promise<void> {
    const sentAt = Date.now();
    const answer: CreateAnswer = { sentAt, answeredAt: 0, status: 0 };
    try {
      const res = await fetch(`${opts.baseUrl}/api/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json", ...opts.headers },
        body: JSON.stringify(opts.body(n++)),
        signal: AbortSignal.timeout(opts.requestTimeoutMs ?? 30_000),
      });
      answer.status = res.status;
      const body = (await res.json().catch(() => null)) as { id?: string; error?: { code?: string; details?: { outcome?: string; taskId?: string } } } | null;
      if (res.ok) answer.id = body?.id;
      else {
        answer.code = body?.error?.code;
        answer.outcome = body?.error?.details?.outcome;
        if (body?.error?.details?.taskId) answer.id = body.error.details.taskId;
      }
    } catch (err) {
      answer.code = (err as Error).name;
    }
    answer.answeredAt = Date.now();
    answers.push(answer);
  }

  async function lane(): Promise<void> {
    while (!stopped) {
      // One shared schedule: each lane takes the next slot, so the rate holds whatever the latency.
      const slot = next;
      next += interval;
      const wait = slot - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else if (wait < -1000) next = Date.now(); // after a stall, resume the pace instead of bursting
      if (stopped) break;
      await one();
    }
  }

  const running = Array.from({ length: lanes }, () => lane());
  return {
    answers,
    async stop() {
      stopped = true;
      await Promise.all(running);
      return [...answers].sort((a, b) => a.sentAt - b.sentAt);
    },
  };
}

export interface OutageSummary {
  /** From `since` to the last 503 answered (0: none): how long after the outage began clients could still be told 503. */
  unavailableMs: number;
  /** 503 answers at or after `since`. */
  unavailableAnswers: number;
  /** The longest time at or after `since` with no create accepted (2xx), from `since` or an accepted create to the next. */
  noAcceptMs: number;
  /** The slowest accepted create sent at or after `since`. */
  slowestAcceptMs: number;
  /** The 503s by what they said: `unavailable/not_queued`, `outcome_unknown/unknown`, `unavailable` (not connected)… */
  unavailableCodes: Record<string, number>;
  /** Answers that were neither 2xx nor 503 (should be none). */
  otherAnswers: CreateAnswer[];
}

/** What the answers say about an outage that began at `since` (e.g. the moment a server was killed). */
export function outageAfter(answers: readonly CreateAnswer[], since: number): OutageSummary {
  const after = answers.filter((a) => a.answeredAt >= since);
  const unavailable = after.filter((a) => a.status === 503).map((a) => a.answeredAt).sort((a, b) => a - b);
  const accepted = after.filter((a) => a.status >= 200 && a.status < 300);
  const acceptTimes = accepted.map((a) => a.answeredAt).sort((a, b) => a - b);
  let noAcceptMs = 0;
  let previous = since;
  for (const t of acceptTimes) {
    noAcceptMs = Math.max(noAcceptMs, t - previous);
    previous = t;
  }
  const unavailableCodes: Record<string, number> = {};
  for (const a of after) {
    if (a.status !== 503) continue;
    const key = [a.code ?? "?", a.outcome].filter(Boolean).join("/");
    unavailableCodes[key] = (unavailableCodes[key] ?? 0) + 1;
  }
  return {
    unavailableCodes,
    unavailableMs: unavailable.length ? unavailable[unavailable.length - 1]! - since : 0,
    unavailableAnswers: unavailable.length,
    noAcceptMs,
    slowestAcceptMs: accepted.filter((a) => a.sentAt >= since).reduce((m, a) => Math.max(m, a.answeredAt - a.sentAt), 0),
    otherAnswers: after.filter((a) => a.status !== 503 && (a.status < 200 || a.status >= 300)),
  };
}
