// LanceDB commits optimistically: two processes writing the same table at once may both build a
// new version from the same base, and the loser gets a commit conflict when the two cannot be
// merged (a delete against a compaction, two merge-inserts touching one fragment). The operation
// is then safe to run again against the latest version; this does so, with jittered backoff so
// racing writers fall out of step.

const CONFLICT = /commit conflict|concurrent (commit|writer)|write contention|retryable|conflicting transaction|version \d+ already exists/i;

export async function retryingConflicts<T>(operation: () => Promise<T>, attempts = 12): Promise<T> {
  let delay = 10;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (err) {
      if (attempt >= attempts || !CONFLICT.test(String((err as Error)?.message ?? err))) throw err;
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random())));
      delay = Math.min(delay * 2, 1000);
    }
  }
}
