// The operator's memory with many ProcessingTasks in its cache: the operator program
// (`operator/main.ts`, as `npm run operator` runs it) against a cluster of yours and a throw-away
// NATS, RSS and heap read from its /proc entry and /metrics with 0 resources, then after N
// ProcessingTasks were created and each reconciled (queued: there are no workers, so every task
// stays queued and every resource stays in the cache with its status).
//
//   JETQ_DATA_DIR=/tmp/jetq-bench npm run cluster:up      # prints the kubeconfig path
//   KUBECONFIG=<that path> NATS_SERVER_BIN=... node --import tsx bench/operator-memory.ts [--count 10000]
//
// Use a throw-away cluster: the resources keep their finalizer once the operator has stopped
// (`npm run cluster:down` with the same JETQ_DATA_DIR removes everything).
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CoreV1Api, CustomObjectsApi, type KubernetesListObject } from "@kubernetes/client-node";
import { startNatsServer } from "../kit/nats-server.js";
import { PROCESSING_TASKS, type ProcessingTask } from "../operator/core/resources.js";
import { benchKubeConfig, installCrds } from "./kube-crds.js";
import { freePort, load, REPO_ROOT, sleep, waitUntil } from "./lib.js";

const { values: args } = parseArgs({ options: { count: { type: "string", default: "10000" }, parallel: { type: "string", default: "25" } } });
const COUNT = Number(args.count);
const PARALLEL = Number(args.parallel);
const log = (msg: string) => process.stderr.write(`[bench:operator-memory] ${msg}\n`);

const { kc, path: kubeconfig } = benchKubeConfig();
const objects = kc.makeApiClient(CustomObjectsApi);
const { group, version, plural } = PROCESSING_TASKS;

const MiB = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) * 1024;
}
async function heapUsedBytes(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^jetq_operator_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
}

async function main() {
  await installCrds(kc);
  const namespace = `bench-mem-${Date.now().toString(36)}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  const nats = await startNatsServer();
  const port = await freePort();
  const operator = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "operator", "main.ts")], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      NATS_URL: nats.url,
      JETQ_OPERATOR_NAMESPACE: namespace,
      JETQ_WATCH_NAMESPACES: namespace,
      JETQ_OPERATOR_PORT: String(port),
      JETQ_OPERATOR_HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const pid = operator.pid!;
  try {
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok === true, "the operator ready", 120_000, 200);
    await sleep(5_000);
    const idle = { rss: rssBytes(pid), heap: await heapUsedBytes(port) };
    log(`idle: RSS ${MiB(idle.rss)} MiB, heap ${MiB(idle.heap)} MiB`);

    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < COUNT) {
          const i = next++;
          const body = { apiVersion: `${group}/${version}`, kind: "ProcessingTask", metadata: { name: `mem-${i}` }, spec: { type: "sync_sources", payload: {} } };
          await objects.createNamespacedCustomObject({ group, version, plural, namespace, body });
          if (i % 1000 === 999) log(`${i + 1} created`);
        }
      }),
    );
    const createdMs = Date.now() - started;
    let peakRss = 0;
    await waitUntil(async () => {
      peakRss = Math.max(peakRss, rssBytes(pid));
      const list = (await objects.listNamespacedCustomObject({ group, version, plural, namespace, resourceVersion: "0" })) as KubernetesListObject<ProcessingTask>;
      const queued = list.items.filter((o) => o.status?.taskId).length;
      log(`${queued}/${COUNT} queued`);
      return queued === COUNT;
    }, `all ${COUNT} queued`, 3_600_000, 5_000);
    const reconciledMs = Date.now() - started;
    await sleep(15_000); // settle: background Events, GC
    const full = { rss: rssBytes(pid), heap: await heapUsedBytes(port) };
    peakRss = Math.max(peakRss, full.rss);
    const result = {
      at: new Date().toISOString(),
      count: COUNT,
      load: load(),
      idle: { rssMiB: MiB(idle.rss), heapMiB: MiB(idle.heap) },
      full: { rssMiB: MiB(full.rss), heapMiB: MiB(full.heap) },
      peakRssMiB: MiB(peakRss),
      perResourceKiB: Math.round(((full.heap - idle.heap) / COUNT / 1024) * 10) / 10,
      createdMs,
      allQueuedMs: reconciledMs,
    };
    console.log(JSON.stringify(result, null, 2));
    mkdirSync(join(REPO_ROOT, "bench", "results"), { recursive: true });
    writeFileSync(join(REPO_ROOT, "bench", "results", "operator-memory.json"), JSON.stringify(result, null, 2) + "\n");
  } finally {
    operator.kill("SIGTERM");
    await nats.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
