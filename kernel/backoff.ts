// Delay before the next attempt: exponential, capped, with "full jitter" so a burst of failures
// does not come back as a burst (the AWS architecture blog's recommendation, and BullMQ's).
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/** attempt is the 1-based attempt that just failed. */
export function retryDelayMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  // Half fixed, half jittered: delays still grow with each attempt, yet spread out.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
