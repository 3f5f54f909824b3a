// The operator's controller core against the real local control plane: the informer (add, update,
// delete; a cut connection; a silently stuck one; 410 Gone after an etcd compaction), leader
// election on a Lease (one leader; release on stop; takeover after SIGKILL; giving up when renewals
// fail), status merge patches on the ProcessingTask CRD, metadata patches, and Events.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type CoreV1Event, type V1ConfigMap } from "@kubernetes/client-node";
import winston from "winston";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Logger } from "../../kernel/logger.js";
import { setCondition } from "../../operator/core/conditions.js";
import { EventRecorder } from "../../operator/core/events.js";
import { createInformer, type Informer, type InformerEventType } from "../../operator/core/informer.js";
import { LeaderElector } from "../../operator/core/leader-election.js";
import { PROCESSING_TASKS, resourcePath, type ProcessingTask } from "../../operator/core/resources.js";
import { httpStatusOf, patchMetadata, patchStatus, removeFinalizer } from "../../operator/core/status.js";
import { CLUSTER_HOOK_TIMEOUT_MS, createTestNamespace, installCrds, useCluster, type TestCluster } from "../support/cluster.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { waitFor } from "../support/wait.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const suffix = () => randomBytes(3).toString("hex");

/** A logger that keeps what it logs, so a test can see what the informer or elector said. */
function capturingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const sink = new Writable({
    objectMode: true,
    write(info: { message: string }, _enc, cb) {
      messages.push(info.message);
      if (process.env.JETQ_TEST_LOGS) process.stderr.write(`${JSON.stringify(info)}\n`);
      cb();
    },
  });
  const logger = winston.createLogger({ level: "debug", transports: [new winston.transports.Stream({ stream: sink })] });
  return { logger, messages };
}

/** The same credentials, another address (the TCP proxy in front of the API server). */
function kubeConfigVia(kc: KubeConfig, server: string): KubeConfig {
  const current = kc.getCurrentCluster()!;
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === current.name ? { ...c, server } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return copy;
}

function recordChanges<T extends { metadata?: { name?: string } }>(informer: Informer<T>) {
  const changes: Array<{ type: InformerEventType; name: string }> = [];
  informer.onChange((type, obj) => changes.push({ type, name: obj.metadata?.name ?? "" }));
  return changes;
}

let cluster: TestCluster;
let namespace: string;
let removeNamespace: () => Promise<void>;
let core: CoreV1Api;
let apiServerPort: number;
const proxies: TcpProxy[] = [];
const informers: Array<{ stop(): void }> = [];
const electors: LeaderElector[] = [];

beforeAll(async () => {
  cluster = await useCluster();
  const ns = await createTestNamespace(cluster.kc, "core");
  namespace = ns.name;
  removeNamespace = ns.remove;
  core = cluster.kc.makeApiClient(CoreV1Api);
  apiServerPort = Number(new URL(cluster.kc.getCurrentCluster()!.server).port);
}, CLUSTER_HOOK_TIMEOUT_MS);

afterAll(async () => {
  for (const i of informers) i.stop();
  await Promise.all(electors.map((e) => e.stop()));
  await Promise.all(proxies.map((p) => p.close()));
  await removeNamespace?.();
});

async function proxyToApiServer(): Promise<{ proxy: TcpProxy; kc: KubeConfig }> {
  const proxy = await startTcpProxy(apiServerPort);
  proxies.push(proxy);
  return { proxy, kc: kubeConfigVia(cluster.kc, `https://127.0.0.1:${proxy.port}`) };
}

function configMapInformer(kc: KubeConfig, label: string, logger: Logger, extra: { watchdogMs?: number } = {}) {
  const api = kc.makeApiClient(CoreV1Api);
  let lists = 0;
  const labelSelector = `jetq-test=${label}`;
  const informer = createInformer<V1ConfigMap>(kc, {
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    list: () => {
      lists++;
      return api.listNamespacedConfigMap({ namespace, labelSelector });
    },
    labelSelector,
    logger,
    backoff: { baseMs: 100, maxMs: 1_000 },
    ...extra,
  });
  informers.push(informer);
  return { informer, lists: () => lists };
}

const configMap = (name: string, label: string, data: Record<string, string> = {}) => ({ metadata: { name, namespace, labels: { "jetq-test": label } }, data });

describe("informer", () => {
  it("lists, then sees objects added, updated and deleted", async () => {
    const label = `basic-${suffix()}`;
    await core.createNamespacedConfigMap({ namespace, body: configMap("listed", label, { v: "1" }) });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: `unlabelled-${label}`, namespace }, data: {} } });
    const { logger } = capturingLogger();
    const { informer } = configMapInformer(cluster.kc, label, logger);
    const changes = recordChanges(informer);
    await informer.start();
    // Synced: the list is in the cache when start() resolves; the label selector holds.
    expect(informer.list().map((c) => c.metadata?.name)).toEqual(["listed"]);
    expect(changes).toEqual([{ type: "add", name: "listed" }]);

    await core.createNamespacedConfigMap({ namespace, body: configMap("added", label, { v: "1" }) });
    await waitFor("add seen", () => informer.get("added", namespace));
    await core.replaceNamespacedConfigMap({ name: "added", namespace, body: configMap("added", label, { v: "2" }) });
    await waitFor("update seen", () => informer.get("added", namespace)?.data?.v === "2");
    await core.deleteNamespacedConfigMap({ name: "listed", namespace });
    await waitFor("delete seen", () => !informer.get("listed", namespace));
    expect(changes).toEqual([
      { type: "add", name: "listed" },
      { type: "add", name: "added" },
      { type: "update", name: "added" },
      { type: "delete", name: "listed" },
    ]);
    informer.stop();
  });

  it("recovers from a cut connection and sees what changed while it was away, then later changes", async () => {
    const label = `cut-${suffix()}`;
    const { proxy, kc } = await proxyToApiServer();
    const { logger, messages } = capturingLogger();
    await core.createNamespacedConfigMap({ namespace, body: configMap("kept", label, { v: "1" }) });
    await core.createNamespacedConfigMap({ namespace, body: configMap("doomed", label) });
    const { informer, lists } = configMapInformer(kc, label, logger);
    const changes = recordChanges(informer);
    await informer.start();
    expect(informer.list()).toHaveLength(2);

    await proxy.cut();
    // While the informer cannot reach the API server:
    await core.createNamespacedConfigMap({ namespace, body: configMap("born-while-away", label) });
    await core.replaceNamespacedConfigMap({ name: "kept", namespace, body: configMap("kept", label, { v: "2" }) });
    await core.deleteNamespacedConfigMap({ name: "doomed", namespace });
    await waitFor("a failed reconnect", () => messages.includes("list/watch failed: retrying"), 15_000);
    await sleep(1_500); // a few refused attempts with backoff
    expect(informer.get("born-while-away", namespace)).toBeUndefined();

    const connectionsBefore = proxy.connections;
    await proxy.reopen();
    await waitFor(
      "the changes made while away",
      () => informer.get("born-while-away", namespace) && informer.get("kept", namespace)?.data?.v === "2" && !informer.get("doomed", namespace),
      20_000,
    );
    expect(proxy.connections).toBeGreaterThan(connectionsBefore);
    expect(changes.slice(2)).toEqual([
      { type: "add", name: "born-while-away" },
      { type: "update", name: "kept" },
      { type: "delete", name: "doomed" },
    ]);
    // Resumed from its resourceVersion: the API server replayed the missed events, no relist.
    expect(lists()).toBe(1);

    await core.createNamespacedConfigMap({ namespace, body: configMap("after", label) });
    await waitFor("a change after the recovery", () => informer.get("after", namespace), 20_000);
    informer.stop();
  });

  it("restarts a watch that went silent (connection open, nothing arriving) after watchdogMs", async () => {
    const label = `stuck-${suffix()}`;
    const { proxy, kc } = await proxyToApiServer();
    const { logger, messages } = capturingLogger();
    const { informer } = configMapInformer(kc, label, logger, { watchdogMs: 2_500 });
    await informer.start();
    await core.createNamespacedConfigMap({ namespace, body: configMap("before-freeze", label) });
    await waitFor("live watch", () => informer.get("before-freeze", namespace));

    proxy.freeze(); // the open watch now hears nothing, and nothing tells it so
    await core.createNamespacedConfigMap({ namespace, body: configMap("during-freeze", label) });
    await sleep(1_000);
    expect(informer.get("during-freeze", namespace)).toBeUndefined();
    proxy.thaw(); // new connections work again; the stuck one stays stuck

    await waitFor("the change, through a new watch", () => informer.get("during-freeze", namespace), 20_000);
    expect(messages).toContain("watch silent too long: restarting it");
    informer.stop();
  });

  it("relists after 410 Gone when its resourceVersion was compacted away while it was cut off", async () => {
    // core/v1 Events are the one resource the API server does not serve watches from its watch
    // cache (its default cache size for events is 0), so an etcd compaction makes an old
    // resourceVersion really expire: the server answers the watch with an ERROR event, code 410.
    const state = JSON.parse(readFileSync(join(dirname(cluster.kubeconfigPath), "state.json"), "utf8")) as { ports: { etcdClient: number } };
    const etcd = `http://127.0.0.1:${state.ports.etcdClient}`;
    const { proxy, kc } = await proxyToApiServer();
    const { logger, messages } = capturingLogger();
    const api = kc.makeApiClient(CoreV1Api);
    let lists = 0;
    const informer = createInformer<CoreV1Event>(kc, {
      path: `/api/v1/namespaces/${namespace}/events`,
      list: () => {
        lists++;
        return api.listNamespacedEvent({ namespace, fieldSelector: "reason=CoreTest" });
      },
      logger,
      backoff: { baseMs: 100, maxMs: 1_000 },
    });
    informers.push(informer);
    const event = (name: string): CoreV1Event => ({
      metadata: { name, namespace },
      involvedObject: { kind: "ConfigMap", name: "x", namespace, apiVersion: "v1" },
      reason: "CoreTest",
      message: name,
      type: "Normal",
      source: { component: "core-test" },
    });
    await core.createNamespacedEvent({ namespace, body: event("old-event") });
    await informer.start();
    expect(informer.get("old-event", namespace)).toBeDefined();

    await proxy.cut();
    await core.createNamespacedEvent({ namespace, body: event("new-event") });
    await core.deleteNamespacedEvent({ name: "old-event", namespace });
    // Compact etcd up to now (its HTTP gateway): the informer's resourceVersion is history.
    const head = (await (await fetch(`${etcd}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: "AA==" }) })).json()) as { header: { revision: string } };
    const compacted = await fetch(`${etcd}/v3/kv/compaction`, { method: "POST", body: JSON.stringify({ revision: head.header.revision, physical: true }) });
    expect(compacted.ok).toBe(true);
    await proxy.reopen();

    await waitFor("relisted after 410", () => informer.get("new-event", namespace) && !informer.get("old-event", namespace), 20_000);
    expect(messages).toContain("watch resourceVersion expired (410 Gone): relisting");
    expect(lists).toBe(2);
    // And it watches on from the new list.
    await core.createNamespacedEvent({ namespace, body: event("later-event") });
    await waitFor("watching again", () => informer.get("later-event", namespace), 20_000);
    informer.stop();
  });
});

const FAST = { leaseDurationS: 6, renewDeadlineS: 4, retryPeriodS: 1 };

function elector(kc: KubeConfig, lease: string, identity: string) {
  const transitions: Array<{ leading: boolean; at: number }> = [];
  const { logger } = capturingLogger();
  const e = new LeaderElector({
    kc,
    namespace,
    name: lease,
    identity,
    ...FAST,
    logger,
    onStartedLeading: () => void transitions.push({ leading: true, at: Date.now() }),
    onStoppedLeading: () => void transitions.push({ leading: false, at: Date.now() }),
  });
  electors.push(e);
  return { e, transitions, identity };
}

const readLease = (name: string) => cluster.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name });

describe("leader election", () => {
  it("elects exactly one of two candidates, and stop() hands the lease over at once", async () => {
    const lease = `core-le-${suffix()}`;
    const a = elector(cluster.kc, lease, "replica-a");
    const b = elector(cluster.kc, lease, "replica-b");
    a.e.start();
    b.e.start();
    await waitFor("a leader", () => a.e.isLeader || b.e.isLeader, 20_000);
    // Several renew periods: never two leaders, always one.
    for (let i = 0; i < 40; i++) {
      expect([a.e.isLeader, b.e.isLeader].filter(Boolean)).toHaveLength(1);
      await sleep(100);
    }
    const [leader, standby] = a.e.isLeader ? [a, b] : [b, a];
    const held = await readLease(lease);
    expect(held.spec?.holderIdentity).toBe(leader.identity);
    expect(held.spec?.leaseDurationSeconds).toBe(FAST.leaseDurationS);
    const transitionsBefore = held.spec?.leaseTransitions ?? 0;

    const stoppedAt = Date.now();
    await leader.e.stop();
    expect(leader.e.isLeader).toBe(false);
    expect(leader.transitions.map((t) => t.leading)).toEqual([true, false]);
    const released = await readLease(lease);
    expect(released.spec?.holderIdentity ?? "").toBe("");

    await waitFor("the standby leads", () => standby.e.isLeader, 10_000, 20);
    // Released, so no waiting out the lease: within one jittered retry period.
    expect(Date.now() - stoppedAt).toBeLessThan(FAST.retryPeriodS * 2.2 * 1000 + 1_000);
    const taken = await readLease(lease);
    expect(taken.spec?.holderIdentity).toBe(standby.identity);
    expect(taken.spec?.leaseTransitions).toBe(transitionsBefore + 1);
    await standby.e.stop();
  });

  it("a standby takes over from a leader killed with SIGKILL once the lease expires", async () => {
    const lease = `core-kill-${suffix()}`;
    const fixture = fileURLToPath(new URL("../fixtures/leader-elector-process.ts", import.meta.url));
    const child = spawn(
      process.execPath,
      ["--import", "tsx", fixture, cluster.kubeconfigPath, namespace, lease, "doomed-leader", String(FAST.leaseDurationS), String(FAST.renewDeadlineS), String(FAST.retryPeriodS)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    try {
      await waitFor("the child leads", () => out.includes('"leading":true'), 30_000);
      const standby = elector(cluster.kc, lease, "standby");
      standby.e.start();
      await sleep(2_500);
      expect(standby.e.isLeader).toBe(false); // the live leader keeps renewing

      child.kill("SIGKILL");
      const killedAt = Date.now();
      await exited;
      await waitFor("the standby leads", () => standby.e.isLeader, 30_000, 20);
      const tookMs = Date.now() - killedAt;
      // client-go semantics: the standby waits leaseDuration from when it last saw the record
      // change (its own clock), then takes it at its next jittered retry.
      expect(tookMs).toBeGreaterThan((FAST.leaseDurationS - FAST.retryPeriodS) * 1000 - 500);
      expect(tookMs).toBeLessThan((FAST.leaseDurationS + 2 * 2.2 * FAST.retryPeriodS) * 1000 + 1_000);
      const taken = await readLease(lease);
      expect(taken.spec?.holderIdentity).toBe("standby");
      expect(taken.spec?.leaseTransitions).toBe(1);
      await standby.e.stop();
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("a leader that cannot renew gives up after renewDeadline, before anyone else may take the lease", async () => {
    const lease = `core-deadline-${suffix()}`;
    const { proxy, kc } = await proxyToApiServer();
    const cutOff = elector(kc, lease, "cut-off");
    cutOff.e.start();
    await waitFor("it leads", () => cutOff.e.isLeader, 20_000);
    const other = elector(cluster.kc, lease, "other");
    other.e.start();
    await sleep(1_500);

    proxy.freeze(); // its renewals now hang, unanswered
    const frozenAt = Date.now();
    await waitFor("it gives up", () => !cutOff.e.isLeader, 20_000, 20);
    const lostAt = Date.now();
    expect(lostAt - frozenAt).toBeLessThan((FAST.renewDeadlineS + FAST.retryPeriodS) * 1000 + 1_000);
    await waitFor("the other leads", () => other.e.isLeader, 30_000, 20);
    const otherLeadAt = other.transitions[0]!.at;
    // No moment with two leaders: the cut-off one had stopped before the other started.
    expect(cutOff.transitions.map((t) => t.leading)).toEqual([true, false]);
    expect(otherLeadAt).toBeGreaterThan(cutOff.transitions[1]!.at);
    await other.e.stop();
    await cutOff.e.stop();
  });
});

describe("status, metadata and events on the ProcessingTask CRD", () => {
  beforeAll(async () => {
    await installCrds(cluster);
  }, CLUSTER_HOOK_TIMEOUT_MS);

  const custom = () => cluster.kc.makeApiClient(CustomObjectsApi);
  const read = (name: string) =>
    custom().getNamespacedCustomObject({ group: PROCESSING_TASKS.group, version: PROCESSING_TASKS.version, plural: PROCESSING_TASKS.plural, namespace, name }) as Promise<ProcessingTask>;

  async function createTask(name: string): Promise<ProcessingTask> {
    return (await custom().createNamespacedCustomObject({
      group: PROCESSING_TASKS.group,
      version: PROCESSING_TASKS.version,
      plural: PROCESSING_TASKS.plural,
      namespace,
      body: { apiVersion: "jetq.io/v1alpha1", kind: "ProcessingTask", metadata: { name, namespace }, spec: { type: "sync_sources", payload: {} } },
    })) as ProcessingTask;
  }

  it("merge-patches the status subresource: given fields replace theirs, others stay, spec and generation untouched", async () => {
    const name = `status-${suffix()}`;
    await createTask(name);
    const conditions = setCondition(undefined, { type: "Ready", status: "False", reason: "Queued", message: "waiting for a worker" }, 1);
    await patchStatus(cluster.kc, PROCESSING_TASKS, namespace, name, { phase: "Queued", taskId: "task-1", attempts: 0, observedGeneration: 1, conditions });
    let task = await read(name);
    expect(task.status).toMatchObject({ phase: "Queued", taskId: "task-1", attempts: 0, observedGeneration: 1 });
    expect(task.status?.conditions?.[0]).toMatchObject({ type: "Ready", status: "False", reason: "Queued" });

    await patchStatus(cluster.kc, PROCESSING_TASKS, namespace, name, { phase: "Running", attempts: 1, error: "first attempt failed" });
    task = await read(name);
    expect(task.status).toMatchObject({ phase: "Running", attempts: 1, taskId: "task-1", error: "first attempt failed" });
    expect(task.status?.conditions).toHaveLength(1);

    await patchStatus(cluster.kc, PROCESSING_TASKS, namespace, name, { error: null });
    task = await read(name);
    expect(task.status?.error).toBeUndefined();
    expect(task.spec).toEqual({ type: "sync_sources", payload: {}, priority: "normal" });
    expect(task.metadata?.generation).toBe(1);

    // A status field the schema refuses is refused by the server, with its message.
    const refused = await patchStatus(cluster.kc, PROCESSING_TASKS, namespace, name, { phase: "Exploded" }).catch((err: unknown) => err);
    expect(httpStatusOf(refused)).toBe(422);
  });

  it("merge-patches finalizers and annotations, optimistically when given a resourceVersion", async () => {
    const name = `meta-${suffix()}`;
    const created = await createTask(name);
    await patchMetadata(cluster.kc, PROCESSING_TASKS, namespace, name, { finalizers: ["jetq.io/cancel-task"], annotations: { "jetq.io/note": "hello" } });
    let task = await read(name);
    expect(task.metadata?.finalizers).toEqual(["jetq.io/cancel-task"]);
    expect(task.metadata?.annotations?.["jetq.io/note"]).toBe("hello");

    const stale = await patchMetadata(cluster.kc, PROCESSING_TASKS, namespace, name, { annotations: { "jetq.io/other": "x" }, resourceVersion: created.metadata!.resourceVersion }).catch((err: unknown) => err);
    expect(httpStatusOf(stale)).toBe(409);

    await patchMetadata(cluster.kc, PROCESSING_TASKS, namespace, name, { annotations: { "jetq.io/note": null } });
    task = await read(name);
    expect(task.metadata?.annotations?.["jetq.io/note"]).toBeUndefined();
    await removeFinalizer(cluster.kc, PROCESSING_TASKS, task, "jetq.io/cancel-task");
    task = await read(name);
    expect(task.metadata?.finalizers ?? []).toEqual([]);
  });

  it("records Events that kubectl describe shows, counting repeats", async () => {
    const name = `events-${suffix()}`;
    const task = await createTask(name);
    const { logger, messages } = capturingLogger();
    const recorder = new EventRecorder(cluster.kc, "jetq-operator", logger);
    await recorder.record(task, "Normal", "Queued", "published as task task-9");
    await recorder.record(task, "Normal", "Queued", "published as task task-9");
    await Promise.all([recorder.record(task, "Normal", "Queued", "published as task task-9"), recorder.record(task, "Warning", "PublishFailed", "NATS unavailable")]);

    const events = (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.uid=${task.metadata!.uid}` })).items;
    expect(events).toHaveLength(2);
    const queued = events.find((e) => e.reason === "Queued")!;
    expect(queued).toMatchObject({ type: "Normal", count: 3, message: "published as task task-9", reportingComponent: "jetq-operator", source: { component: "jetq-operator" } });
    expect(queued.involvedObject).toMatchObject({ kind: "ProcessingTask", apiVersion: "jetq.io/v1alpha1", name, namespace });

    const described = await cluster.kubectl(["describe", "processingtask", name, "-n", namespace]);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/Normal\s+Queued\s+.*\(x3 over .*\)\s+jetq-operator\s+published as task task-9/);
    expect(described.stdout).toMatch(/Warning\s+PublishFailed\s+.*jetq-operator\s+NATS unavailable/);

    // Never throws: an Event about an object in a namespace that does not exist is logged.
    await expect(recorder.record({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: `missing-${suffix()}` } }, "Normal", "X", "y")).resolves.toBeUndefined();
    expect(messages).toContain("could not record event");
  });
});

// The informer is also usable for the jetq resources across namespaces (as the controllers use it).
describe("informer over a custom resource", () => {
  it("caches ProcessingTasks of every namespace", async () => {
    await installCrds(cluster);
    const custom = cluster.kc.makeApiClient(CustomObjectsApi);
    const { logger } = capturingLogger();
    const informer = createInformer<ProcessingTask>(cluster.kc, {
      path: resourcePath(PROCESSING_TASKS),
      list: () => custom.listClusterCustomObject({ group: PROCESSING_TASKS.group, version: PROCESSING_TASKS.version, plural: PROCESSING_TASKS.plural }),
      logger,
    });
    informers.push(informer);
    await informer.start();
    const name = `cr-${suffix()}`;
    await custom.createNamespacedCustomObject({
      group: PROCESSING_TASKS.group,
      version: PROCESSING_TASKS.version,
      plural: PROCESSING_TASKS.plural,
      namespace,
      body: { apiVersion: "jetq.io/v1alpha1", kind: "ProcessingTask", metadata: { name, namespace }, spec: { type: "sync_sources", payload: {} } },
    });
    await waitFor("the new task in the cache", () => informer.get(name, namespace));
    await patchStatus(cluster.kc, PROCESSING_TASKS, namespace, name, { phase: "Queued" });
    await waitFor("its status update", () => informer.get(name, namespace)?.status?.phase === "Queued");
    informer.stop();
  });
});
