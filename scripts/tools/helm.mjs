// Helm for the chart tests: HELM_BIN, else the cached build, else `go install` of the pinned
// version into the cache (about 3.5 minutes on 2 cores, once). Node builtins only.
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { CACHE_DIR, isExecutable, run } from "../tools.mjs";

const execFileAsync = promisify(execFile);

export const HELM_VERSION = "3.22.0";
const HELM_MODULE = "helm.sh/helm/v3/cmd/helm";
/** The Kubernetes version of helm v3.22.0's client-go (v0.37.0). */
const HELM_KUBE_VERSION = { major: "1", minor: "37" };
const BIN_DIR = join(CACHE_DIR, "bin");

const defaultLog = (msg) => console.error(`[tools] ${msg}`);

// "3.22.0" for a helm printing "v3.22.0+g…", or null.
async function helmVersion(bin) {
  try {
    const { stdout } = await execFileAsync(bin, ["version", "--template", "{{.Version}}"], { timeout: 10_000 });
    return /v(\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

// "1.37" for a helm whose `helm template` assumes Kubernetes v1.37, or null: rendered from a
// throw-away chart of one template.
async function helmKubeVersion(bin) {
  const dir = mkdtempSync(join(tmpdir(), "jetq-helm-probe-"));
  try {
    mkdirSync(join(dir, "templates"));
    writeFileSync(join(dir, "Chart.yaml"), "apiVersion: v2\nname: probe\nversion: 0.0.1\n");
    writeFileSync(join(dir, "templates", "v.yaml"), "# {{ .Capabilities.KubeVersion.Major }}.{{ .Capabilities.KubeVersion.Minor }}\n");
    const { stdout } = await execFileAsync(bin, ["template", "probe", dir], { timeout: 10_000 });
    return /# (\d+\.\d+)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Returns the path of a helm v3.22.0 binary, building it once if needed. */
export async function ensureHelm({ log = defaultLog } = {}) {
  const fromEnv = process.env.HELM_BIN;
  if (fromEnv) {
    const abs = resolve(fromEnv);
    if (isExecutable(abs)) return abs;
    log(`HELM_BIN=${fromEnv} is not an executable file; ignoring it`);
  }

  const cached = join(BIN_DIR, "helm");
  let why = "not found in cache";
  if (isExecutable(cached)) {
    const version = await helmVersion(cached);
    const kube = version === HELM_VERSION ? await helmKubeVersion(cached) : null;
    if (kube === `${HELM_KUBE_VERSION.major}.${HELM_KUBE_VERSION.minor}`) return cached;
    why = version === HELM_VERSION ? `cached binary assumes Kubernetes ${kube ?? "(unknown)"}` : `cached binary reports ${version ? `v${version}` : "no version"}`;
    rmSync(cached, { force: true }); // go install refuses to overwrite a binary it did not build
  }

  const hasGo = spawnSync("go", ["version"], { stdio: "ignore" });
  if (hasGo.error || hasGo.status !== 0) {
    throw new Error(`helm not found and 'go' is not available to build it: install Go 1.26+ or set HELM_BIN to a helm v${HELM_VERSION} binary`);
  }
  log(`installing helm v${HELM_VERSION} into ${BIN_DIR} with go install (needed by the chart tests, about 4 minutes once; ${why})`);
  // Stamp what helm's own Makefile stamps: its version, and the Kubernetes version of its client-go
  // (1.37 for v3.22.0), which `helm template` and `helm lint` assume; unstamped they assume 1.20,
  // and a chart's kubeVersion check fails.
  const ldflags = [
    `-X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION}`,
    ...["pkg/lint/rules", "pkg/chartutil"].flatMap((pkg) => [`-X helm.sh/helm/v3/${pkg}.k8sVersionMajor=${HELM_KUBE_VERSION.major}`, `-X helm.sh/helm/v3/${pkg}.k8sVersionMinor=${HELM_KUBE_VERSION.minor}`]),
  ].join(" ");
  await run("nice", ["-n", "10", "go", "install", "-ldflags", ldflags, `${HELM_MODULE}@v${HELM_VERSION}`], {
    env: { ...process.env, GOBIN: BIN_DIR },
  });
  if (!isExecutable(cached)) throw new Error(`go install succeeded but ${cached} is missing`);
  const built = await helmVersion(cached);
  if (built !== HELM_VERSION) throw new Error(`built ${cached} but it reports ${built ? `v${built}` : "no version"}, not v${HELM_VERSION}`);
  const kube = await helmKubeVersion(cached);
  if (kube !== `${HELM_KUBE_VERSION.major}.${HELM_KUBE_VERSION.minor}`) throw new Error(`built ${cached} but it assumes Kubernetes ${kube ?? "(unknown)"}, not ${HELM_KUBE_VERSION.major}.${HELM_KUBE_VERSION.minor}`);
  return cached;
}
