// Python tools the tests need (schemathesis, for the OpenAPI contract test), installed from PyPI
// into a virtualenv outside the repository ($JETQ_CACHE_DIR/venv, ~/.cache/jetq/venv by default),
// idempotently: a venv that already has the pinned versions is used as it is. Node builtins only.
//
// `node scripts/python-tools.mjs` installs what is missing and prints the schemathesis path.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, realpathSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CACHE_DIR, isExecutable } from "./tools.mjs";

export const VENV_DIR = join(CACHE_DIR, "venv");
export const SCHEMATHESIS_VERSION = "4.32.5";

const LOCK_DIR = join(CACHE_DIR, "venv.lock");
const LOCK_STALE_MS = 15 * 60_000; // a pip install that takes longer than this has died
const defaultLog = (msg) => console.error(`[python-tools] ${msg}`);

const bin = (name) => join(VENV_DIR, "bin", name);

// "schemathesis, version 4.32.5" → "4.32.5"; null when it does not run.
function installedVersion(executable) {
  if (!isExecutable(executable)) return null;
  const res = spawnSync(executable, ["--version"], { encoding: "utf8", timeout: 60_000 });
  if (res.status !== 0) return null;
  return /(\d+\.\d+\.\d+)/.exec(`${res.stdout}${res.stderr}`)?.[1] ?? null;
}

function run(cmd, args) {
  return new Promise((resolvePromise, reject) => {
    // Output to our stderr, keeping stdout for the path this script prints.
    const child = spawn(cmd, args, { stdio: ["ignore", 2, 2], env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" } });
    child.on("error", reject);
    child.on("exit", (code, signal) => (code === 0 ? resolvePromise() : reject(new Error(`${cmd} ${args.join(" ")} failed (${signal ?? `exit code ${code}`})`))));
  });
}

function findPython() {
  for (const candidate of [process.env.PYTHON, "python3", "python"].filter(Boolean)) {
    const res = spawnSync(candidate, ["-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" });
    if (res.status === 0) {
      const [major, minor] = res.stdout.trim().split(".").map(Number);
      if (major === 3 && minor >= 9) return candidate; // schemathesis 4 needs Python 3.9+
    }
  }
  throw new Error("Python 3.9+ with the venv module is needed for schemathesis: install python3 and python3-venv, or set PYTHON");
}

// Two test runs installing at once would corrupt the venv: a lock directory (mkdir is atomic).
async function withLock(fn, log) {
  mkdirSync(CACHE_DIR, { recursive: true });
  for (let waitedMs = 0; ; waitedMs += 500) {
    try {
      mkdirSync(LOCK_DIR);
      break;
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
      let age = 0;
      try {
        age = Date.now() - statSync(LOCK_DIR).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (age > LOCK_STALE_MS) {
        log(`removing a stale lock ${LOCK_DIR}`);
        rmSync(LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (waitedMs === 0) log(`waiting for another install to finish (${LOCK_DIR})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK_DIR, { recursive: true, force: true });
  }
}

/** The path of a schemathesis executable of the pinned version, installing it if needed. */
export async function ensureSchemathesis({ log = defaultLog } = {}) {
  const executable = bin("schemathesis");
  if (installedVersion(executable) === SCHEMATHESIS_VERSION) return executable;
  return withLock(async () => {
    // Another process may have installed it while we waited for the lock.
    const have = installedVersion(executable);
    if (have === SCHEMATHESIS_VERSION) return executable;
    if (!isExecutable(bin("python"))) {
      const python = findPython();
      log(`creating a virtualenv in ${VENV_DIR} (${python})`);
      rmSync(VENV_DIR, { recursive: true, force: true });
      await run(python, ["-m", "venv", VENV_DIR]);
    }
    log(`installing schemathesis ${SCHEMATHESIS_VERSION} from PyPI into ${VENV_DIR} (${have ? `found ${have}` : "not installed"})`);
    await run(bin("python"), ["-m", "pip", "install", "--quiet", `schemathesis==${SCHEMATHESIS_VERSION}`]);
    const now = installedVersion(executable);
    if (now !== SCHEMATHESIS_VERSION) throw new Error(`installed schemathesis ${SCHEMATHESIS_VERSION} but ${executable} reports ${now ?? "nothing"}`);
    return executable;
  }, log);
}

const isMain = process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (isMain) {
  try {
    console.log(await ensureSchemathesis());
  } catch (err) {
    console.error(`[python-tools] ${err.message}`);
    process.exit(1);
  }
}
