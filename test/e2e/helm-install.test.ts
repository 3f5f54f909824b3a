// charts/jetq installed with helm into the local control plane. First with its own 3-node NATS
// StatefulSet on persistent volumes: every object is accepted by the API server and every pod is
// scheduled (kwok runs them); uninstall leaves nothing behind. Then with nats.external.url naming a
// nats-server this test runs on 127.0.0.1: the operator run from the repository scales the chart's
// worker Deployment through the chart's default WorkerPool when tasks arrive, the pod runner turns
// its pods into real workers that run them, `helm upgrade` with changed values changes the objects
// (and drops one no longer wanted) without resetting the replicas the operator set, and
// `helm uninstall` leaves nothing behind.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadKernelConfig } from "../../kernel/config.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import type { TaskQueue } from "../../kernel/task-queue.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { connectLibrary, type LibraryConnection } from "../../library/connection.js";
import { documentTaskTypes } from "../../library/task-types.js";
import { CLUSTER_HOOK_TIMEOUT_MS, createTestNamespace, useCluster, type TestCluster } from "../support/cluster.js";
import { CHART_DIR, helm, parseObjects, type HelmResult } from "../support/helm.js";
import { startOperator, type OperatorProcess } from "../support/operator-process.js";
import { startPodRunner, type PodRunner } from "../support/pod-runner.js";
import { TEST_ENV } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

const STEP_TIMEOUT_MS = 240_000;
// Kinds a release of the chart may create in its namespace, and cluster-wide.
const NAMESPACED_KINDS = "deployments,statefulsets,replicasets,pods,services,configmaps,secrets,persistentvolumeclaims,poddisruptionbudgets,serviceaccounts,roles,rolebindings,workerpools.jetq.io";
const CLUSTER_KINDS = "clusterroles,clusterrolebindings";

let cluster: TestCluster;
let namespace: { name: string; remove(): Promise<void> };
let nats: NatsServerHandle;
let conn: LibraryConnection;
let queue: TaskQueue;
let operator: OperatorProcess | undefined;
let runner: PodRunner | undefined;
let dataDir: string;
const volumes: string[] = [];

// No `helm --wait`: the dev cluster's fake node turns NotReady for a few seconds about once a
// minute (kwok's heartbeat lags the node lifecycle controller on a busy machine), which marks every
// pod NotReady until it is recreated, so readiness-based waits hang. Pods are awaited by what this
// test is about: scheduled onto the node and Running.
async function podsRunning(release: string, expected: Record<string, number>): Promise<void> {
  const counts = () => `${JSON.stringify(expected)}`;
  await waitFor(`pods of ${release} scheduled and Running: ${counts()}`, async () => {
    const pods = (await core().listNamespacedPod({ namespace: namespace.name, labelSelector: `app.kubernetes.io/instance=${release}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
    return Object.entries(expected).every(([component, n]) => {
      const mine = pods.filter((p) => p.metadata?.labels?.["app.kubernetes.io/component"] === component);
      return mine.length === n && mine.every((p) => p.spec?.nodeName && p.status?.phase === "Running");
    });
  }, 120_000, 250);
}

const apps = () => cluster.kc.makeApiClient(AppsV1Api);
const core = () => cluster.kc.makeApiClient(CoreV1Api);

async function helmIn(args: string[]): Promise<HelmResult> {
  // --debug: on a timeout, helm's log says which object it was still waiting for.
  const r = await helm([...args, "--kubeconfig", cluster.kubeconfigPath, "--namespace", namespace.name, "--debug"], { timeoutMs: STEP_TIMEOUT_MS });
  if (r.code !== 0) {
    const waits = r.stderr.split("\n").filter((l) => /ready\.go|wait\.go|Error/.test(l)).slice(-8).join("\n");
    const pods = await cluster.kubectl(["get", "pods,deployments", "-n", namespace.name, "-o", "wide"]);
    throw new Error(`helm ${args[0]} failed (${r.code}):\n${waits}\n${pods.stdout}`);
  }
  return r;
}

/** Every object left by a release: in its namespace (by its instance label, plus Helm's own release Secrets) and cluster-wide. */
async function leftovers(release: string): Promise<string[]> {
  const names = async (args: string[]) => {
    const r = await cluster.kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.split("\n").filter(Boolean);
  };
  return [
    ...(await names(["get", NAMESPACED_KINDS, "-n", namespace.name, "-l", `app.kubernetes.io/instance=${release}`, "-o", "name"])),
    ...(await names(["get", "secrets", "-n", namespace.name, "-l", `owner=helm,name=${release}`, "-o", "name"])),
    ...(await names(["get", CLUSTER_KINDS, "-l", `app.kubernetes.io/instance=${release}`, "-o", "name"])),
  ];
}

async function deploymentReplicas(name: string): Promise<number | undefined> {
  return (await apps().readNamespacedDeployment({ name, namespace: namespace.name })).spec?.replicas;
}

beforeAll(async () => {
  cluster = await useCluster();
  namespace = await createTestNamespace(cluster.kc, "helm-install");
  nats = await startNatsServer();
  dataDir = await mkdtemp(join(tmpdir(), "jetq-helm-e2e-"));
  const kernel = loadKernelConfig({ ...TEST_ENV, NATS_URL: nats.url });
  conn = await connectLibrary(nats.url, kernel.topology, { name: "helm-e2e", consumersFor: { taskTypes: [] } });
  queue = taskQueueFor(conn, documentTaskTypes(), { defaultTimeoutSeconds: 60 });
}, CLUSTER_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await operator?.stop("SIGTERM");
  await runner?.stop();
  await conn?.close();
  await nats?.stop();
  await namespace?.remove();
  for (const pv of volumes) await cluster.kubectl(["delete", "pv", pv, "--ignore-not-found", "--wait=false"]);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, CLUSTER_HOOK_TIMEOUT_MS);

describe("helm install with the chart's own 3-node JetStream", () => {
  const release = "chart-a";

  it("is accepted whole: CRDs, RBAC, the StatefulSet on bound volumes, Deployments, every pod scheduled and running", { timeout: STEP_TIMEOUT_MS }, async () => {
    // Volumes for the StatefulSet's claims, of a storage class of this test's own (no provisioner here).
    const storageClass = `jetq-${namespace.name}`;
    for (const i of [0, 1, 2]) {
      const name = `${namespace.name}-nats-${i}`;
      volumes.push(name);
      await core().createPersistentVolume({ body: { metadata: { name }, spec: { capacity: { storage: "1Gi" }, accessModes: ["ReadWriteOnce"], storageClassName: storageClass, persistentVolumeReclaimPolicy: "Retain", hostPath: { path: join(dataDir, name) } } } });
    }
    const install = await helmIn(["install", release, CHART_DIR, "--set", `nats.replicas=3,nats.persistence.size=1Gi,nats.persistence.storageClassName=${storageClass},nats.persistence.whenDeleted=Delete,api.replicas=2`]);
    expect(install.stdout).toContain("NATS: StatefulSet chart-a-jetq-nats, 3 node(s), streams with 3 replica(s).");

    // No replicas in the worker Deployment: Kubernetes' 1, until a WorkerPool scales it.
    await podsRunning(release, { nats: 3, api: 2, operator: 1, worker: 1 });
    const crds = await cluster.kubectl(["get", "crd", "processingtasks.jetq.io", "workerpools.jetq.io", "-o", "name"]);
    expect(crds.stdout.split("\n").filter(Boolean)).toHaveLength(2);
    // Everything the chart rendered exists in the cluster.
    const manifest = parseObjects((await helmIn(["get", "manifest", release])).stdout);
    for (const o of manifest) {
      const r = await cluster.kubectl(["get", o.kind, o.metadata.name, ...(["ClusterRole", "ClusterRoleBinding"].includes(o.kind) ? [] : ["-n", namespace.name]), "-o", "name"]);
      expect(r.code, `${o.kind}/${o.metadata.name}: ${r.stderr}`).toBe(0);
    }
    const pvcs = (await core().listNamespacedPersistentVolumeClaim({ namespace: namespace.name, labelSelector: "app.kubernetes.io/component=nats" })).items;
    expect(pvcs.map((p) => p.status?.phase)).toEqual(["Bound", "Bound", "Bound"]);
  });

  it("helm uninstall leaves nothing behind (the volumes' claims too, with whenDeleted=Delete)", { timeout: STEP_TIMEOUT_MS }, async () => {
    await helmIn(["uninstall", release, "--wait", "--timeout", "3m"]);
    await waitFor(`nothing left of ${release}`, async () => (await leftovers(release)).length === 0, 120_000, 500).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${(await leftovers(release)).join(", ")}`);
    });
  });
});

describe("helm install against an existing NATS, scaled by the operator from the repository", () => {
  const release = "chart-b";
  const worker = "chart-b-jetq-worker";
  let setArgs: string[];

  it("installs without a StatefulSet, pointing every program at that NATS", { timeout: STEP_TIMEOUT_MS }, async () => {
    setArgs = [
      "--set-string", `nats.external.url=${nats.url}`,
      // The test stack's topology, so workers, operator and this test agree on the streams.
      "--set", `config.maxDeliver=${TEST_ENV.JETQ_MAX_DELIVER},config.ackWaitMs=${TEST_ENV.JETQ_ACK_WAIT_MS},worker.shutdownGraceMs=5000`,
      "--set", "worker.autoscaling.minReplicas=0,worker.autoscaling.maxReplicas=4,worker.autoscaling.targetBacklogPerReplica=10,worker.autoscaling.scaleDown.stabilizationWindowSeconds=5,worker.autoscaling.pollingIntervalSeconds=2",
      "--set", "api.replicas=1,api.auth.enabled=false",
    ];
    const install = await helmIn(["install", release, CHART_DIR, ...setArgs]);
    await podsRunning(release, { api: 1, operator: 1, worker: 1 });
    expect(install.stdout).toContain(`NATS: the external cluster at ${nats.url}`);
    const sts = await apps().listNamespacedStatefulSet({ namespace: namespace.name, labelSelector: `app.kubernetes.io/instance=${release}` });
    expect(sts.items).toHaveLength(0);
    const env = (await apps().readNamespacedDeployment({ name: worker, namespace: namespace.name })).spec!.template.spec!.containers[0]!.env!;
    expect(env.find((e) => e.name === "NATS_URL")?.value).toBe(nats.url);
  });

  it("the chart's WorkerPool scales its worker Deployment to zero, up when tasks arrive, and back to zero once the pods' workers ran them", { timeout: STEP_TIMEOUT_MS }, async () => {
    runner = await startPodRunner({ kc: cluster.kc, namespace: namespace.name, deploymentName: worker, natsUrl: nats.url, env: { JETQ_DATA_DIR: join(dataDir, "workers"), JETQ_SHUTDOWN_GRACE_MS: "5000" } });
    operator = await startOperator({ kubeconfigPath: cluster.kubeconfigPath, natsUrl: nats.url, namespace: namespace.name, identity: "helm-e2e" });
    await operator.leading(60_000);
    // An empty queue: down to minReplicas 0.
    await waitFor(`${worker} scaled to 0`, async () => (await deploymentReplicas(worker)) === 0, 60_000, 250);

    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await queue.create({ type: "sync_sources", payload: {} })).record.id);
    // 30 tasks at 10 per replica: 3 replicas.
    await waitFor(`${worker} scaled up`, async () => ((await deploymentReplicas(worker)) ?? 0) >= 2, 60_000, 100);
    const pool = (await cluster.kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: "jetq.io", version: "v1alpha1", namespace: namespace.name, plural: "workerpools", name: worker })) as { status?: { desiredReplicas?: number } };
    expect(pool.status?.desiredReplicas ?? 0).toBeGreaterThanOrEqual(2);
    await waitFor("every task succeeded", async () => {
      const states = await Promise.all(ids.map((id) => queue.get(id).then((r) => r.status, () => "queued")));
      return states.every((s) => s === "succeeded");
    }, 150_000, 500);
    // Drained: back to zero after the 5 s scale-down window, the workers stopped with their pods.
    await waitFor(`${worker} scaled back to 0`, async () => (await deploymentReplicas(worker)) === 0, 90_000, 250);
    await waitFor("no worker process left", () => runner!.workers().length === 0, 60_000, 250);
  });

  it("helm upgrade with changed values changes the objects, drops one no longer wanted, and keeps the operator's replicas", { timeout: STEP_TIMEOUT_MS }, async () => {
    const before = await deploymentReplicas(worker);
    await helmIn(["upgrade", release, CHART_DIR, ...setArgs, "--set", "worker.autoscaling.maxReplicas=2,worker.concurrency=2,api.podDisruptionBudget.enabled=false"]);
    const pool = (await cluster.kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: "jetq.io", version: "v1alpha1", namespace: namespace.name, plural: "workerpools", name: worker })) as { spec: { maxReplicas: number } };
    expect(pool.spec.maxReplicas).toBe(2);
    const d = await apps().readNamespacedDeployment({ name: worker, namespace: namespace.name });
    expect(d.spec!.template.spec!.containers[0]!.env!.find((e) => e.name === "JETQ_CONCURRENCY")?.value).toBe("2");
    // helm does not own spec.replicas (the chart leaves it out): the upgrade left the operator's
    // value (0: the queue is empty) instead of resetting it to Kubernetes' default of 1.
    expect(before).toBe(0);
    expect(d.spec!.replicas).toBe(0);
    const pdbs = await cluster.kubectl(["get", "pdb", "-n", namespace.name, "-l", `app.kubernetes.io/instance=${release}`, "-o", "name"]);
    expect(pdbs.stdout).not.toContain("chart-b-jetq-api");
    expect(pdbs.stdout).toContain("chart-b-jetq-worker");
  });

  it("helm uninstall leaves nothing behind", { timeout: STEP_TIMEOUT_MS }, async () => {
    await operator?.stop("SIGTERM");
    operator = undefined;
    await helmIn(["uninstall", release, "--wait", "--timeout", "3m"]);
    await waitFor(`nothing left of ${release}`, async () => (await leftovers(release)).length === 0, 120_000, 500).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${(await leftovers(release)).join(", ")}`);
    });
  });
});
