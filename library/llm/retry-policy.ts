// The one retry policy for calls to OpenAI-compatible APIs (embeddings, chat completions). The
// SDK's own retries are off so that this decides: connection failures, 408, 409, 429 and 5xx are
// retried with exponential, jittered backoff, or after the server's Retry-After when it sends one;
// a Retry-After longer than the caller may wait is not sat out (the task runtime retries later
// instead of a worker slot idling); an exhausted quota (a 429 that waiting does not cure) and any
// other 4xx are the request's fault and fail at once. Callers name their own errors.
import { APIConnectionError, APIError, APIUserAbortError } from "openai";
import { retryDelayMs, type BackoffPolicy } from "../../kernel/backoff.js";
import { retryAfterMs, sleep } from "./retry-after.js";

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** Backoff between retries when the server does not say how long to wait. */
  backoff: BackoffPolicy;
  /** The longest Retry-After waited out here. */
  maxRetryAfterMs: number;
}

/** What went wrong with one call, as the policy sees it. */
export interface CallFailure {
  /** The HTTP status, when the API answered. */
  status?: number;
  /** `<status>: <the API's own message>`, or the connection error's message. */
  message: string;
  error: unknown;
}

/** How a caller turns the policy's verdicts into its own errors. */
export interface RetryReporting {
  /** The request is wrong (4xx other than the retryable ones): not worth retrying anywhere. */
  rejected(f: CallFailure): Error;
  /** Still failing after every retry; `attempts` counts the first one too. */
  exhausted(f: CallFailure, attempts: number): Error;
  /** The server asked for a wait longer than `maxRetryAfterMs`. */
  waitTooLong(f: CallFailure, waitMs: number): Error;
  /** Called before each retry, for logs and metrics. */
  onRetry?(info: { attempt: number; delayMs: number; status?: number; message: string }): void;
}

type Verdict = { kind: "retry"; failure: CallFailure; headers?: Headers } | { kind: "reject"; failure: CallFailure } | { kind: "other" };

/** Runs `call`, retrying it as the policy says; `signal` aborts both the call and the waits. */
export async function withRetries<T>(call: () => Promise<T>, policy: RetryPolicy, report: RetryReporting, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await call();
    } catch (err) {
      if (err instanceof APIUserAbortError || signal?.aborted) {
        signal?.throwIfAborted();
        throw err;
      }
      const verdict = classify(err);
      if (verdict.kind === "other") throw err;
      if (verdict.kind === "reject") throw report.rejected(verdict.failure);
      if (attempt > policy.maxRetries) throw report.exhausted(verdict.failure, attempt);
      const serverSays = retryAfterMs(verdict.headers);
      if (serverSays !== undefined && serverSays > policy.maxRetryAfterMs) throw report.waitTooLong(verdict.failure, serverSays);
      const delayMs = serverSays ?? retryDelayMs(policy.backoff, attempt);
      const { status, message } = verdict.failure;
      report.onRetry?.({ attempt, delayMs, ...(status ? { status } : {}), message });
      await sleep(delayMs, signal);
    }
  }
}

function classify(err: unknown): Verdict {
  if (err instanceof APIConnectionError) return { kind: "retry", failure: { message: err.message, error: err } };
  if (!(err instanceof APIError) || err.status === undefined) return { kind: "other" };
  const status = err.status;
  const failure: CallFailure = { status, message: apiMessage(err), error: err };
  // An exhausted quota also answers 429, but waiting does not refill it.
  if (status === 429 && err.code === "insufficient_quota") return { kind: "reject", failure };
  if (status === 408 || status === 409 || status === 429 || status >= 500) return { kind: "retry", failure, headers: err.headers };
  return { kind: "reject", failure };
}

function apiMessage(err: APIError): string {
  const body = err.error as { message?: unknown } | undefined;
  const detail = typeof body?.message === "string" ? body.message : err.message;
  return `${err.status}: ${detail}`;
}
