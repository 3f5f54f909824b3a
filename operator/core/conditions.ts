// Status conditions as the Kubernetes API conventions (and apimachinery's meta.SetStatusCondition)
// define them: one entry per type, lastTransitionTime moves only when status changes.
import type { Condition } from "./resources.js";

export interface ConditionInput {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

/**
 * Returns a new list with `c` set: added when its type is new, else updated in place (order kept).
 * lastTransitionTime is kept while the status stays the same, and set to `now` when it changes;
 * reason, message and observedGeneration always take the new values. The input is not modified.
 */
export function setCondition(conditions: Condition[] | undefined, c: ConditionInput, observedGeneration: number, now: Date = new Date()): Condition[] {
  const list = conditions ?? [];
  const existing = list.find((x) => x.type === c.type);
  const lastTransitionTime = existing && existing.status === c.status && existing.lastTransitionTime ? existing.lastTransitionTime : rfc3339(now);
  const next: Condition = { type: c.type, status: c.status, reason: c.reason, message: c.message, lastTransitionTime, observedGeneration };
  return existing ? list.map((x) => (x === existing ? next : x)) : [...list, next];
}

export function findCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((x) => x.type === type);
}

export function isConditionTrue(conditions: Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}

/** True when setting `c` would change nothing a reader sees (so a reconcile can skip the patch). */
export function conditionUnchanged(conditions: Condition[] | undefined, c: ConditionInput, observedGeneration: number): boolean {
  const x = findCondition(conditions, c.type);
  return !!x && x.status === c.status && x.reason === c.reason && x.message === c.message && x.observedGeneration === observedGeneration;
}

// metav1.Time is RFC 3339 with second precision; the CRD schema says format: date-time.
const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
