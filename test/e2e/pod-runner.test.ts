// The pod runner on the real control plane: a worker Deployment's Running pods become real worker
// processes (worker/main.ts) named after their pods, which take real tasks from a real NATS;
// scaling the Deployment starts and stops them, a scale-down lets each stopped worker finish the
// task it is running (one attempt each), and deleting a pod stops its worker.
//
// The tasks are sync_sources of HTTP sources on a local server that holds each response for as
// long as the test says, so the test knows which tasks are in flight, and the server counts
// every fetch: a task that was interrupted and run again would be fetched twice.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_HOOK_TIMEOUT_MS, createTestNamespace, useCluster, type TestCluster } from "../support/cluster.js";
import { startPodRunner, type PodRunner } from "../support/pod-runner.js";
import { samples } from "../support/prometheus-text.js";
import { clientOf, startStack, taskStatus, TEST_ENV, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

const DEPLOYMENT = "jetq-worker";
const SLOW_MS = 6_000;

let cluster: TestCluster;
let namespace: { name: string; remove(): Promise<void> };
let stack: Stack;
let runner: PodRunner;
let server: Server;
let base: string;
let dataDir: string;
/** Fetches per path, and when each response was sent. */
const fetches = new Map<string, number>();
const answeredAt = new Map<string, number>();
let open = 0;
const exits: { pod: string; code: number | null; at: number }[] = [];

beforeAll(async () => {
  cluster = await useCluster();
  namespace = await createTestNamespace(cluster.kc, "pod-runner");
  dataDir = await mkdtemp(join(tmpdir(), "jetq-pod-runner-"));
  server = createServer((req, res) => {
    const path = req.url ?? "/";
    fetches.set(path, (fetches.get(path) ?? 0) + 1);
    const delay = path.startsWith("/slow/") ? SLOW_MS : 0;
    open++;
    setTimeout(() => {
      open--;
      answeredAt.set(path, Date.now());
      res.writeHead(200, { "content-type": "text/plain" }).end(`The document at ${path} tells of lighthouse keepers trimming their lamps.`);
    }, delay);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // No workers of its own: the pods' workers do the work.
  stack = await startStack({ documents: true, workers: 0, env: { JETQ_SOURCES_ALLOWED_HOSTS: "127.0.0.1", JETQ_SYNC_SCHEDULER_MS: "3600000" } });

  // The worker Deployment as a user writes one: its settings in the container's env.
  const env = { ...TEST_ENV, JETQ_CONCURRENCY: "1", JETQ_SHUTDOWN_GRACE_MS: "20000", JETQ_SOURCES_ALLOWED_HOSTS: "127.0.0.1", JETQ_SYNC_SCHEDULER_MS: "3600000" };
  await cluster.kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: namespace.name,
    body: {
      metadata: { name: DEPLOYMENT },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: DEPLOYMENT } },
        template: {
          metadata: { labels: { app: DEPLOYMENT } },
          spec: {
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: "worker",
                image: "jetq/worker:dev",
                env: Object.entries(env).map(([name, value]) => ({ name, value })),
              },
            ],
          },
        },
      },
    },
  });
  runner = await startPodRunner({ kc: cluster.kc, namespace: namespace.name, deploymentName: DEPLOYMENT, natsUrl: stack.nats.url, env: { JETQ_DATA_DIR: dataDir } });
  runner.onExit((pod, code) => exits.push({ pod, code, at: Date.now() }));
}, CLUSTER_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await runner?.stop();
  await namespace?.remove();
  await stack?.stop();
  server?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 120_000);

const core = () => cluster.kc.makeApiClient(CoreV1Api);

/** The names of the Deployment's pods that are Running and not being deleted. */
async function runningPods(): Promise<string[]> {
  const list = await core().listNamespacedPod({ namespace: namespace.name, labelSelector: `app=${DEPLOYMENT}` });
  return list.items.filter((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!).sort();
}

/** Worker processes that are not stopping, by pod name. */
const livePods = () => runner.workers().filter((w) => !w.terminating).map((w) => w.pod).sort();

/** The workers whose presence records the API reports (their ids). */
async function presentWorkers(): Promise<string[]> {
  const q = await stack.api("GET", "/api/tasks/queue");
  return (q.body.workers.list as { id: string }[]).map((w) => w.id).sort();
}

async function scale(replicas: number) {
  const r = await cluster.kubectl(["-n", namespace.name, "scale", `deployment/${DEPLOYMENT}`, `--replicas=${replicas}`]);
  expect(r.code, r.stderr).toBe(0);
}

/** Waits until there are n Running pods, a worker process for each, and a presence record for each. */
async function settledOn(n: number): Promise<string[]> {
  return waitFor(
    `${n} pods, each with its worker process and presence record`,
    async () => {
      const pods = await runningPods();
      if (pods.length !== n) return false;
      const same = (xs: string[]) => JSON.stringify(xs) === JSON.stringify(pods);
      return same(livePods()) && same(runner.workers().map((w) => w.pod).sort()) && same(await presentWorkers()) && pods;
    },
    90_000,
    200,
  );
}

async function syncSource(path: string): Promise<string> {
  const source = await clientOf(stack).sources.create({ kind: "http", urls: [`${base}${path}`] });
  return (await clientOf(stack).sources.sync(source.id)).id;
}

const finished = (id: string) => waitFor(`task ${id} to end`, async () => {
  const s = await taskStatus(stack, id);
  return ["succeeded", "failed", "cancelled"].includes(s.status) && s;
}, 90_000, 100);

describe("pod runner", () => {
  it("runs one worker per Running pod, named after the pod, which processes tasks", async () => {
    const pods = await settledOn(2);
    // Its metrics say the same id, on the port the runner gave it; and its env is the pod's.
    for (const w of runner.workers()) {
      const text = await (await fetch(`http://127.0.0.1:${w.metricsPort}/metrics`)).text();
      expect(samples(text, "jetq_worker_slots").map((x) => [x.labels.worker, x.value])).toEqual([[w.pod, 1]]);
    }
    const presence = (await stack.api("GET", "/api/tasks/queue")).body.workers.list as { id: string; busy: number; concurrency: number }[];
    expect(presence.map((p) => [p.id, p.concurrency, p.busy])).toEqual(pods.map((pod) => [pod, 1, 0]));

    const ids = await Promise.all([1, 2, 3, 4].map((i) => syncSource(`/fast/${i}.txt`)));
    for (const id of ids) {
      expect(await finished(id)).toMatchObject({ status: "succeeded", attempts: 1 });
      // The record names the worker that ran it: one of the pods.
      expect(pods).toContain((await stack.record(id)).workerId);
    }
    // The documents they found are processed by the same workers (process_book, then embeddings).
    for (const id of ids) {
      const summaries = Object.values((await taskStatus(stack, id)).result.sources) as { enqueued: string[] }[];
      const bookTasks = summaries.flatMap((s) => s.enqueued);
      expect(bookTasks).toHaveLength(1);
      expect(await finished(bookTasks[0]!)).toMatchObject({ status: "succeeded" });
    }
  }, 180_000);

  it("starts a worker for each pod a scale-up adds", async () => {
    const before = await settledOn(2);
    await scale(3);
    const after = await settledOn(3);
    expect(after).toEqual(expect.arrayContaining(before));
  }, 120_000);

  it("on a scale-down, SIGTERMs the removed pods' workers, which finish their task and exit 0", async () => {
    const pods = await settledOn(3);
    exits.length = 0;
    // One slow task in flight on each worker (concurrency 1), and two more waiting.
    const inFlight = await Promise.all([1, 2, 3].map((i) => syncSource(`/slow/${i}.txt`)));
    await waitFor("a slow task running on every worker", () => open === 3, 60_000);
    const waiting = await Promise.all([4, 5].map((i) => syncSource(`/slow/${i}.txt`)));

    await scale(1);
    const [survivor] = await settledOn(1);
    expect(pods).toContain(survivor);
    const removed = pods.filter((p) => p !== survivor);
    await waitFor("both removed workers to exit", () => exits.length >= 2, 60_000);
    expect(exits.map((e) => [e.pod, e.code]).sort()).toEqual(removed.map((p) => [p, 0]));

    // Every task ran once, to the end, and each removed worker exited only after its task's answer.
    for (const id of [...inFlight, ...waiting]) expect(await finished(id)).toMatchObject({ status: "succeeded", attempts: 1 });
    for (const i of [1, 2, 3, 4, 5]) expect(fetches.get(`/slow/${i}.txt`)).toBe(1);
    for (const [i, id] of inFlight.entries()) {
      const ranOn = (await stack.record(id)).workerId!;
      const exit = exits.find((e) => e.pod === ranOn);
      if (exit) expect(exit.at).toBeGreaterThanOrEqual(answeredAt.get(`/slow/${i + 1}.txt`)!);
    }
    // The removed pods' tasks really were in flight on them when they were told to stop.
    const ranOnRemoved = await Promise.all(inFlight.map(async (id) => (await stack.record(id)).workerId));
    expect(ranOnRemoved.filter((w) => removed.includes(w!)).length).toBe(2);
    for (const id of waiting) expect((await stack.record(id)).workerId).toBe(survivor);
  }, 180_000);

  it("stops a deleted pod's worker, and starts one for its replacement", async () => {
    const [pod] = await settledOn(1);
    exits.length = 0;
    const r = await cluster.kubectl(["-n", namespace.name, "delete", "pod", pod!, "--wait=false"]);
    expect(r.code, r.stderr).toBe(0);
    await waitFor("the deleted pod's worker to exit", () => exits.some((e) => e.pod === pod), 60_000);
    expect(exits.find((e) => e.pod === pod)!.code).toBe(0);
    const [replacement] = await settledOn(1);
    expect(replacement).not.toBe(pod);
  }, 120_000);
});
