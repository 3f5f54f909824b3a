// Small helpers for suites that talk to the API through the typed client: the error a call must
// fail with, and "the thing, or null when the server says it is not there".
import { expect } from "vitest";
import { JetqClientError } from "../../client/index.js";

/** The JetqClientError a call fails with; the test fails if the call succeeds or fails otherwise. */
export async function clientError(call: Promise<unknown>): Promise<JetqClientError> {
  const outcome = await call.then(
    (value: unknown) => ({ value }),
    (err: unknown) => ({ err }),
  );
  if ("value" in outcome) throw new Error(`expected the call to fail, it answered ${JSON.stringify(outcome.value)?.slice(0, 300)}`);
  expect(outcome.err).toBeInstanceOf(JetqClientError);
  return outcome.err as JetqClientError;
}

/** The answer, or null for a 404 not_found; any other failure is thrown. */
export async function orNotFound<T>(call: Promise<T>): Promise<T | null> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof JetqClientError && err.status === 404 && err.code === "not_found") return null;
    throw err;
  }
}
