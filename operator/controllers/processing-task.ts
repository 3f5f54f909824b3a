// The ProcessingTask controller: a resource becomes a jetq task, and the task's state comes back
// into the resource's status.
//
// - Create: the task goes through the kernel's TaskQueue, with the API's validation and metrics,
//   and the resource's UID as idempotency key: a re-reconcile, a stale cache or an operator
//   restart gets the same task back, never a second one. A refusal is final: phase Failed with
//   the kernel's message and a Warning Event. The task belongs to the tenant of the resource's
//   namespace (tenantOf: JETQ_TENANT_FROM_NAMESPACE, JETQ_NAMESPACE_TENANTS).
// - Mirror: one subscription to every task event ("*") wakes the resource whose status names the
//   task; its reconcile reads the task's stored state (the events are core NATS, so a periodic
//   resync covers any that were lost) and patches status when it changed, with an Event when
//   the phase did. A finished resource keeps its status after the task record expires.
// - Delete: the finalizer cancels a task that is still queued, retrying or running, then lets go.
import { CustomObjectsApi, type KubeConfig, type KubernetesListObject } from "@kubernetes/client-node";
import { JetqError } from "../../kernel/errors.js";
import type { Logger } from "../../kernel/logger.js";
import type { TaskEvents } from "../../kernel/task-events.js";
import type { TaskQueue } from "../../kernel/task-queue.js";
import { DEFAULT_TENANT, isTerminal, type TaskRecord } from "../../kernel/task.js";
import type { Controller } from "../core/controller.js";
import type { EventRecorder } from "../core/events.js";
import { createInformer, type Informer } from "../core/informer.js";
import type { OperatorMetrics } from "../core/metrics.js";
import { keyOf, PROCESSING_TASKS, resourcePath, splitKey, type ProcessingTask, type ProcessingTaskStatus } from "../core/resources.js";
import { httpStatusOf, patchMetadata, patchStatus } from "../core/status.js";
import { WorkQueue } from "../core/work-queue.js";
import { eventOfPhase, isFinishedPhase, statusOfLostTask, statusOfRecord, statusOfRefusal } from "../tasks/task-status.js";

export const CANCEL_FINALIZER = "jetq.io/cancel-task";
export const CONTROLLER_NAME = "processingtask";
const MAX_EVENTS_IN_FLIGHT = 16;

export interface ProcessingTaskControllerDeps {
  kc: KubeConfig;
  queue: TaskQueue;
  events: TaskEvents;
  recorder: EventRecorder;
  metrics: OperatorMetrics;
  logger: Logger;
  /** Every unfinished resource is reconciled at least this often, whatever events said. */
  resyncMs: number;
  /** Namespaces to watch; empty or absent: all. */
  watchNamespaces?: string[];
  /** The tenant a resource's task belongs to, from its namespace (JETQ_TENANT_FROM_NAMESPACE); absent: `default`. */
  tenantOf?: (namespace: string | undefined) => string;
  /** Resources reconciled at once. Default 16 (JETQ_OPERATOR_TASK_CONCURRENCY). */
  concurrency?: number;
}

/** What this replica remembers of a resource (by UID), so a cache that lags its own writes costs no repeats. */
interface Memo {
  /** The task created for it, before the cache shows status.taskId. */
  taskId?: string;
  /** The status last written, and the resourceVersion it was computed from. */
  written?: { json: string; fromVersion: string };
  /** The phase last announced with an Event. */
  announced?: string;
  /** jetq refused its task (final: the spec cannot change). */
  refused?: boolean;
  /** A reconcile is creating its task right now (its own finalizer write need not wake it again). */
  creating?: boolean;
  /** When it was last reconciled (resync skips what events keep fresh). */
  reconciledAt?: number;
}

export function processingTaskController(deps: ProcessingTaskControllerDeps): Controller {
  const log = deps.logger.child({ controller: CONTROLLER_NAME });
  const api = deps.kc.makeApiClient(CustomObjectsApi);
  const { group, version, plural } = PROCESSING_TASKS;
  const namespaces: Array<string | undefined> = deps.watchNamespaces?.length ? deps.watchNamespaces : [undefined];
  const informers: Array<Informer<ProcessingTask>> = namespaces.map((namespace) =>
    createInformer<ProcessingTask>(deps.kc, {
      path: resourcePath(PROCESSING_TASKS, namespace),
      list: () =>
        (namespace
          ? api.listNamespacedCustomObject({ group, version, plural, namespace })
          : api.listClusterCustomObject({ group, version, plural })) as Promise<KubernetesListObject<ProcessingTask>>,
      logger: log,
    }),
  );
  const informerOf = (namespace: string | undefined) => (informers.length === 1 ? informers[0]! : informers[namespaces.indexOf(namespace)]);
  const cached = (key: string) => {
    const { namespace, name } = splitKey(key);
    return informerOf(namespace)?.get(name, namespace);
  };

  /** task id → resource key, for the task events; kept from the cache, so it holds what the cache holds. */
  const keyOfTask = new Map<string, string>();
  const memos = new Map<string, Memo>();
  const memoOf = (uid: string) => {
    let m = memos.get(uid);
    if (!m) memos.set(uid, (m = {}));
    return m;
  };

  const work = new WorkQueue({ name: CONTROLLER_NAME, reconcile, concurrency: deps.concurrency ?? 16, logger: log, metrics: deps.metrics });

  function onChange(type: "add" | "update" | "delete", obj: ProcessingTask) {
    const key = keyOf(obj);
    const uid = obj.metadata?.uid ?? "";
    const taskId = obj.status?.taskId ?? memos.get(uid)?.taskId;
    if (type === "delete") {
      if (taskId && keyOfTask.get(taskId) === key) keyOfTask.delete(taskId);
      memos.delete(uid);
      return;
    }
    if (taskId) keyOfTask.set(taskId, key);
    // Our own status writes come back as updates: only what needs this controller wakes it
    // (a new resource, a deletion, a missing finalizer or task); task events and resync do the rest.
    const creating = memos.get(uid)?.creating ?? false;
    if (type === "add" || obj.metadata?.deletionTimestamp || !hasFinalizer(obj) || (!taskId && !creating)) work.add(key);
  }

  async function reconcile(key: string): Promise<void> {
    let obj = cached(key);
    if (!obj?.metadata?.uid) return; // gone: nothing left to do (its finalizer ran before)
    const memo = memoOf(obj.metadata.uid);
    memo.reconciledAt = Date.now();
    if (obj.metadata.deletionTimestamp) return finalize(obj, memo);

    const taskId = obj.status?.taskId ?? memo.taskId;
    // A resource already refused stays refused: its spec cannot change (CEL rule).
    const refused = !taskId && (obj.status?.phase === "Failed" || memo.refused === true);
    memo.creating = !taskId && !refused;
    try {
      if (!hasFinalizer(obj)) {
        obj = await setFinalizers(obj, [...(obj.metadata.finalizers ?? []), CANCEL_FINALIZER]);
        if (!obj) return;
      }
      if (taskId) return await mirror(obj, memo, taskId);
      if (!refused) return await createTask(obj, memo);
    } finally {
      memo.creating = false;
    }
  }

  async function createTask(obj: ProcessingTask, memo: Memo): Promise<void> {
    const { type, payload, priority, maxAttempts, timeoutSeconds } = obj.spec;
    let record: TaskRecord;
    try {
      const tenant = deps.tenantOf?.(obj.metadata!.namespace) ?? DEFAULT_TENANT;
      ({ record } = await deps.queue.create({ type, payload, priority, maxAttempts, timeoutSeconds, idempotencyKey: obj.metadata!.uid }, { tenant }));
    } catch (err) {
      // NATS not answering is retried (the same key never creates twice); anything else is jetq
      // refusing this task, for good.
      if (!(err instanceof JetqError) || err.kind === "unavailable") throw err;
      log.info("task refused", { key: keyOf(obj), code: err.code, message: err.message });
      memo.refused = true;
      return writeStatus(obj, memo, statusOfRefusal(err, generationOf(obj), obj.status?.conditions));
    }
    memo.taskId = record.id;
    keyOfTask.set(record.id, keyOf(obj));
    // created: false means an earlier reconcile created it: the record may be further along.
    return writeStatus(obj, memo, statusOfRecord(record, generationOf(obj), obj.status?.conditions));
  }

  async function mirror(obj: ProcessingTask, memo: Memo, taskId: string): Promise<void> {
    const found = await deps.queue.find(taskId);
    if (!found) {
      // Finished tasks' records expire (JETQ_FINISHED_TTL_S): the resource keeps what it showed.
      if (isFinishedPhase(obj.status?.phase)) return;
      log.warn("task lost", { key: keyOf(obj), taskId });
      return writeStatus(obj, memo, statusOfLostTask(taskId, generationOf(obj), obj.status?.conditions));
    }
    return writeStatus(obj, memo, statusOfRecord(found.record, generationOf(obj), obj.status?.conditions));
  }

  /** Patches status when it changed, and announces a new phase with an Event. */
  async function writeStatus(obj: ProcessingTask, memo: Memo, status: ProcessingTaskStatus & Record<string, unknown>): Promise<void> {
    const { namespace, name, resourceVersion = "" } = obj.metadata!;
    const json = JSON.stringify(status);
    const current = obj.status ?? {};
    // Unchanged against the cache, or the cache still shows the version this very status was
    // computed from (it has not caught up with our write yet): nothing to do.
    const stale = memo.written?.fromVersion === resourceVersion;
    if (!(stale && memo.written?.json === json) && !sameStatus(current, status)) {
      await patchStatus(deps.kc, PROCESSING_TASKS, namespace!, name!, status);
      memo.written = { json, fromVersion: resourceVersion };
    }
    const phase = status.phase;
    if (phase && phase !== memo.announced && (phase !== current.phase || stale)) {
      memo.announced = phase;
      const event = eventOfPhase(status);
      if (event) await announce(obj, event.type, event.reason, event.message);
    } else if (phase) {
      memo.announced = phase;
    }
  }

  /**
   * Records an Event in the background, as client-go's recorder does, so it does not hold the
   * reconcile up (recording never throws); past MAX_EVENTS_IN_FLIGHT a reconcile waits for its
   * Event, so a burst cannot pile up unbounded requests in front of the status writes.
   */
  let eventsInFlight = 0;
  async function announce(obj: ProcessingTask, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    eventsInFlight++;
    const sent = deps.recorder.record(obj, type, reason, message).finally(() => eventsInFlight--);
    if (eventsInFlight > MAX_EVENTS_IN_FLIGHT) await sent;
  }

  async function finalize(obj: ProcessingTask, memo: Memo): Promise<void> {
    if (!hasFinalizer(obj)) return;
    const taskId = obj.status?.taskId ?? memo.taskId;
    if (taskId) {
      const found = await deps.queue.find(taskId);
      if (found && !isTerminal(found.record.status)) {
        try {
          const cancelled = await deps.queue.cancel(taskId);
          log.info("task cancelled: its resource was deleted", { key: keyOf(obj), taskId });
          await announce(obj, "Normal", "Cancelled", `task ${taskId} cancelled: the resource was deleted`);
          await patchStatus(deps.kc, PROCESSING_TASKS, obj.metadata!.namespace!, obj.metadata!.name!, statusOfRecord(cancelled, generationOf(obj), obj.status?.conditions)).catch(() => undefined);
        } catch (err) {
          // It ended meanwhile (409 already_finished) or vanished: nothing left to cancel.
          if (!(err instanceof JetqError) || (err.kind !== "conflict" && err.kind !== "not_found")) throw err;
        }
      }
    }
    await setFinalizers(obj, (obj.metadata!.finalizers ?? []).filter((f) => f !== CANCEL_FINALIZER));
  }

  /**
   * Writes the whole finalizers list: a merge patch replaces arrays, so it carries the
   * resourceVersion it was computed from, and a concurrent change makes it fail (409) and retry
   * on a fresh cache rather than drop someone else's finalizer.
   */
  async function setFinalizers(obj: ProcessingTask, finalizers: string[]): Promise<ProcessingTask | undefined> {
    const { namespace, name, resourceVersion } = obj.metadata!;
    try {
      return (await patchMetadata(deps.kc, PROCESSING_TASKS, namespace!, name!, { finalizers, resourceVersion })) as ProcessingTask;
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined; // gone already
      throw err;
    }
  }

  let subscription: { stop(): void } | undefined;
  let resync: NodeJS.Timeout | undefined;

  /** Wakes every unfinished resource not reconciled for a resync period: what lost events would have. */
  function resyncAll() {
    const due = Date.now() - deps.resyncMs;
    for (const informer of informers) {
      for (const obj of informer.list()) {
        if ((memos.get(obj.metadata?.uid ?? "")?.reconciledAt ?? 0) > due) continue;
        if (obj.metadata?.deletionTimestamp || !isFinishedPhase(obj.status?.phase) || !hasFinalizer(obj)) work.add(keyOf(obj));
      }
    }
  }

  return {
    name: CONTROLLER_NAME,
    async start() {
      for (const informer of informers) informer.onChange(onChange);
      work.start();
      subscription = deps.events.subscribe("*", (e) => {
        const key = keyOfTask.get(e.id);
        if (key) work.add(key);
      });
      await Promise.all(informers.map((i) => i.start()));
      resync = setInterval(resyncAll, deps.resyncMs);
      resync.unref();
      log.info("processingtask controller started", { namespaces: deps.watchNamespaces?.length ? deps.watchNamespaces : "all", resources: informers.reduce((n, i) => n + i.list().length, 0) });
    },
    async stop() {
      clearInterval(resync);
      subscription?.stop();
      for (const informer of informers) informer.stop();
      await work.stop();
    },
  };
}

const hasFinalizer = (obj: ProcessingTask) => obj.metadata?.finalizers?.includes(CANCEL_FINALIZER) ?? false;
const generationOf = (obj: ProcessingTask) => obj.metadata?.generation ?? 0;

/** Whether writing `next` would change what `current` shows (nulls mean "absent" in a merge patch). */
function sameStatus(current: ProcessingTaskStatus, next: Record<string, unknown>): boolean {
  const cur = current as Record<string, unknown>;
  return Object.entries(next).every(([k, v]) => deepEqualAbsent(cur[k], v));
}

function deepEqualAbsent(a: unknown, b: unknown): boolean {
  if (b === null || b === undefined) return a === null || a === undefined;
  if (typeof b !== "object") return a === b;
  if (a === null || typeof a !== "object" || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(b)) return b.length === (a as unknown[]).length && b.every((x, i) => deepEqualAbsent((a as unknown[])[i], x));
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  // Every key of b matches, and a has nothing b would not clear.
  return Object.entries(bo).every(([k, v]) => deepEqualAbsent(ao[k], v)) && Object.keys(ao).every((k) => k in bo || ao[k] === null);
}
