// Tool bootstrap for scripts and CI: makes sure node_modules, nats-server and
// (on demand) apt packages exist, installing them idempotently. Node builtins
// only, so it works before `npm install` has run.
import { execFile, spawn, spawnSync } from "node:child_process";
import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import { availableParallelism, homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export const CACHE_DIR = resolve(process.env.JETQ_CACHE_DIR || join(homedir(), ".cache", "jetq"));
const BIN_DIR = join(CACHE_DIR, "bin");

const NATS_SERVER_MODULE = "github.com/nats-io/nats-server/v2";
const NATS_SERVER_VERSION = "2.15.2";

const defaultLog = (msg) => console.error(`[tools] ${msg}`);

/**
 * The environment for a nats-server that shares this machine with jetq's Node processes: Go would
 * otherwise run on every core and contend with them. Half the cores (at least one) measured faster
 * on a 2-core machine for throughput and latency alike (bench/README.md). GOMAXPROCS, if set, wins;
 * test/support/nats-server.ts applies the same rule to the servers tests and benchmarks start.
 */
export function natsServerEnv(env = process.env) {
  const procs = env.GOMAXPROCS || env.JETQ_NATS_GOMAXPROCS || String(Math.max(1, Math.floor(availableParallelism() / 2)));
  return { ...env, GOMAXPROCS: procs };
}

export function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

// "a.b.c" >= "x.y.z", numerically.
function versionAtLeast(have, want) {
  const a = have.split(".").map(Number);
  const b = want.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

// Returns "2.15.2" for a binary printing "nats-server: v2.15.2", or null.
async function natsServerVersion(bin) {
  try {
    const { stdout, stderr } = await execFileAsync(bin, ["--version"], { timeout: 10_000 });
    return /v(\d+\.\d+\.\d+)/.exec(stdout + stderr)?.[1] ?? null;
  } catch {
    return null;
  }
}

// Runs a command with stdout+stderr both going to our stderr (keeps our
// stdout clean for machine-readable output), rejecting on failure.
export function run(cmd, args, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", 2, 2], ...opts });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${cmd} ${args.join(" ")} failed (${signal ?? `exit code ${code}`})`));
    });
  });
}

export async function ensureNatsServer({ log = defaultLog } = {}) {
  // 1. Explicit override (e.g. a system package or a CI-provided binary).
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) {
    const abs = resolve(fromEnv);
    if (isExecutable(abs)) return abs;
    log(`NATS_SERVER_BIN=${fromEnv} is not an executable file; ignoring it`);
  }

  // 2. Previously installed binary, if recent enough.
  const cached = join(BIN_DIR, "nats-server");
  let why = "not found in cache";
  if (isExecutable(cached)) {
    const version = await natsServerVersion(cached);
    if (version && versionAtLeast(version, NATS_SERVER_VERSION)) return cached;
    why = `cached binary reports ${version ? `v${version}` : "no version"}`;
    // go install refuses to overwrite files it did not build itself.
    rmSync(cached, { force: true });
  }

  // 3. Build it from source with Go (nats-server is a single static Go binary).
  const hasGo = spawnSync("go", ["version"], { stdio: "ignore" });
  if (hasGo.error || hasGo.status !== 0) {
    throw new Error(
      `nats-server not found and 'go' is not available to build it: install Go 1.26+ (nats-server ${NATS_SERVER_VERSION} needs it) or set NATS_SERVER_BIN to a nats-server ${NATS_SERVER_VERSION}+ binary`,
    );
  }
  log(`installing nats-server v${NATS_SERVER_VERSION} into ${BIN_DIR} with go install (needed by tests; ${why})`);
  await run("go", ["install", `${NATS_SERVER_MODULE}@v${NATS_SERVER_VERSION}`], {
    env: { ...process.env, GOBIN: BIN_DIR },
  });
  if (!isExecutable(cached)) throw new Error(`go install succeeded but ${cached} is missing`);
  return cached;
}

let aptUpdated = false; // `apt-get update` is slow; do it at most once per process

export async function ensureAptPackage(pkg, binaryPath) {
  if (existsSync(binaryPath)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${binaryPath} not found: install the Debian package '${pkg}' (apt-get install ${pkg}) or run as root`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) {
    await run("apt-get", ["update"], { env });
    aptUpdated = true;
  }
  await run("apt-get", ["install", "-y", "--no-install-recommends", pkg], { env });
  if (!existsSync(binaryPath)) throw new Error(`installed '${pkg}' but ${binaryPath} is still missing`);
}

const PROMETHEUS_DIR = join(CACHE_DIR, "prometheus");

/** The newest cached Prometheus (`<version>/prometheus`, with promtool beside it), or null. */
function cachedPrometheus() {
  let versions = [];
  try {
    versions = readdirSync(PROMETHEUS_DIR).filter((v) => !v.includes(".partial-") && isExecutable(join(PROMETHEUS_DIR, v, "prometheus")) && isExecutable(join(PROMETHEUS_DIR, v, "promtool")));
  } catch {
    return null;
  }
  versions.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  return versions.length ? join(PROMETHEUS_DIR, versions.at(-1), "prometheus") : null;
}

/**
 * Prometheus for the end-to-end tests: PROMETHEUS_BIN, else the cache, else Debian's `prometheus`
 * package unpacked into `<cache>/prometheus/<version>/` (`apt-get download` + `dpkg-deb -x`: no
 * install, no service started, no root needed once apt's lists exist). Returns the binary's path.
 */
export async function ensurePrometheus({ log = defaultLog } = {}) {
  const fromEnv = process.env.PROMETHEUS_BIN;
  if (fromEnv) {
    const abs = resolve(fromEnv);
    if (isExecutable(abs)) return abs;
    log(`PROMETHEUS_BIN=${fromEnv} is not an executable file; ignoring it`);
  }
  const cached = cachedPrometheus();
  if (cached) return cached;

  const work = mkdtempSync(join(tmpdir(), "jetq-prometheus-"));
  let step = "apt-get download prometheus";
  try {
    log(`installing Prometheus from Debian's 'prometheus' package into ${PROMETHEUS_DIR} (needed by the end-to-end tests)`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    // As root, apt hands downloads to its '_apt' user, which cannot write into our private folder.
    const download = ["-q", ...(process.getuid?.() === 0 ? ["-o", "APT::Sandbox::User=root"] : []), "download", "prometheus"];
    try {
      await run("apt-get", download, { cwd: work, env });
    } catch (err) {
      // Most often apt's package lists are missing or stale: refresh them once (root only) and retry.
      if (err.code === "ENOENT" || process.getuid?.() !== 0 || aptUpdated) throw err;
      step = "apt-get update";
      await run("apt-get", ["-q", "update"], { env });
      aptUpdated = true;
      step = "apt-get download prometheus (after apt-get update)";
      await run("apt-get", download, { cwd: work, env });
    }
    const deb = readdirSync(work).find((f) => f.endsWith(".deb"));
    if (!deb) throw new Error("it left no .deb file");
    step = `dpkg-deb on ${deb}`;
    const { stdout } = await execFileAsync("dpkg-deb", ["-f", join(work, deb), "Version"]);
    const version = stdout.trim().replace(/[^A-Za-z0-9.+~_-]/g, "_");
    if (!version) throw new Error("the package names no version");
    await run("dpkg-deb", ["-x", join(work, deb), join(work, "root")]);
    step = `copying the binaries into ${PROMETHEUS_DIR}`;
    const dest = join(PROMETHEUS_DIR, version);
    const partial = `${dest}.partial-${process.pid}`;
    mkdirSync(partial, { recursive: true });
    for (const bin of ["prometheus", "promtool"]) {
      copyFileSync(join(work, "root", "usr", "bin", bin), join(partial, bin));
      chmodSync(join(partial, bin), 0o755);
    }
    try {
      renameSync(partial, dest);
    } catch (err) {
      // Another process installed the same version meanwhile: use its copy.
      rmSync(partial, { recursive: true, force: true });
      if (!isExecutable(join(dest, "prometheus"))) throw err;
    }
    log(`Prometheus ${version} installed in ${dest}`);
    return join(dest, "prometheus");
  } catch (err) {
    const hint = err.code === "ENOENT" ? " (not found: this installer needs Debian's apt-get and dpkg-deb)" : "";
    throw new Error(`could not install Prometheus: ${step} failed: ${err.message}${hint}; install it yourself and set PROMETHEUS_BIN to its prometheus binary`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function ensureNodeModules({ cwd = process.cwd() } = {}) {
  const lock = join(cwd, "package-lock.json");
  const installed = join(cwd, "node_modules", ".package-lock.json");
  const hasLock = existsSync(lock);
  // npm writes node_modules/.package-lock.json on every install; if it is
  // missing or older than the lockfile, node_modules is stale.
  const upToDate = existsSync(installed) && (!hasLock || statSync(installed).mtimeMs >= statSync(lock).mtimeMs);
  if (upToDate) return;
  // `npm ci` installs exactly what the lockfile says and never rewrites it, so a fresh clone stays
  // clean (the lockfile lists every platform's optional packages, as npm 11 writes it). It refuses
  // a package.json that no longer matches the lockfile: then run `npm install` yourself.
  const args = [hasLock ? "ci" : "install", "--no-audit", "--no-fund"];
  defaultLog(`running npm ${args[0]} (node_modules missing or out of date)`);
  const res = spawnSync("npm", args, { cwd, stdio: "inherit" });
  if (res.error) throw res.error;
  if (res.status !== 0) throw new Error(`npm ${args[0]} failed with exit code ${res.status}`);
}

// Direct run: `node scripts/tools.mjs` bootstraps everything and prints the
// nats-server path on stdout.
const isMain = process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (isMain) {
  try {
    ensureNodeModules({ cwd: resolve(fileURLToPath(import.meta.url), "..", "..") });
    // `node scripts/tools.mjs prometheus` prints Prometheus's path instead (test/support/prometheus.ts).
    console.log(process.argv[2] === "prometheus" ? await ensurePrometheus() : await ensureNatsServer());
  } catch (err) {
    console.error(`[tools] ${err.message}`);
    process.exit(1);
  }
}
