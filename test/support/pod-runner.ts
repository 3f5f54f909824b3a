// The kubelet stand-in of the dev cluster: kwok reports pods Running but runs nothing, so this
// starts one real worker process (worker/main.ts) per Running pod of a worker Deployment, with the
// pod's name as the worker's id and its env from the pod's first container, and SIGTERMs it when
// the pod is deleted, as a kubelet would. It keeps its own list + watch of the pods, restarted
// after any error or end, so a dropped watch never leaves workers running for deleted pods.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { AppsV1Api, CoreV1Api, Watch, type KubeConfig, type V1EnvVar, type V1LabelSelector, type V1Pod } from "@kubernetes/client-node";
import { createLogger, silentLogger, type Logger } from "../../kernel/logger.js";
import { freePort } from "../../kit/nats-server.js";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WORKER_PROGRAM = fileURLToPath(new URL("../../worker/main.ts", import.meta.url));

export interface PodRunnerOptions {
  kc: KubeConfig;
  namespace: string;
  deploymentName: string;
  natsUrl: string;
  /** Added over the pod's env (for what only this machine knows: a data dir, allowed hosts). */
  env?: Record<string, string>;
  logger?: Logger;
  /** SIGTERM → SIGKILL; default the pod's terminationGracePeriodSeconds (30 s when unset). */
  terminationGraceMs?: number;
  /** The worker entry point to run (a .ts file run through tsx); default worker/main.ts. */
  program?: string;
  /** How long to wait for the Deployment to exist; default 30 s. */
  deploymentWaitMs?: number;
}

export interface PodRunner {
  /** Every live worker process; `terminating`: its pod is gone or going and it was sent SIGTERM. */
  workers(): Array<{ pod: string; pid: number; metricsPort: number; terminating: boolean }>;
  stop(): Promise<void>;
  onExit(h: (pod: string, code: number | null) => void): void;
}

interface RunningWorker {
  pod: string;
  child: ChildProcess;
  metricsPort: number;
  exited: Promise<void>;
  terminating: boolean;
  startedAt: number;
  killTimer?: NodeJS.Timeout;
  /** The last lines it printed, for the log when it dies unasked. */
  tail: string[];
}

export async function startPodRunner(opts: PodRunnerOptions): Promise<PodRunner> {
  const log = (opts.logger ?? (process.env.JETQ_TEST_LOGS ? createLogger("pod-runner", "debug") : silentLogger())).child({ deployment: `${opts.namespace}/${opts.deploymentName}` });
  const core = opts.kc.makeApiClient(CoreV1Api);
  const labelSelector = selectorString(await deploymentSelector(opts, log));
  const program = opts.program ?? WORKER_PROGRAM;

  const pods = new Map<string, V1Pod>();
  const running = new Map<string, RunningWorker>();
  const starting = new Set<string>();
  /** Crash-restart backoff per pod: how many restarts in a row, and not before when. */
  const restarts = new Map<string, { count: number; notBefore: number }>();
  const portsInUse = new Set<number>();
  const exitHandlers: Array<(pod: string, code: number | null) => void> = [];
  let stopped = false;
  let abortWatch: AbortController | undefined;
  let retryTimer: NodeJS.Timeout | undefined;

  const wanted = (pod: V1Pod) => pod.status?.phase === "Running" && !pod.metadata?.deletionTimestamp;

  /** Brings the processes in line with the pods: start the missing, terminate the unwanted. */
  function reconcile() {
    if (stopped) return;
    const now = Date.now();
    for (const [name, pod] of pods) {
      if (wanted(pod) && !running.has(name) && !starting.has(name) && (restarts.get(name)?.notBefore ?? 0) <= now) void startWorker(pod);
    }
    for (const name of restarts.keys()) if (!pods.has(name)) restarts.delete(name);
    for (const [name, w] of running) {
      const pod = pods.get(name);
      if (!pod || !wanted(pod)) terminate(w, graceMsFor(pod));
    }
  }

  async function startWorker(pod: V1Pod) {
    const name = pod.metadata!.name!;
    starting.add(name);
    try {
      const metricsPort = await freeUnsharedPort(portsInUse);
      if (stopped || !pods.has(name) || !wanted(pods.get(name)!)) return;
      const env = {
        ...inheritedEnv(),
        ...podEnv(pod),
        ...opts.env,
        NATS_URL: opts.natsUrl,
        JETQ_WORKER_ID: name,
        POD_NAME: name,
        JETQ_WORKER_METRICS_PORT: String(metricsPort),
      };
      const child = spawn(process.execPath, ["--import", "tsx", program], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      portsInUse.add(metricsPort);
      const w: RunningWorker = { pod: name, child, metricsPort, terminating: false, startedAt: Date.now(), tail: [], exited: new Promise((resolve) => child.once("exit", () => resolve())) };
      for (const stream of [child.stdout!, child.stderr!]) forwardLines(stream, (line) => {
        w.tail.push(line);
        if (w.tail.length > 40) w.tail.shift();
        log.debug("worker output", { pod: name, line });
      });
      child.once("exit", (code, signal) => onWorkerExit(w, code, signal));
      running.set(name, w);
      log.info("worker started", { pod: name, pid: child.pid, metricsPort });
    } finally {
      starting.delete(name);
    }
  }

  function onWorkerExit(w: RunningWorker, code: number | null, signal: NodeJS.Signals | null) {
    clearTimeout(w.killTimer);
    if (running.get(w.pod) === w) running.delete(w.pod);
    portsInUse.delete(w.metricsPort);
    if (w.terminating) log.info("worker exited", { pod: w.pod, code, signal });
    else log.warn("worker exited unasked", { pod: w.pod, code, signal, lastLines: w.tail.slice(-15) });
    for (const h of exitHandlers) h(w.pod, code);
    // Like a kubelet with restartPolicy Always: a worker of a pod that is still Running comes back,
    // after a pause that doubles each time (1 s … 10 s) so a crash loop does not spin.
    // A worker that ran a while before it died starts the count again.
    if (!w.terminating && !stopped) {
      const count = Date.now() - w.startedAt > 60_000 ? 1 : (restarts.get(w.pod)?.count ?? 0) + 1;
      const delayMs = Math.min(10_000, 1000 * 2 ** (count - 1));
      restarts.set(w.pod, { count, notBefore: Date.now() + delayMs });
      setTimeout(reconcile, delayMs).unref();
    }
  }

  function terminate(w: RunningWorker, graceMs: number) {
    if (w.terminating) return;
    w.terminating = true;
    log.info("pod deleted: sending SIGTERM", { pod: w.pod, pid: w.child.pid, graceMs });
    w.child.kill("SIGTERM");
    w.killTimer = setTimeout(() => {
      log.warn("worker outlived its grace period: sending SIGKILL", { pod: w.pod, graceMs });
      w.child.kill("SIGKILL");
    }, graceMs);
  }

  function graceMsFor(pod: V1Pod | undefined) {
    return opts.terminationGraceMs ?? (pod?.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
  }

  /** A full list replaces what we knew (deletions missed while not watching included). */
  async function relist(): Promise<string> {
    const list = await core.listNamespacedPod({ namespace: opts.namespace, labelSelector });
    const previous = new Map(pods);
    pods.clear();
    for (const pod of list.items) pods.set(pod.metadata!.name!, pod);
    // A pod that vanished unseen is terminated with the grace period of its last known spec.
    for (const [name, w] of running) if (!pods.has(name)) terminate(w, graceMsFor(previous.get(name)));
    reconcile();
    return list.metadata?.resourceVersion ?? "";
  }

  /** List, then watch from that version; any end or error relists after a short pause. */
  async function listAndWatch(): Promise<void> {
    if (stopped) return;
    const resourceVersion = await relist();
    if (stopped) return;
    abortWatch = await new Watch(opts.kc).watch(
      `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/pods`,
      // The server ends a watch after timeoutSeconds: a periodic relist for free.
      { labelSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 120 },
      (type, obj: V1Pod) => {
        const name = obj?.metadata?.name;
        if (type === "ERROR") {
          log.info("pod watch reported an error; relisting", { status: obj });
          abortWatch?.abort();
          return;
        }
        if (!name || type === "BOOKMARK") return;
        const before = pods.get(name);
        if (type === "DELETED") pods.delete(name);
        else pods.set(name, obj);
        const w = running.get(name);
        if (w && !(type !== "DELETED" && wanted(obj))) terminate(w, graceMsFor(before ?? obj));
        reconcile();
      },
      (err) => {
        if (stopped) return;
        if (err) log.info("pod watch ended with an error; relisting", { error: String(err) });
        scheduleRestart(err ? 1000 : 0);
      },
    );
  }

  function scheduleRestart(delayMs: number) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      listAndWatch().catch((err) => {
        log.warn("pod list failed; retrying", { error: String(err) });
        scheduleRestart(1000);
      });
    }, delayMs);
  }

  // A test run that dies must not leave workers behind.
  const killAll = () => {
    for (const w of running.values()) w.child.kill("SIGKILL");
  };
  process.on("exit", killAll);

  await listAndWatch();

  return {
    workers: () => [...running.values()].map((w) => ({ pod: w.pod, pid: w.child.pid!, metricsPort: w.metricsPort, terminating: w.terminating })),
    onExit: (h) => void exitHandlers.push(h),
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      abortWatch?.abort();
      // A worker still being spawned finishes spawning (its pod may be wanted) and is terminated below.
      while (starting.size > 0) await new Promise((r) => setTimeout(r, 20));
      const all = [...running.values()];
      for (const w of all) terminate(w, opts.terminationGraceMs ?? graceMsFor(pods.get(w.pod)));
      await Promise.all(all.map((w) => w.exited));
      process.off("exit", killAll);
    },
  };
}

/** The Deployment's pod selector (immutable in apps/v1, so read once), waiting for it to exist. */
async function deploymentSelector(opts: PodRunnerOptions, log: Logger): Promise<V1LabelSelector> {
  const apps = opts.kc.makeApiClient(AppsV1Api);
  const deadline = Date.now() + (opts.deploymentWaitMs ?? 30_000);
  for (;;) {
    try {
      const d = await apps.readNamespacedDeployment({ name: opts.deploymentName, namespace: opts.namespace });
      return d.spec!.selector;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== 404 || Date.now() > deadline) {
        throw new Error(`pod runner: cannot read Deployment ${opts.namespace}/${opts.deploymentName}: ${code === 404 ? "it does not exist" : String(err)}`);
      }
      log.debug("waiting for the Deployment to exist");
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** A LabelSelector as the `labelSelector` query string (matchLabels and matchExpressions). */
export function selectorString(s: V1LabelSelector): string {
  const parts = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? []) {
    const values = (e.values ?? []).join(",");
    if (e.operator === "In") parts.push(`${e.key} in (${values})`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin (${values})`);
    else if (e.operator === "Exists") parts.push(e.key);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
    else throw new Error(`pod runner: unknown selector operator ${e.operator}`);
  }
  return parts.join(",");
}

/**
 * The env of the pod's first container: literal values, and the downward API's pod fields
 * (metadata.name and the like). Values from ConfigMaps and Secrets are not read: skipped.
 */
export function podEnv(pod: V1Pod): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    "metadata.name": pod.metadata?.name,
    "metadata.namespace": pod.metadata?.namespace,
    "metadata.uid": pod.metadata?.uid,
    "spec.nodeName": pod.spec?.nodeName,
    "spec.serviceAccountName": pod.spec?.serviceAccountName,
    "status.podIP": pod.status?.podIP,
    "status.hostIP": pod.status?.hostIP,
  };
  const out: Record<string, string> = {};
  for (const e of (pod.spec?.containers?.[0]?.env ?? []) as V1EnvVar[]) {
    if (e.value !== undefined) out[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) {
      const v = fields[e.valueFrom.fieldRef.fieldPath];
      if (v !== undefined) out[e.name] = v;
    }
  }
  return out;
}

/** This process's env without jetq's own settings: a pod's worker gets those from its pod only. */
function inheritedEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/^(JETQ_|NATS_URL$|POD_NAME$)/.test(e[0])));
}

function forwardLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void) {
  let buf = "";
  stream.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

/** A port free now and not handed to another of our workers (which may not have bound it yet). */
async function freeUnsharedPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!taken.has(port)) return port;
  }
}
