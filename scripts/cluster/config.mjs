// Settings of the local Kubernetes control plane, read once here and passed to the build, up and
// down scripts. The versions are the ones checked to build from the Go module proxy and run
// together on loopback; the cache is keyed by the Kubernetes version.
import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const KUBERNETES_VERSION = "v1.37.2";
export const ETCD_VERSION = "v3.7.3";
export const KWOK_VERSION = "v0.8.0";

// The annotation kwok watches for (`--manage-nodes-with-annotation-selector`).
export const KWOK_NODE_ANNOTATION = { key: "kwok.x-k8s.io/node", value: "fake" };

const repoRoot = resolve(fileURLToPath(import.meta.url), "..", "..", "..");

function fail(message) {
  throw new Error(message);
}

function positiveInteger(env, name, fallback, max) {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    fail(`${name}=${raw} is not a whole number between 1 and ${max}`);
  }
  return value;
}

/** Reads and checks every setting the cluster scripts use; a wrong value fails naming its variable. */
export function loadClusterConfig(env = process.env) {
  // Same defaults as scripts/tools.mjs (cache) and kernel/config.ts (data dir, relative to the repo
  // root as scripts/start.mjs resolves it).
  const cacheDir = resolve(env.JETQ_CACHE_DIR || join(homedir(), ".cache", "jetq"));
  const dataDir = resolve(repoRoot, env.JETQ_DATA_DIR || ".jetq");
  const clusterDir = join(dataDir, "cluster");
  const k8sCacheDir = join(cacheDir, "k8s", KUBERNETES_VERSION);

  const assets = env.KUBEBUILDER_ASSETS;
  let kubebuilderAssets = null;
  if (assets !== undefined && assets !== "") {
    kubebuilderAssets = resolve(assets);
    if (!existsSync(kubebuilderAssets) || !statSync(kubebuilderAssets).isDirectory()) {
      fail(`KUBEBUILDER_ASSETS=${assets} is not a directory (it should hold etcd, kube-apiserver and kubectl)`);
    }
  }

  return {
    repoRoot,
    cacheDir,
    k8sCacheDir,
    binDir: join(k8sCacheDir, "bin"),
    wrapperDir: join(k8sCacheDir, "wrappers"),
    stagesFile: join(k8sCacheDir, "kwok-stages.yaml"),
    clusterDir,
    kubeconfig: join(clusterDir, "kubeconfig"),
    kubebuilderAssets,
    path: env.PATH ?? "",
    fakeNodes: positiveInteger(env, "JETQ_CLUSTER_NODES", 1, 100),
    readyTimeoutMs: positiveInteger(env, "JETQ_CLUSTER_READY_TIMEOUT_S", 120, 3600) * 1000,
  };
}
