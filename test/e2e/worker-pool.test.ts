// The WorkerPool controller on the real control plane, with real NATS, a real Prometheus scraping
// the API every second, and the pod runner turning the Deployment's pods into worker processes:
// a burst of 2,000 tasks scales the Deployment up from the depth Prometheus reports, the pods'
// workers drain it, and the pool scales back down after its window — removing idle pods before
// busy ones, interrupting no task. Then the burst signal: 0 → N in one step (its speed is measured in bench/operator-scaling.ts).
// Then Prometheus frozen: scaling goes on from JetStream, and the pool's condition says so.
//
// The workers are the real worker runtime with timed handlers (test/fixtures/timed-worker-process.ts):
// process_book sleeps payload.chunkSize ms. The burst is 100 ms tasks; once every pod's worker runs,
// three 20 s tasks follow, so one to three pods are still busy with them when the backlog has
// allowed a scale-down for a whole window: the scale-down must remove the idle pods first.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, Watch, type CoreV1Event, type V1Deployment, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "../../kernel/logger.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import { writePoolStatus } from "../../kernel/pool-status.js";
import type { TaskQueue } from "../../kernel/task-queue.js";
import { documentTaskTypes } from "../../library/task-types.js";
import { POD_DELETION_COST } from "../../operator/actuators/pod-deletion-cost.js";
import { workerPoolController } from "../../operator/controllers/worker-pool.js";
import type { Controller } from "../../operator/core/controller.js";
import { EventRecorder } from "../../operator/core/events.js";
import { OperatorMetrics } from "../../operator/core/metrics.js";
import { WORKER_POOLS, type WorkerPool } from "../../operator/core/resources.js";
import { createJetStreamDepthSource } from "../../operator/depth/jetstream.js";
import { createPrometheusDepthSource } from "../../operator/depth/prometheus.js";
import { busySlotsByWorker } from "../../operator/pools/worker-busy.js";
import { CLUSTER_HOOK_TIMEOUT_MS, createTestNamespace, installCrds, useCluster, type TestCluster } from "../support/cluster.js";
import { startPodRunner, type PodRunner } from "../support/pod-runner.js";
import { startPrometheus, type PrometheusHandle } from "../support/prometheus.js";
import { startStack, TEST_ENV, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

const DEPLOYMENT = "timed-workers";
const POOL = "timed";
const MAX = 4;
// Busy slots come from the workers' presence records, rewritten every 5 s (later on a loaded
// machine): the window must outlast that, or the costs describe the burst, not the moment.
const SCALE_DOWN_WINDOW_S = 12;
const LONG_MS = 20_000;
const SHORT_MS = 100;
const WORKER_PROGRAM = fileURLToPath(new URL("../fixtures/timed-worker-process.ts", import.meta.url));
const log = process.env.JETQ_TEST_LOGS ? createLogger("wpool-test", "debug") : silentLogger();

let cluster: TestCluster;
let namespace: { name: string; remove(): Promise<void> };
let stack: Stack;
let prometheus: PrometheusHandle;
let runner: PodRunner;
let queue: TaskQueue;
let controller: Controller | undefined;
const stopWatches: Array<() => void> = [];

/** Every change of the Deployment's spec.replicas, in order, with when it was seen. */
const replicaChanges: { at: number; replicas: number }[] = [];
/** At each scale-down: the pods' deletion costs and their workers' busy slots, as it happened. */
const scaleDowns: { at: number; from: number; to: number; costs: Map<string, number>; busy: Map<string, number>; removed: Set<string>; recorded: boolean }[] = [];

const apps = () => cluster.kc.makeApiClient(AppsV1Api);
const core = () => cluster.kc.makeApiClient(CoreV1Api);
const objects = () => cluster.kc.makeApiClient(CustomObjectsApi);

function startController(burst: boolean) {
  controller = workerPoolController({
    kc: cluster.kc,
    nc: stack.conn.nc,
    depthSources: { prometheus: createPrometheusDepthSource({ timeoutMs: 1000 }), jetstream: createJetStreamDepthSource(stack.conn.jsm) },
    recorder: new EventRecorder(cluster.kc, "jetq-operator", log),
    metrics: new OperatorMetrics({ defaultMetrics: false }),
    logger: log,
    namespaces: [namespace.name],
    burst: { enabled: burst },
    publishPoolStatus: (status, ttlSeconds) => writePoolStatus(stack.conn, status, ttlSeconds),
  });
  return controller.start();
}

/** A list+watch that restarts whenever the server ends it (the test's own eyes; not the operator's informer). */
async function watchAll<T extends { metadata?: { resourceVersion?: string } }>(path: string, query: Record<string, string>, onEvent: (type: string, obj: T) => void) {
  let stopped = false;
  let abort: AbortController | undefined;
  const loop = async () => {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        void new Watch(cluster.kc).watch(path, { ...query, allowWatchBookmarks: true }, (type, obj: T) => onEvent(type, obj), () => resolve()).then((a) => (abort = a), () => resolve());
      });
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  void loop();
  stopWatches.push(() => {
    stopped = true;
    abort?.abort();
  });
}

async function pool(): Promise<WorkerPool> {
  return (await objects().getNamespacedCustomObject({ ...WORKER_POOLS, namespace: namespace.name, name: POOL })) as WorkerPool;
}

const condition = (p: WorkerPool, type: string) => p.status?.conditions?.find((c) => c.type === type);

async function poolEvents(): Promise<CoreV1Event[]> {
  return (await core().listNamespacedEvent({ namespace: namespace.name, fieldSelector: `involvedObject.name=${POOL},involvedObject.kind=WorkerPool` })).items;
}

/** Waits for an Event about the pool (they are written in the background) with this reason and message. */
function eventSeen(reason: string, message: RegExp, type = "Normal"): Promise<CoreV1Event> {
  return waitFor(`a ${type} ${reason} event matching ${message}`, async () => (await poolEvents()).find((e) => e.type === type && e.reason === reason && message.test(e.message ?? "")), 10_000, 200);
}

async function createTasks(count: number, ms: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from({ length: Math.min(100, count - i) }, () => queue.create({ type: "process_book", payload: { bookId: randomUUID(), chunkSize: ms } }));
    for (const r of await Promise.all(batch)) ids.push(r.record.id);
  }
  return ids;
}

const deploymentReplicas = async () => (await apps().readNamespacedDeploymentScale({ namespace: namespace.name, name: DEPLOYMENT })).spec?.replicas ?? 0;

async function allEndedInOneAttempt(ids: string[], timeoutMs: number) {
  await waitFor(
    `all ${ids.length} tasks to succeed`,
    async () => {
      const records = await Promise.all(ids.map((id) => stack.record(id)));
      return records.every((r) => r.status === "succeeded") && records;
    },
    timeoutMs,
    1000,
  ).then((records) => expect(records.filter((r) => r.attempts !== 1).map((r) => [r.id, r.attempts])).toEqual([]));
}

beforeAll(async () => {
  cluster = await useCluster();
  await installCrds(cluster);
  namespace = await createTestNamespace(cluster.kc, "worker-pool");
  stack = await startStack({ workers: 0 });
  queue = taskQueueFor(stack.conn, documentTaskTypes(), { defaultTimeoutSeconds: 600 });
  // Prometheus scrapes the API, which exports the queue gauges (jetq_queue_depth_by_type...).
  prometheus = await startPrometheus({ targets: () => [new URL(stack.baseUrl).host] });

  // The workers' settings as a user puts them in the pod template. Same consumer settings as the
  // test stack's (TEST_ENV), a shutdown grace longer than the long tasks.
  const env = { ...TEST_ENV, JETQ_CONCURRENCY: "8", JETQ_SHUTDOWN_GRACE_MS: "30000", JETQ_WORKER_METRICS_PORT: "0" };
  await apps().createNamespacedDeployment({
    namespace: namespace.name,
    body: {
      metadata: { name: DEPLOYMENT },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: DEPLOYMENT } },
        template: {
          metadata: { labels: { app: DEPLOYMENT } },
          spec: {
            terminationGracePeriodSeconds: 40,
            containers: [{ name: "worker", image: "jetq/worker:dev", env: Object.entries(env).map(([name, value]) => ({ name, value })) }],
          },
        },
      },
    },
  });
  runner = await startPodRunner({ kc: cluster.kc, namespace: namespace.name, deploymentName: DEPLOYMENT, natsUrl: stack.nats.url, program: WORKER_PROGRAM });

  // What the test sees happen: replica changes, and at each scale-down the pods there were, the
  // deletion costs they carried (read from the last version of each pod seen, deleted ones too:
  // the controller writes costs only before a scale-down) and their workers' busy slots.
  const podsSeen = new Map<string, V1Pod>();
  const podsLive = new Set<string>();
  // The two watches are separate streams: a pod the scale-down removed may be seen going first.
  const removedAt = new Map<string, number>();
  await watchAll<V1Pod>(`/api/v1/namespaces/${namespace.name}/pods`, { labelSelector: `app=${DEPLOYMENT}` }, (type, p) => {
    const name = p.metadata?.name;
    if (!name || type === "BOOKMARK" || type === "ERROR") return;
    podsSeen.set(name, p);
    if (type === "DELETED" || p.metadata?.deletionTimestamp) {
      if (podsLive.delete(name)) {
        removedAt.set(name, Date.now());
        // The last scale-down's, unless it has all the pods it removed: then this one belongs to
        // the next scale-down, whose new count this watch saw before the deployment watch did
        // (the next entry takes it from removedAt).
        const last = scaleDowns.at(-1);
        if (last && last.removed.size < last.from - last.to) last.removed.add(name);
      }
    } else podsLive.add(name);
  });
  await watchAll<V1Deployment>(`/apis/apps/v1/namespaces/${namespace.name}/deployments`, { fieldSelector: `metadata.name=${DEPLOYMENT}` }, (type, d) => {
    const replicas = d.spec?.replicas;
    if (type === "BOOKMARK" || type === "ERROR" || replicas === undefined) return;
    const last = replicaChanges.at(-1);
    if (last?.replicas === replicas) return;
    replicaChanges.push({ at: Date.now(), replicas });
    if (last && replicas < last.replicas) {
      // Pods removed in the last 2 s (their deletion can reach this watch before the new count),
      // but not those an earlier scale-down removed a moment before (two can be 1 s apart).
      const justRemoved = [...removedAt]
        .filter(([name, at]) => Date.now() - at < 2000 && !scaleDowns.some((s) => s.removed.has(name)))
        .map(([name]) => name);
      const pods = [...podsLive, ...justRemoved];
      const entry = { at: Date.now(), from: last.replicas, to: replicas, costs: new Map<string, number>(), busy: new Map<string, number>(), removed: new Set<string>(justRemoved), recorded: false };
      scaleDowns.push(entry);
      void busySlotsByWorker(stack.conn.jsm).then((busy) => (entry.busy = busy));
      setTimeout(() => {
        for (const name of pods) entry.costs.set(name, Number(podsSeen.get(name)?.metadata?.annotations?.[POD_DELETION_COST] ?? NaN));
        entry.recorded = true;
      }, 1500);
    }
  });

  await objects().createNamespacedCustomObject({
    ...WORKER_POOLS,
    namespace: namespace.name,
    body: {
      apiVersion: "jetq.io/v1alpha1",
      kind: "WorkerPool",
      metadata: { name: POOL },
      spec: {
        deploymentName: DEPLOYMENT,
        taskTypes: ["process_book"],
        minReplicas: 0,
        maxReplicas: MAX,
        targetBacklogPerReplica: 10,
        pollingIntervalSeconds: 1,
        scaleDown: { stabilizationWindowSeconds: SCALE_DOWN_WINDOW_S },
        prometheus: { url: prometheus.url },
      },
    },
  });
}, CLUSTER_HOOK_TIMEOUT_MS);

afterAll(async () => {
  for (const stop of stopWatches) stop();
  await controller?.stop();
  await runner?.stop();
  await prometheus?.stop();
  await namespace?.remove();
  await stack?.stop();
}, 120_000);

describe("WorkerPool controller", () => {
  it("scales a burst of 2,000 tasks up from Prometheus' depth, drains it, and scales down keeping busy pods", async () => {
    await startController(false); // polling alone: the scale-up comes from a Prometheus reading
    await waitFor("the pool reading its depth from Prometheus", async () => {
      const p = await pool();
      return p.status?.depthSource === "prometheus" && condition(p, "DepthSourceHealthy")?.reason === "PrometheusHealthy" && condition(p, "Ready")?.status === "True";
    }, 60_000, 200);
    expect(await deploymentReplicas()).toBe(0);

    const short = await createTasks(2000, SHORT_MS);
    await waitFor(`${MAX} replicas`, async () => (await deploymentReplicas()) === MAX, 30_000, 100);
    // From zero straight to the maximum, in one step (as the test's own watch saw it: it can trail
    // the direct read above).
    await waitFor("the test's watch to see the scale-up", () => replicaChanges.length >= 2, 10_000, 50);
    expect(replicaChanges.map((c) => c.replicas).slice(0, 2)).toEqual([0, MAX]);
    // The status is written after the scale, in the same reconcile: it may land a moment later.
    const up = await waitFor("the pool's status to say it is limited", async () => {
      const p = await pool();
      return condition(p, "ScalingLimited")?.reason === "TooManyReplicas" && p;
    }, 30_000, 100);
    expect(condition(up, "ScalingLimited")).toMatchObject({ status: "True", reason: "TooManyReplicas" });
    await eventSeen("ScaledUp", /0 → 4: .*\(depth from Prometheus\)/);
    // What the API (and the web view) show of the pool: the operator's last decision, through NATS.
    const shown = await waitFor("the pool in GET /api/pools", async () => {
      const items = (await stack.api("GET", "/api/pools")).body.items as { name: string; desiredReplicas: number; depth: number }[];
      return items.find((p) => p.name === up.metadata!.name && p.desiredReplicas === MAX);
    }, 30_000, 200);
    expect(shown).toMatchObject({ namespace: namespace.name, deployment: up.spec.deploymentName, maxReplicas: MAX, depthSource: "prometheus" });
    expect(shown.depth).toBeGreaterThan(0);

    // Once every pod's worker runs, three long tasks join the queue: they will keep one to three
    // pods busy well past the end of the burst, when the backlog allows a scale-down.
    await waitFor("a worker in every pod", async () => (await busySlotsByWorker(stack.conn.jsm)).size === MAX, 120_000, 200);
    const longFrom = Date.now();
    const long = await createTasks(3, LONG_MS);
    await allEndedInOneAttempt(short, 120_000);
    await allEndedInOneAttempt(long, 60_000);
    await waitFor("the pool back at zero", async () => (await deploymentReplicas()) === 0, 60_000, 200);
    await waitFor("the last scale-down recorded", () => scaleDowns.every((s) => s.recorded), 10_000);

    // Each scale-down happened a whole window after the backlog fell, with costs in place that
    // were the workers' busy slots; the pods it removed were the cheapest ones.
    expect(scaleDowns.length, JSON.stringify(replicaChanges)).toBeGreaterThan(0);
    const seen = JSON.stringify(replicaChanges.map((c) => [c.at - replicaChanges[0]!.at, c.replicas])) + JSON.stringify(scaleDowns.map((s) => ({ ...s, at: s.at - replicaChanges[0]!.at, costs: [...s.costs], busy: [...s.busy], removed: [...s.removed] })));
    for (const s of scaleDowns) {
      expect(s.costs.size, seen).toBe(s.from);
      for (const [podName, cost] of s.costs) expect(cost, `cost of ${podName}: ${seen}`).toBe(s.busy.get(podName) ?? 0);
      const removedCosts = [...s.removed].map((p) => s.costs.get(p)!);
      const kept = [...s.costs.keys()].filter((p) => !s.removed.has(p)).map((p) => s.costs.get(p)!);
      expect(removedCosts, seen).toHaveLength(s.from - s.to);
      if (kept.length > 0) expect(Math.max(...removedCosts), seen).toBeLessThanOrEqual(Math.min(...kept));
    }
    // The first scale-down after the long tasks came while they ran: busy pods were kept, idle ones went.
    const first = scaleDowns.find((s) => s.at > longFrom)!;
    expect(first, seen).toBeDefined();
    expect(first.at - replicaChanges[1]!.at).toBeGreaterThan(SCALE_DOWN_WINDOW_S * 1000);
    const busyPods = [...first.costs].filter(([, c]) => c > 0).map(([p]) => p);
    expect(busyPods.length).toBeGreaterThan(0);
    expect(busyPods.filter((p) => !first.removed.has(p)).length).toBe(Math.min(busyPods.length, first.to));
    // Those pods really ran the long tasks.
    const ranLong = new Set(await Promise.all(long.map(async (id) => (await stack.record(id)).workerId!)));
    expect([...ranLong].sort()).toEqual(busyPods.sort());
    await eventSeen("ScaledDown", /\(depth from Prometheus\)/);
  }, 300_000);

  it("reacts to a burst of new tasks at once: 0 → N in one step, from the burst signal rather than a poll", async () => {
    await controller?.stop();
    await startController(true);
    await waitFor("the pool at zero", async () => (await deploymentReplicas()) === 0, 30_000, 200);
    const changesBefore = replicaChanges.length;
    const t0 = Date.now();
    const ids = await createTasks(200, SHORT_MS);
    // The first replica change after the burst, as the test's watch of the Deployment saw it.
    const reaction = await waitFor("the Deployment's first change", () => replicaChanges[changesBefore], 10_000, 10);
    expect(reaction.replicas).toBe(MAX);
    // The event names the burst path; how fast it is gets measured in bench/operator-scaling.ts
    // (p50 ~0.3 s from the first task). Here only a bound no loaded CI machine should reach.
    expect(reaction.at - t0).toBeLessThan(5000);
    await eventSeen("ScaledUp", /0 → 4: .*on a burst of new tasks/);
    await allEndedInOneAttempt(ids, 60_000);
    await waitFor("the pool back at zero", async () => (await deploymentReplicas()) === 0, 60_000, 200);
  }, 180_000);

  it("goes on scaling from JetStream while Prometheus cannot answer, and says so", async () => {
    if (!controller) await startController(true); // when run on its own
    await prometheus.pause();
    try {
      const degraded = await waitFor("the fallback to JetStream", async () => {
        const p = await pool();
        return p.status?.depthSource === "jetstream" && condition(p, "DepthSourceHealthy")?.status === "False" && p;
      }, 30_000, 200);
      expect(condition(degraded, "DepthSourceHealthy")).toMatchObject({ reason: "PrometheusUnavailable", message: expect.stringMatching(/no answer within 1000 ms; depth read from JetStream instead/) });
      expect(condition(degraded, "Ready")?.status).toBe("True");

      const downsBefore = scaleDowns.length;
      const ids = await createTasks(100, SHORT_MS);
      await waitFor(`${MAX} replicas`, async () => (await deploymentReplicas()) === MAX, 30_000, 100);
      await allEndedInOneAttempt(ids, 60_000);
      await waitFor("the pool back at zero, on JetStream's numbers", async () => (await deploymentReplicas()) === 0, 60_000, 200);
      // The test's own watch of the Deployment records scale-downs; it may trail the read above.
      await waitFor("the scale-down seen by the test's watch", () => scaleDowns.length > downsBefore, 10_000, 100);
      await waitFor("the pool's status to say so", async () => {
        const s = (await pool()).status;
        return s?.depthSource === "jetstream" && s.observedDepth === 0 && s.desiredReplicas === 0;
      }, 10_000, 100);
      await eventSeen("PrometheusUnavailable", /depth read from JetStream instead/, "Warning");
      await eventSeen("ScaledDown", /→ 0: .*\(depth from JetStream\)/);
    } finally {
      await prometheus.resume();
    }
    await waitFor("Prometheus healthy again", async () => {
      const p = await pool();
      return p.status?.depthSource === "prometheus" && condition(p, "DepthSourceHealthy")?.status === "True";
    }, 30_000, 200);
  }, 180_000);
});
