// The WorkerPool controller: the autoscaler. Each pool is reconciled every pollingIntervalSeconds,
// and at once when tasks of its types arrive (a core-NATS subscription to the work subjects), so a
// burst takes a pool from 0 to N in one step without waiting for a poll or a Prometheus scrape.
//
// A reconcile reads the Deployment's scale and the pool's depth (Prometheus, falling back to
// JetStream; a burst is judged from JetStream, which already holds it), asks the kernel's scaling
// policy for the replicas (the function `npm start`'s local pool uses), and before lowering
// replicas sets each pod's deletion cost to its worker's busy slots, so idle pods are removed
// first. Recommendation history lives in memory, per pool: an operator restart (or a new leader)
// starts a fresh window, so a scale-down waits one full window after it.
import { CustomObjectsApi, type KubeConfig, type KubernetesListObject } from "@kubernetes/client-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../../kernel/logger.js";
import type { PoolStatus } from "../../kernel/pool-status.js";
import { desiredReplicas, type Recommendation } from "../../kernel/scaling-policy.js";
import { DeploymentNotFoundError, DeploymentScaler } from "../actuators/deployment-scale.js";
import { PodDeletionCosts } from "../actuators/pod-deletion-cost.js";
import { findCondition } from "../core/conditions.js";
import type { Controller } from "../core/controller.js";
import type { EventRecorder } from "../core/events.js";
import { createInformer, type Informer } from "../core/informer.js";
import type { OperatorMetrics } from "../core/metrics.js";
import { keyOf, resourcePath, splitKey, WORKER_POOLS, type WorkerPool, type WorkerPoolStatus } from "../core/resources.js";
import { httpStatusOf, patchStatus } from "../core/status.js";
import { WorkQueue } from "../core/work-queue.js";
import type { DepthSource } from "../depth/depth-source.js";
import { busySlotsByWorker } from "../pools/worker-busy.js";
import {
  applyConditions,
  DEPTH_SOURCE_HEALTHY,
  historyOrSeed,
  depthSourceCondition,
  pollingIntervalMs,
  READY,
  scalingBounds,
  scalingLimitedCondition,
  type DepthReading,
} from "../pools/pool-scaling.js";
import { watchTaskArrivals, type TaskArrivals } from "../pools/task-arrivals.js";

export const WORKER_POOL_CONTROLLER = "workerpool";

export interface WorkerPoolControllerDeps {
  kc: KubeConfig;
  /** The kernel's NATS connection: task arrivals and worker presence are read through it. */
  nc: NatsConnection;
  depthSources: { prometheus: DepthSource; jetstream: DepthSource };
  recorder: EventRecorder;
  metrics: OperatorMetrics;
  logger: Logger;
  /** Prometheus for pools without spec.prometheus.url (the same one the prometheus source was given). */
  defaultPrometheusUrl?: string;
  /** Watch these namespaces only; unset: all. */
  namespaces?: string[];
  /** React to task arrivals at once (default true), gathering them for debounceMs (default 100). */
  burst?: { enabled?: boolean; debounceMs?: number };
  /** Pools reconciled at once (default 4): one pool's slow Prometheus never holds up the others. */
  concurrency?: number;
  /** Where each reconcile's outcome is published for the API (kernel/pool-status.ts); none in tests that do not read it. */
  publishPoolStatus?: (status: PoolStatus, ttlSeconds: number) => Promise<void>;
}

/** What the controller remembers of a pool between reconciles (in memory only). */
interface PoolMemory {
  history: Recommendation[];
  generation?: number;
  /** The status this controller last wrote: the base of the next one (the informer may lag). */
  status?: WorkerPoolStatus;
  lastDesired?: number;
}

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function workerPoolController(deps: WorkerPoolControllerDeps): Controller {
  const log = deps.logger.child({ controller: WORKER_POOL_CONTROLLER });
  const customObjects = deps.kc.makeApiClient(CustomObjectsApi);
  const scaler = new DeploymentScaler(deps.kc);
  const deletionCosts = new PodDeletionCosts(deps.kc);
  const memory = new Map<string, PoolMemory>();
  /** Keys queued by an arrival of tasks: their next reconcile reads JetStream (fresh). */
  const burstKeys = new Set<string>();
  let informers: Informer<WorkerPool>[] = [];
  let arrivals: TaskArrivals | undefined;
  let jsm: JetStreamManager | undefined;

  const remember = (key: string) => {
    let m = memory.get(key);
    if (!m) memory.set(key, (m = { history: [] }));
    return m;
  };

  const queue = new WorkQueue({ name: WORKER_POOL_CONTROLLER, reconcile, concurrency: deps.concurrency ?? 4, logger: deps.logger, metrics: deps.metrics });

  function poolOf(key: string): WorkerPool | undefined {
    const { namespace, name } = splitKey(key);
    for (const informer of informers) {
      const pool = informer.get(name, namespace);
      if (pool) return pool;
    }
    return undefined;
  }

  function listPools(): WorkerPool[] {
    return informers.flatMap((i) => i.list());
  }

  /** Prometheus unless the pool has no URL for it or this is a burst; JetStream when it fails. */
  async function readDepth(pool: WorkerPool, burst: boolean): Promise<DepthReading> {
    const prometheusConfigured = !!(pool.spec.prometheus?.url || deps.defaultPrometheusUrl);
    let prometheusError: string | undefined;
    if (prometheusConfigured && !burst) {
      try {
        return { depth: await deps.depthSources.prometheus.depth(pool), source: "prometheus", prometheusConfigured, burst };
      } catch (err) {
        prometheusError = errorText(err);
      }
    }
    try {
      const depth = await deps.depthSources.jetstream.depth(pool);
      return { depth, source: "jetstream", prometheusConfigured, burst, ...(prometheusError !== undefined ? { prometheusError } : {}) };
    } catch (err) {
      throw new Error(prometheusError !== undefined ? `Prometheus: ${prometheusError}; JetStream: ${errorText(err)}` : `JetStream: ${errorText(err)}`);
    }
  }

  /** Writes the status if it changed; conditions that turned False are announced once as Warnings. */
  async function writeStatus(key: string, pool: WorkerPool, status: WorkerPoolStatus): Promise<void> {
    const m = remember(key);
    const before = m.status ?? pool.status ?? {};
    if (JSON.stringify(before) === JSON.stringify(status)) return;
    for (const c of status.conditions ?? []) {
      const was = findCondition(before.conditions, c.type);
      if (was?.status === c.status && was.reason === c.reason) continue;
      if (c.type === DEPTH_SOURCE_HEALTHY && c.status === "False") void deps.recorder.record(pool, "Warning", c.reason, c.message);
      else if (c.type === DEPTH_SOURCE_HEALTHY && was?.status === "False") void deps.recorder.record(pool, "Normal", "DepthSourceRecovered", c.message);
      else if (c.type === READY && c.status === "False") void deps.recorder.record(pool, "Warning", c.reason, c.message);
    }
    try {
      await patchStatus(deps.kc, WORKER_POOLS, pool.metadata!.namespace!, pool.metadata!.name!, status);
      m.status = status;
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw err; // a pool deleted meanwhile has no status to write
    }
  }

  async function reconcile(key: string) {
    const pool = poolOf(key);
    const burst = burstKeys.delete(key);
    if (!pool) {
      memory.delete(key);
      deps.metrics.forgetPool(key);
      return;
    }
    const namespace = pool.metadata!.namespace!;
    const deployment = pool.spec.deploymentName;
    const generation = pool.metadata?.generation ?? 0;
    const interval = pollingIntervalMs(pool.spec);
    const m = remember(key);
    const previous = m.status ?? pool.status ?? {};
    const now = Date.now();

    let scale;
    try {
      scale = await scaler.read(namespace, deployment);
    } catch (err) {
      if (!(err instanceof DeploymentNotFoundError)) throw err;
      const conditions = applyConditions(previous.conditions, [{ type: READY, status: "False", reason: "DeploymentNotFound", message: err.message }], generation, new Date(now));
      await writeStatus(key, pool, { ...previous, observedGeneration: generation, conditions });
      return { requeueAfterMs: interval };
    }

    let reading: DepthReading;
    try {
      reading = await readDepth(pool, burst);
    } catch (err) {
      const message = `cannot read the depth: ${errorText(err)}`;
      const conditions = applyConditions(
        previous.conditions,
        [
          { type: READY, status: "False", reason: "DepthUnavailable", message },
          { type: DEPTH_SOURCE_HEALTHY, status: "False", reason: "NoDepthSource", message },
        ],
        generation,
        new Date(now),
      );
      await writeStatus(key, pool, { ...previous, currentReplicas: scale.currentReplicas, observedGeneration: generation, conditions });
      log.warn("no depth for pool: replicas left as they are", { pool: key, err: errorText(err) });
      return { requeueAfterMs: interval };
    }

    m.history = historyOrSeed(m.history, now, scale.replicas);
    const decision = desiredReplicas({ depth: reading.depth, currentReplicas: scale.replicas, now, history: m.history }, scalingBounds(pool.spec));
    m.history = decision.history;
    const desired = decision.desiredReplicas;
    const direction = desired > scale.replicas ? "up" : desired < scale.replicas ? "down" : "none";
    let lastScaleTime = previous.lastScaleTime;
    if (direction !== "none") {
      if (direction === "down") {
        // Busy workers' pods get the highest cost, so the ReplicaSet removes idle pods first. If
        // that cannot be done, no scale-down this time: better a replica too many than a busy one killed.
        const busy = await busySlotsByWorker(await natsManager());
        const costs = await deletionCosts.apply(namespace, scale.selector, busy);
        log.debug("pod deletion costs set", { pool: key, costs: Object.fromEntries(costs) });
      }
      await scaler.scale(namespace, deployment, desired);
      lastScaleTime = rfc3339(now);
      const via = reading.burst ? "JetStream, on a burst of new tasks" : reading.source === "prometheus" ? "Prometheus" : "JetStream";
      const message = `deployment/${deployment} ${scale.replicas} → ${desired}: ${decision.reason} (depth from ${via})`;
      void deps.recorder.record(pool, "Normal", direction === "up" ? "ScaledUp" : "ScaledDown", message);
      log.info("scaled", { pool: key, from: scale.replicas, to: desired, depth: reading.depth, source: reading.source, burst: reading.burst, reason: decision.reason });
    }
    deps.metrics.scaleDecision(key, direction, desired, reading.depth, { current: scale.currentReplicas, max: pool.spec.maxReplicas });
    m.lastDesired = desired;

    const conditions = applyConditions(
      previous.conditions,
      [
        { type: READY, status: "True", reason: "Scaling", message: `deployment/${deployment} kept between ${pool.spec.minReplicas ?? 0} and ${pool.spec.maxReplicas} replicas: ${decision.reason}` },
        depthSourceCondition(reading, pool.spec.prometheus?.url || deps.defaultPrometheusUrl),
        scalingLimitedCondition(pool.spec, reading.depth, desired, scale.replicas, decision.reason),
      ],
      generation,
      new Date(now),
    );
    await writeStatus(key, pool, {
      observedDepth: reading.depth,
      desiredReplicas: desired,
      currentReplicas: scale.currentReplicas,
      ...(lastScaleTime ? { lastScaleTime } : {}),
      depthSource: reading.source,
      observedGeneration: generation,
      conditions,
    });
    // For the API and the web view: kept for three polls (at least 30 s), so it fades if we stop.
    await deps
      .publishPoolStatus?.(
        {
          namespace,
          name: pool.metadata!.name!,
          deployment,
          taskTypes: pool.spec.taskTypes,
          minReplicas: pool.spec.minReplicas ?? 0,
          maxReplicas: pool.spec.maxReplicas,
          desiredReplicas: desired,
          currentReplicas: scale.currentReplicas,
          depth: reading.depth,
          depthSource: reading.source,
          updatedAt: new Date(now).toISOString(),
        },
        Math.max(30, (3 * interval) / 1000),
      )
      .catch((err: unknown) => log.warn("could not publish the pool's status to NATS", { pool: key, err: errorText(err) }));
    return { requeueAfterMs: interval };
  }

  async function natsManager(): Promise<JetStreamManager> {
    return (jsm ??= await jetstreamManager(deps.nc));
  }

  /** Arrivals of tasks: reconcile, from a fresh reading, each pool serving them that could still grow. */
  function onArrivals(types: ReadonlySet<string>) {
    for (const pool of listPools()) {
      const key = keyOf(pool);
      if (!pool.spec.taskTypes.some((t) => types.has(t))) continue;
      const last = memory.get(key)?.lastDesired;
      if (last !== undefined && last >= pool.spec.maxReplicas) continue; // already as large as it may be
      burstKeys.add(key);
      queue.add(key);
    }
  }

  function makeInformer(namespace: string | undefined): Informer<WorkerPool> {
    const { group, version, plural } = WORKER_POOLS;
    const informer = createInformer<WorkerPool>(deps.kc, {
      path: resourcePath(WORKER_POOLS, namespace),
      list: async () =>
        (namespace
          ? await customObjects.listNamespacedCustomObject({ group, version, plural, namespace })
          : await customObjects.listClusterCustomObject({ group, version, plural })) as KubernetesListObject<WorkerPool>,
      logger: deps.logger,
    });
    informer.onChange((type, pool) => {
      const key = keyOf(pool);
      // Our own status writes come back as updates: only a new spec (generation) needs a reconcile.
      const generation = pool.metadata?.generation;
      if (type === "update" && memory.get(key)?.generation === generation) return;
      if (type !== "delete") remember(key).generation = generation;
      queue.add(key);
    });
    return informer;
  }

  return {
    name: WORKER_POOL_CONTROLLER,
    async start() {
      informers = (deps.namespaces?.length ? deps.namespaces : [undefined]).map(makeInformer);
      queue.start();
      await Promise.all(informers.map((i) => i.start()));
      if (deps.burst?.enabled ?? true) arrivals = watchTaskArrivals(deps.nc, { debounceMs: deps.burst?.debounceMs ?? 100, onArrivals });
      log.info("worker pool controller started", { pools: listPools().length, namespaces: deps.namespaces ?? "all" });
    },
    async stop() {
      arrivals?.stop();
      arrivals = undefined;
      for (const i of informers) i.stop();
      await queue.stop();
      informers = [];
      memory.clear();
      burstKeys.clear();
    },
  };
}
