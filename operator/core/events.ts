// Kubernetes Events (core/v1) about the operator's objects, so `kubectl describe` shows what it
// did. Like client-go's EventRecorder + EventCorrelator: the same reason and message about the
// same object again bumps the existing Event's count and lastTimestamp instead of adding one.
// Recording never throws: an Event is a courtesy, and a reconcile must not fail for it.
import os from "node:os";
import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { createLogger, type Logger } from "../../kernel/logger.js";
import { httpStatusOf } from "./status.js";

export type EventType = "Normal" | "Warning";

interface SeenEvent {
  namespace: string;
  name: string;
  count: number;
}

/** As client-go's correlator: remember this many distinct events for count bumps. */
const MAX_REMEMBERED = 4096;

export class EventRecorder {
  private readonly api: CoreV1Api;
  private readonly instance = os.hostname();
  private readonly seen = new Map<string, SeenEvent>();
  /** Writes of one correlation key run one after another, so a burst bumps count in order. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    kc: KubeConfig,
    private readonly component: string,
    private readonly logger: Logger = createLogger(component),
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  record(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const key = [obj.metadata?.uid ?? `${obj.metadata?.namespace}/${obj.metadata?.name}`, type, reason, message].join("\u0000");
    const previous = this.inFlight.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => this.write(key, obj, type, reason, message))
      .catch((err) => {
        this.logger.warn("could not record event", { reason, object: `${obj.kind}/${obj.metadata?.namespace}/${obj.metadata?.name}`, err: err instanceof Error ? err.message : String(err) });
      })
      .finally(() => {
        if (this.inFlight.get(key) === next) this.inFlight.delete(key);
      });
    this.inFlight.set(key, next);
    return next;
  }

  private async write(key: string, obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date();
    const seen = this.seen.get(key);
    if (seen) {
      try {
        await this.api.patchNamespacedEvent(
          { namespace: seen.namespace, name: seen.name, body: { count: seen.count + 1, lastTimestamp: now.toISOString() } },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        );
        seen.count++;
        this.remember(key, seen);
        return;
      } catch (err) {
        // Events expire (the API server's --event-ttl, 1 h by default): start a new one.
        if (httpStatusOf(err) !== 404) throw err;
        this.seen.delete(key);
      }
    }
    const namespace = obj.metadata?.namespace || "default";
    // As client-go: <object name>.<unix nanos in hex>, the name cut so the whole stays a valid name.
    const name = `${(obj.metadata?.name ?? "object").slice(0, 200)}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000))).toString(16)}`;
    const event: CoreV1Event = {
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata?.name,
        namespace: obj.metadata?.namespace,
        uid: obj.metadata?.uid,
        resourceVersion: obj.metadata?.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.component, host: this.instance },
      reportingComponent: this.component,
      reportingInstance: this.instance,
    };
    await this.api.createNamespacedEvent({ namespace, body: event });
    this.remember(key, { namespace, name, count: 1 });
  }

  /** Most recently used last, so the oldest is dropped first. */
  private remember(key: string, seen: SeenEvent): void {
    this.seen.delete(key);
    this.seen.set(key, seen);
    if (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
  }
}
