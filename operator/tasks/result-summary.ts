// What of a task's result a ProcessingTask's status holds. A result can be megabytes (etcd keeps
// objects up to 1.5 MiB, and every watcher receives every write), so the status gets a summary of
// bounded size; the full result stays in jetq (GET /api/tasks/{id}/status).

/** The most JSON bytes a result summary takes in the status. */
export const RESULT_SUMMARY_MAX_BYTES = 4096;
/** A top-level field larger than this is left out of a summary (it would crowd out the others). */
const FIELD_MAX_BYTES = 512;
/** Field names listed as omitted, at most. */
const OMITTED_NAMES_MAX = 20;
const NAME_MAX_CHARS = 64;

/** Marks a summary that is not the whole result; the key cannot collide with a camelCase field. */
export const TRUNCATED_KEY = "_truncated";

const bytesOf = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? "null");

/**
 * The result as the status shows it, an object (the CRD's `result` is one): a result that is not
 * an object is wrapped as `{value}`. Up to RESULT_SUMMARY_MAX_BYTES of JSON it is the result
 * itself; beyond, its top-level fields of up to FIELD_MAX_BYTES each, in order, while they fit,
 * and `_truncated: {totalBytes, omittedFields, omittedCount, fullResult}` saying what was left out
 * and where the whole result is. Null when the task gave none.
 */
export function resultSummary(result: unknown, taskId: string): Record<string, unknown> | null {
  if (result === undefined || result === null) return null;
  const asObject: Record<string, unknown> = typeof result === "object" && !Array.isArray(result) ? (result as Record<string, unknown>) : { value: result };
  const totalBytes = bytesOf(asObject);
  if (totalBytes <= RESULT_SUMMARY_MAX_BYTES) return asObject;

  const marker = (omitted: string[]) => ({
    totalBytes,
    omittedFields: omitted.slice(0, OMITTED_NAMES_MAX).map((n) => (n.length > NAME_MAX_CHARS ? `${n.slice(0, NAME_MAX_CHARS)}…` : n)),
    omittedCount: omitted.length,
    fullResult: `GET /api/tasks/${taskId}/status`,
  });
  // Room for the marker at its largest (every name listed), so adding it never breaks the bound.
  const entries = Object.entries(asObject);
  const worstMarker = bytesOf({ [TRUNCATED_KEY]: marker(entries.map(([k]) => k)) });
  const budget = RESULT_SUMMARY_MAX_BYTES - worstMarker;
  const kept: Record<string, unknown> = {};
  const omitted: string[] = [];
  let used = 2; // "{}"
  for (const [key, value] of entries) {
    const size = bytesOf(key) + 1 + bytesOf(value) + 1; // "key":value,
    if (size <= FIELD_MAX_BYTES && used + size <= budget) {
      kept[key] = value;
      used += size;
    } else {
      omitted.push(key);
    }
  }
  return { ...kept, [TRUNCATED_KEY]: marker(omitted) };
}

/** A string cut to `max` characters, saying it was cut. */
export function bounded(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
