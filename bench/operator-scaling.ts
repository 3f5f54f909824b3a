// How fast the WorkerPool controller answers a burst: the time from a burst's first task to the
// Deployment's new replica count (0 → N), p50 and max over repeated bursts, in three modes —
// the burst signal (task arrivals heard on NATS, depth read from JetStream), polling alone with
// the depth from JetStream, and polling alone with the depth from Prometheus (scraping every
// second). The controller runs in this process, as in the e2e tests; the cluster is yours:
//
//   JETQ_DATA_DIR=/tmp/jetq-bench npm run cluster:up      # prints the kubeconfig path
//   KUBECONFIG=<that path> NATS_SERVER_BIN=... node --import tsx bench/operator-scaling.ts [--bursts 10] [--size 200] [--max 10] [--modes events,poll-jetstream,poll-prometheus]
//
// Between bursts the work stream is purged (there are no workers) and the pool goes back to zero
// (scale-down window 0), then a random pause puts the next burst at a random point of the poll.
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, Watch, type V1Deployment } from "@kubernetes/client-node";
import { loadKernelConfig } from "../kernel/config.js";
import { connectJetq, type JetqConnection } from "../kernel/connection.js";
import { silentLogger } from "../kernel/logger.js";
import { createMetrics, registerQueueGauges } from "../kernel/metrics.js";
import { QueueStats } from "../kernel/queue-stats.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { TOPOLOGY } from "../kernel/topology.js";
import { startNatsServer } from "../kit/nats-server.js";
import { documentTaskTypes } from "../library/task-types.js";
import { workerPoolController } from "../operator/controllers/worker-pool.js";
import { EventRecorder } from "../operator/core/events.js";
import { OperatorMetrics } from "../operator/core/metrics.js";
import { WORKER_POOLS } from "../operator/core/resources.js";
import { createJetStreamDepthSource } from "../operator/depth/jetstream.js";
import { createPrometheusDepthSource } from "../operator/depth/prometheus.js";
import { startPrometheus, type PrometheusHandle } from "../test/support/prometheus.js";
import { benchKubeConfig, installCrds } from "./kube-crds.js";
import { latencySummary, load, REPO_ROOT, sleep, waitUntil } from "./lib.js";

const { values: args } = parseArgs({
  options: {
    bursts: { type: "string", default: "10" },
    size: { type: "string", default: "200" },
    max: { type: "string", default: "10" },
    modes: { type: "string", default: "events,poll-jetstream,poll-prometheus" },
  },
});
const BURSTS = Number(args.bursts);
const SIZE = Number(args.size);
const MAX = Number(args.max);
const MODES = args.modes!.split(",").map((m) => m.trim()) as Mode[];
type Mode = "events" | "poll-jetstream" | "poll-prometheus";

const log = (msg: string) => process.stderr.write(`[bench:operator] ${msg}\n`);
const DEPLOYMENT = "bench-workers";
const POOL = "bench";

const { kc } = benchKubeConfig();
const apps = kc.makeApiClient(AppsV1Api);
const core = kc.makeApiClient(CoreV1Api);
const objects = kc.makeApiClient(CustomObjectsApi);

/** The kernel's queue gauges on a small HTTP server, for Prometheus to scrape (what the API exports). */
async function serveQueueGauges(conn: JetqConnection): Promise<Server> {
  const metrics = createMetrics("api");
  registerQueueGauges(metrics, new QueueStats(conn));
  const server = createServer(async (req, res) => {
    if (req.url !== "/metrics") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": metrics.registry.contentType }).end(await metrics.registry.metrics());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

async function main() {
  const nats = await startNatsServer();
  const config = loadKernelConfig({ NATS_URL: nats.url, JETQ_DATA_DIR: nats.storeDir });
  const conn = await connectJetq(config.natsUrl, config.topology, { name: "bench-operator" });
  const queue = taskQueueFor(conn, documentTaskTypes(), { defaultTimeoutSeconds: 600 });
  const gauges = await serveQueueGauges(conn);
  let prometheus: PrometheusHandle | undefined;
  if (MODES.includes("poll-prometheus")) prometheus = await startPrometheus({ targets: () => [`127.0.0.1:${(gauges.address() as AddressInfo).port}`] });

  await installCrds(kc);
  const namespace = `jetq-bench-${randomUUID().slice(0, 8)}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await waitUntil(() => core.readNamespacedServiceAccount({ name: "default", namespace }).then(() => true, () => false), "default ServiceAccount", 60_000, 100);
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: DEPLOYMENT },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: DEPLOYMENT } },
        template: { metadata: { labels: { app: DEPLOYMENT } }, spec: { containers: [{ name: "worker", image: "jetq/worker:bench" }] } },
      },
    },
  });

  // The Deployment's spec.replicas as a watch sees it, with when.
  const changes: { at: number; replicas: number }[] = [];
  const abort = await new Watch(kc).watch(`/apis/apps/v1/namespaces/${namespace}/deployments`, { fieldSelector: `metadata.name=${DEPLOYMENT}` }, (type, d: V1Deployment) => {
    const replicas = d.spec?.replicas;
    if (type === "BOOKMARK" || replicas === undefined || changes.at(-1)?.replicas === replicas) return;
    changes.push({ at: performance.now(), replicas });
  }, () => {});

  const results: Record<string, unknown> = {};
  for (const mode of MODES) {
    const controller = workerPoolController({
      kc,
      nc: conn.nc,
      depthSources: { prometheus: createPrometheusDepthSource({ timeoutMs: 2000 }), jetstream: createJetStreamDepthSource(conn.jsm) },
      recorder: new EventRecorder(kc, "jetq-operator-bench", silentLogger()),
      metrics: new OperatorMetrics({ defaultMetrics: false }),
      logger: silentLogger(),
      namespaces: [namespace],
      burst: { enabled: mode === "events" },
    });
    await controller.start();
    const spec = {
      deploymentName: DEPLOYMENT,
      taskTypes: ["process_book"],
      minReplicas: 0,
      maxReplicas: MAX,
      targetBacklogPerReplica: 10,
      pollingIntervalSeconds: 1,
      scaleDown: { stabilizationWindowSeconds: 0 },
      ...(mode === "poll-prometheus" ? { prometheus: { url: prometheus!.url } } : {}),
    };
    await objects.createNamespacedCustomObject({ ...WORKER_POOLS, namespace, body: { apiVersion: "jetq.io/v1alpha1", kind: "WorkerPool", metadata: { name: POOL }, spec } });
    if (mode === "poll-prometheus") {
      await waitUntil(async () => ((await objects.getNamespacedCustomObject({ ...WORKER_POOLS, namespace, name: POOL })) as { status?: { depthSource?: string } }).status?.depthSource === "prometheus", "depth from Prometheus", 60_000, 100);
    }

    const fromFirst: number[] = [];
    const fromLast: number[] = [];
    for (let b = 0; b < BURSTS; b++) {
      await waitUntil(() => changes.at(-1)?.replicas === 0, "the pool at zero", 60_000, 20);
      await sleep(1000 + Math.random() * 1000); // a random phase of the 1 s poll
      const seen = changes.length;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: SIZE }, () => queue.create({ type: "process_book", payload: { bookId: randomUUID(), chunkSize: 100 } })));
      const landed = performance.now();
      await waitUntil(() => changes.slice(seen).some((c) => c.replicas === MAX), `${MAX} replicas`, 60_000, 5);
      const reached = changes.slice(seen).find((c) => c.replicas === MAX)!;
      if (changes.slice(seen).indexOf(reached) !== 0) log(`${mode}: burst ${b + 1} went through ${changes.slice(seen).map((c) => c.replicas).join(" → ")}`);
      fromFirst.push(reached.at - t0);
      fromLast.push(reached.at - landed);
      await conn.jsm.streams.purge(TOPOLOGY.tasksStream);
    }
    results[mode] = { fromFirstTaskMs: latencySummary(fromFirst), fromBurstLandedMs: latencySummary(fromLast), samples: fromFirst.map((x) => Math.round(x)) };
    log(`${mode}: from the first task p50 ${latencySummary(fromFirst).p50} ms, max ${latencySummary(fromFirst).max} ms (from the last: p50 ${latencySummary(fromLast).p50} ms)`);
    await controller.stop();
    await objects.deleteNamespacedCustomObject({ ...WORKER_POOLS, namespace, name: POOL });
    await apps.patchNamespacedDeploymentScale({ namespace, name: DEPLOYMENT, body: { spec: { replicas: 0 } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
  }

  abort.abort();
  await core.deleteNamespace({ name: namespace });
  await prometheus?.stop();
  gauges.close();
  await conn.close();
  await nats.stop();
  const out = { when: new Date().toISOString(), bursts: BURSTS, size: SIZE, maxReplicas: MAX, pollingIntervalSeconds: 1, prometheusScrapeSeconds: 1, loadAverage: load(), results };
  mkdirSync(join(REPO_ROOT, "bench", "results"), { recursive: true });
  writeFileSync(join(REPO_ROOT, "bench", "results", "operator-scaling.json"), JSON.stringify(out, null, 2) + "\n");
  console.log(JSON.stringify(out, null, 2));
}

await main();
