// The local Kubernetes control plane for test/e2e. `npm test` starts one before vitest and names its
// kubeconfig in JETQ_TEST_KUBECONFIG (scripts/test.mjs, which also stops it afterwards). A test file
// run on its own (`npx vitest run test/e2e/x.test.ts`) starts one itself through
// scripts/cluster/up.mjs in <repo>/.jetq-test/cluster-tests: up.mjs holds a lock file on that
// directory and is idempotent, so files running in parallel share one cluster. That cluster stays
// up after the run, to be reused by the next one; stop it with
//   JETQ_DATA_DIR=.jetq-test/cluster-tests npm run cluster:down
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { waitFor } from "./wait.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CRDS_DIR = join(REPO_ROOT, "crds");
/** Where a cluster started by the tests themselves (no JETQ_TEST_KUBECONFIG) keeps its data. */
export const OWN_CLUSTER_DATA_DIR = join(REPO_ROOT, ".jetq-test", "cluster-tests");
/** For the beforeAll that calls useCluster(): starting a cluster takes ~12 s, waiting for another file's start as long again. */
export const CLUSTER_HOOK_TIMEOUT_MS = 180_000;

const CONTROL_PLANE_BINARIES = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"];
const KUBECTL_TIMEOUT_MS = 120_000;

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestCluster {
  kubeconfigPath: string;
  kc: KubeConfig;
  /** The kubectl binary the cluster scripts use (same version as the API server). */
  kubectlPath: string;
  /** Runs kubectl against this cluster; `input` goes to its stdin (for `-f -`). Never throws on a non-zero exit. */
  kubectl(args: string[], input?: string): Promise<KubectlResult>;
}

// The cluster scripts are plain ES modules without type declarations: imported by URL, typed here.
interface ClusterConfig {
  binDir: string;
}
interface ClusterScripts {
  loadClusterConfig(env?: NodeJS.ProcessEnv): ClusterConfig;
  providedBinaries(config: ClusterConfig): { source: string | null; binaries: Record<string, string> };
}

async function clusterScripts(): Promise<ClusterScripts> {
  const config = await import(pathToFileURL(join(REPO_ROOT, "scripts", "cluster", "config.mjs")).href);
  const build = await import(pathToFileURL(join(REPO_ROOT, "scripts", "cluster", "build.mjs")).href);
  return { loadClusterConfig: config.loadClusterConfig, providedBinaries: build.providedBinaries };
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The binaries the cluster scripts would use: KUBEBUILDER_ASSETS or the PATH first, then their own bin dir. */
async function controlPlaneBinaries(): Promise<{ binaries: Record<string, string>; missing: string[]; binDir: string }> {
  const scripts = await clusterScripts();
  const config = scripts.loadClusterConfig();
  const provided = scripts.providedBinaries(config).binaries;
  const binaries: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of CONTROL_PLANE_BINARIES) {
    const file = provided[name] ?? join(config.binDir, name);
    if (isExecutable(file)) binaries[name] = file;
    else missing.push(name);
  }
  return { binaries, missing, binDir: config.binDir };
}

/** kubectl as recorded by `cluster:up` beside the kubeconfig (state.json), else the one the scripts would pick. */
async function kubectlFor(kubeconfigPath: string): Promise<string> {
  const stateFile = join(dirname(kubeconfigPath), "state.json");
  if (existsSync(stateFile)) {
    const recorded = (JSON.parse(readFileSync(stateFile, "utf8")) as { binaries?: Record<string, string> }).binaries?.kubectl;
    if (recorded && isExecutable(recorded)) return recorded;
  }
  const { binaries, binDir } = await controlPlaneBinaries();
  if (!binaries.kubectl) throw new Error(`no kubectl in KUBEBUILDER_ASSETS, on the PATH or in ${binDir}: run node scripts/cluster/build.mjs`);
  return binaries.kubectl;
}

function run(command: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; stderr?: "pipe" | "inherit"; timeoutMs?: number } = {}): Promise<KubectlResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", opts.stderr ?? "pipe"], env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    // Both are pipes (stdio above); only stderr may be inherited.
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${command}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr: signal === "SIGKILL" && timer ? `${stderr}\n(killed after ${opts.timeoutMs} ms)` : stderr });
    });
    child.stdin!.on("error", () => undefined); // EPIPE when it exits before reading: its exit code says why
    child.stdin!.end(opts.input ?? "");
  });
}

async function startOwnCluster(): Promise<string> {
  // A cold build takes ~40 minutes: far too long for a test hook. Say how to get the binaries instead.
  const { missing, binDir } = await controlPlaneBinaries();
  if (missing.length > 0) {
    throw new Error(
      `the local control plane is not built (${missing.join(", ")} missing from ${binDir}): run \`node scripts/cluster/build.mjs\` ` +
        "once (about 40 minutes cold), or run the e2e tests through `npm test`, which builds it",
    );
  }
  const upScript = join(REPO_ROOT, "scripts", "cluster", "up.mjs");
  const result = await run(process.execPath, [upScript], {
    env: { ...process.env, JETQ_DATA_DIR: OWN_CLUSTER_DATA_DIR },
    stderr: "inherit", // its progress, as `npm run cluster:up` shows it
  });
  const kubeconfigPath = result.stdout.trim().split("\n").pop()?.trim();
  if (result.code !== 0 || !kubeconfigPath) throw new Error(`scripts/cluster/up.mjs failed (exit ${result.code}); its output is above`);
  console.error(`[test] this cluster stays up for later runs; stop it with: JETQ_DATA_DIR=${OWN_CLUSTER_DATA_DIR} npm run cluster:down`);
  return kubeconfigPath;
}

let shared: Promise<TestCluster> | undefined;

/** The cluster of this test run (see the top of this file); started at most once per test process. */
export function useCluster(): Promise<TestCluster> {
  shared ??= (async () => {
    const fromRunner = process.env.JETQ_TEST_KUBECONFIG;
    const kubeconfigPath = fromRunner ? resolve(fromRunner) : await startOwnCluster();
    if (!existsSync(kubeconfigPath)) throw new Error(`JETQ_TEST_KUBECONFIG=${fromRunner}: no such file`);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const kubectlPath = await kubectlFor(kubeconfigPath);
    return {
      kubeconfigPath,
      kc,
      kubectlPath,
      kubectl: (args, input) => run(kubectlPath, ["--kubeconfig", kubeconfigPath, ...args], { input, timeoutMs: KUBECTL_TIMEOUT_MS }),
    };
  })();
  // A failed start is not cached: the next file (or a retry) tries again.
  shared.catch(() => (shared = undefined));
  return shared;
}

const isNotFound = (err: unknown) => (err as { code?: number }).code === 404;

/**
 * A namespace of its own for a test (`<prefix>-<random>`), ready for pods: its `default`
 * ServiceAccount exists (pods are refused until it does). remove() deletes it without waiting.
 */
export async function createTestNamespace(kc: KubeConfig, prefix: string): Promise<{ name: string; remove(): Promise<void> }> {
  const core = kc.makeApiClient(CoreV1Api);
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 50) || "test";
  const name = `${base}-${randomBytes(4).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name, labels: { "jetq.io/test": "true" } } } });
  await waitFor(`ServiceAccount ${name}/default`, () => core.readNamespacedServiceAccount({ name: "default", namespace: name }).then(() => true), 60_000, 100);
  return {
    name,
    async remove() {
      await core.deleteNamespace({ name }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    },
  };
}

/** The names of the CustomResourceDefinitions in crds/*.yaml. */
export function crdNames(): string[] {
  return readdirSync(CRDS_DIR)
    .filter((file) => file.endsWith(".yaml"))
    .flatMap((file) => parseAllDocuments(readFileSync(join(CRDS_DIR, file), "utf8")).map((doc) => doc.toJS() as { kind?: string; metadata?: { name?: string } } | null))
    .filter((doc) => doc?.kind === "CustomResourceDefinition" && doc.metadata?.name)
    .map((doc) => doc!.metadata!.name!);
}

/**
 * Installs jetq's CRDs (`kubectl apply --server-side -f crds/`, idempotent, safe in parallel) and
 * waits until they are Established and served (listed by discovery, so kubectl knows their names).
 */
export async function installCrds(cluster: TestCluster): Promise<void> {
  const check = (what: string, r: KubectlResult) => {
    if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  };
  check("kubectl apply -f crds/", await cluster.kubectl(["apply", "--server-side", "--field-manager=jetq-tests", "--force-conflicts", "-f", CRDS_DIR]));
  const names = crdNames();
  check("kubectl wait Established", await cluster.kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names.map((n) => `crd/${n}`)]));
  const plurals = names.map((n) => n.split(".")[0]);
  await waitFor(
    "jetq.io resources in discovery",
    async () => {
      const r = await cluster.kubectl(["api-resources", "--api-group=jetq.io", "-o", "name"]);
      return r.code === 0 && plurals.every((p) => r.stdout.split("\n").some((line) => line.startsWith(`${p}.`)));
    },
    60_000,
    200,
  );
}
