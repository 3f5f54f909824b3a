// Builds the local control plane's binaries once into ~/.cache/jetq/k8s/<version>/bin: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (through wrapper modules, see
// wrappers.mjs) and kwok (plain `go install`), and writes kwok's stages. A binary already there is
// not rebuilt; each one is written under a temporary name and renamed, so an interrupted build never
// leaves half a binary. etcd, kube-apiserver and kubectl found together in KUBEBUILDER_ASSETS or on
// the PATH are used instead of building them.
//
//   node scripts/cluster/build.mjs    → progress on stderr, the bin dir as the last line on stdout
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, renameSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION, loadClusterConfig } from "./config.mjs";
import { assertGoAvailable, runGo } from "./go-tool.mjs";
import { ensureKwokStages } from "./kwok-stages.mjs";
import { withLock } from "./lock.mjs";
import { isExecutable } from "../tools.mjs";
import {
  KUBERNETES_COMMANDS,
  kubernetesVersionLdflags,
  prepareEtcdWrapper,
  prepareKubernetesWrapper,
} from "./wrappers.mjs";

// The envtest set (controller-runtime's KUBEBUILDER_ASSETS convention).
const ENVTEST_BINARIES = ["etcd", "kube-apiserver", "kubectl"];
const PARTIAL_MARK = ".partial-";
// A cold build is ~30 minutes of both cores; on a busy machine it takes longer.
const BUILD_LOCK_WAIT_MS = 3 * 60 * 60 * 1000;

const defaultLog = (message) => console.error(`[cluster:build] ${message}`);

function formatElapsed(ms) {
  const seconds = Math.round(ms / 1000);
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

/**
 * etcd, kube-apiserver and kubectl from KUBEBUILDER_ASSETS (which must then hold all three) or,
 * failing that, from the PATH when all three are there. Only the whole set is taken: a lone kubectl
 * on the PATH is often another version (cloud SDKs ship one) and is left alone.
 */
export function providedBinaries(config) {
  if (config.kubebuilderAssets) {
    const found = Object.fromEntries(ENVTEST_BINARIES.map((name) => [name, join(config.kubebuilderAssets, name)]));
    const missing = ENVTEST_BINARIES.filter((name) => !isExecutable(found[name]));
    if (missing.length > 0) {
      throw new Error(`KUBEBUILDER_ASSETS=${config.kubebuilderAssets} has no executable ${missing.join(", ")}`);
    }
    return { source: "KUBEBUILDER_ASSETS", binaries: found };
  }
  const found = {};
  for (const name of ENVTEST_BINARIES) {
    const dir = config.path.split(delimiter).find((entry) => entry && isExecutable(join(entry, name)));
    if (!dir) return { source: null, binaries: {} };
    found[name] = join(dir, name);
  }
  return { source: "PATH", binaries: found };
}

// The controller manager and scheduler built here are ${KUBERNETES_VERSION}; Kubernetes supports
// them being at most one minor version older than the API server, never newer.
function warnOnVersionSkew(apiServer, log) {
  const probe = spawnSync(apiServer, ["--version"], { encoding: "utf8", timeout: 10_000 });
  const have = /v1\.(\d+)\./.exec(`${probe.stdout}${probe.stderr}`)?.[1];
  const want = /^v1\.(\d+)\./.exec(KUBERNETES_VERSION)[1];
  if (!have) log(`could not read the version of ${apiServer}`);
  else if (Number(have) < Number(want)) {
    log(`warning: ${apiServer} is v1.${have}, older than the ${KUBERNETES_VERSION} controller manager and scheduler built here (unsupported skew)`);
  }
}

// A previous build interrupted mid-write leaves only files under a temporary name (the build lock
// makes sure no other build is writing them now): remove them.
function removePartials(binDir) {
  for (const file of readdirSync(binDir)) {
    if (file.includes(PARTIAL_MARK)) rmSync(join(binDir, file), { force: true, recursive: true });
  }
}

async function timed(name, what, log, build) {
  const started = Date.now();
  log(`building ${name} (${what}); progress every minute`);
  const ticker = setInterval(() => log(`still building ${name}: ${formatElapsed(Date.now() - started)}`), 60_000);
  try {
    await build();
  } finally {
    clearInterval(ticker);
  }
  log(`built ${name} in ${formatElapsed(Date.now() - started)}`);
}

// `go build -o` into a temporary name beside the target, then an atomic rename.
async function goBuildAtomically(wrapperDir, pkg, target, ldflags) {
  const partial = `${target}${PARTIAL_MARK}${process.pid}`;
  await runGo(["build", "-trimpath", "-ldflags", ldflags, "-o", partial, pkg], { cwd: wrapperDir });
  renameSync(partial, target);
}

// `go install` into a temporary GOBIN on the same file system, then an atomic rename.
async function goInstallAtomically(modulePath, target) {
  const tempBin = mkdtempSync(`${target}${PARTIAL_MARK}`);
  try {
    await runGo(["install", "-trimpath", "-ldflags", "-s -w", modulePath], { env: { GOBIN: tempBin }, cwd: tempBin });
    const built = readdirSync(tempBin);
    if (built.length !== 1) throw new Error(`go install ${modulePath} produced ${built.join(", ") || "nothing"}`);
    renameSync(join(tempBin, built[0]), target);
  } finally {
    rmSync(tempBin, { recursive: true, force: true });
  }
}

/**
 * Makes sure every control-plane binary and kwok's stages exist; returns
 * `{ binDir, binaries: {etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok}, stagesFile }`.
 */
export async function ensureClusterBinaries(config = loadClusterConfig(), { log = defaultLog } = {}) {
  // One build per cache at a time: a second one waits, then finds the binaries there.
  return withLock(join(config.k8sCacheDir, ".build.lock"), BUILD_LOCK_WAIT_MS, () => buildMissing(config, log), log);
}

async function buildMissing(config, log) {
  mkdirSync(config.binDir, { recursive: true });
  mkdirSync(config.wrapperDir, { recursive: true });
  removePartials(config.binDir);

  const provided = providedBinaries(config);
  if (provided.source) {
    log(`using ${ENVTEST_BINARIES.join(", ")} from ${provided.source}: ${Object.values(provided.binaries).join(" ")}`);
    warnOnVersionSkew(provided.binaries["kube-apiserver"], log);
  }
  const binaries = { ...provided.binaries };
  const target = (name) => join(config.binDir, name);
  const needed = (name) => !binaries[name] && !isExecutable(target(name));

  if (needed("etcd") || KUBERNETES_COMMANDS.some(needed) || needed("kwok")) assertGoAvailable("the local Kubernetes control plane");

  if (needed("etcd")) {
    await timed("etcd", `go.etcd.io/etcd/server/v3 ${ETCD_VERSION}`, log, async () => {
      const dir = await prepareEtcdWrapper(config.wrapperDir);
      await goBuildAtomically(dir, ".", target("etcd"), "-s -w");
    });
  }

  const kubernetesToBuild = KUBERNETES_COMMANDS.filter(needed);
  if (kubernetesToBuild.length > 0) {
    const started = Date.now();
    log(`preparing the k8s.io/kubernetes ${KUBERNETES_VERSION} wrapper module (downloads modules the first time)`);
    const dir = await prepareKubernetesWrapper(config.wrapperDir);
    log(`wrapper module ready in ${formatElapsed(Date.now() - started)}: ${dir}`);
    const ldflags = `-s -w ${kubernetesVersionLdflags()}`;
    for (const name of kubernetesToBuild) {
      await timed(name, `k8s.io/kubernetes ${KUBERNETES_VERSION}`, log, () =>
        goBuildAtomically(dir, `./cmd/${name}`, target(name), ldflags),
      );
    }
  }

  if (needed("kwok")) {
    await timed("kwok", `sigs.k8s.io/kwok ${KWOK_VERSION}`, log, () =>
      goInstallAtomically(`sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`, target("kwok")),
    );
  }

  for (const name of [...KUBERNETES_COMMANDS, "etcd", "kwok"]) binaries[name] ??= target(name);
  const stagesFile = await ensureKwokStages(config.stagesFile);
  return { binDir: config.binDir, binaries, stagesFile };
}

const isMain = process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (isMain) {
  try {
    const started = Date.now();
    const { binDir } = await ensureClusterBinaries();
    defaultLog(`all binaries ready in ${formatElapsed(Date.now() - started)}`);
    console.log(binDir);
  } catch (err) {
    defaultLog(err.message);
    process.exit(1);
  }
}
