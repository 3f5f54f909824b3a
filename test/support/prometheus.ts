// A throw-away Prometheus for end-to-end tests: its own temp dir (config, targets file, TSDB), a
// free port on 127.0.0.1, scraping every second the host:port targets the test names through
// file-based service discovery, so targets can change while it runs. The binary comes from
// PROMETHEUS_BIN (set by scripts/test.mjs), else the cache scripts/tools.mjs installs into, else
// `node scripts/tools.mjs prometheus` installs it (Debian's package) on first use.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort } from "../../kit/nats-server.js";

export interface PrometheusOptions {
  /** host:port of every endpoint to scrape (its /metrics), read at start and on refreshTargets(). */
  targets: () => string[];
  scrapeIntervalS?: number;
}

export interface PrometheusHandle {
  /** Base URL, e.g. http://127.0.0.1:PORT (the HTTP API is under /api/v1). */
  url: string;
  stop(): Promise<void>;
  /** Freezes it (SIGSTOP): connections are accepted by the kernel but never answered. */
  pause(): Promise<void>;
  /** Thaws it (SIGCONT) and waits until it answers /-/ready again. */
  resume(): Promise<void>;
  /** Rewrites the targets file and waits until Prometheus's active targets are exactly those. */
  refreshTargets(): Promise<void>;
}

// Same computation as CACHE_DIR in scripts/tools.mjs (kept inline: it is untyped .mjs).
const CACHE_DIR = resolve(process.env.JETQ_CACHE_DIR || join(homedir(), ".cache", "jetq"));
const TOOLS = fileURLToPath(new URL("../../scripts/tools.mjs", import.meta.url));
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

let installing: Promise<string> | undefined;

/** The prometheus binary: PROMETHEUS_BIN, the newest cached one, or installed now. */
export function prometheusBin(): Promise<string> {
  const fromEnv = process.env.PROMETHEUS_BIN;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) return Promise.reject(new Error(`PROMETHEUS_BIN=${fromEnv} is not an executable file`));
    return Promise.resolve(fromEnv);
  }
  const dir = join(CACHE_DIR, "prometheus");
  const versions = existsSync(dir) ? readdirSync(dir).filter((v) => !v.includes(".partial-") && isExecutable(join(dir, v, "prometheus"))) : [];
  versions.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  if (versions.length) return Promise.resolve(join(dir, versions.at(-1)!, "prometheus"));
  installing ??= promisify(execFile)(process.execPath, [TOOLS, "prometheus"], { maxBuffer: 1 << 20 }).then(
    ({ stdout }) => stdout.trim().split("\n").at(-1)!,
    (err: { stderr?: string; message: string }) => {
      throw new Error(`Prometheus is not installed and 'node scripts/tools.mjs prometheus' failed: ${(err.stderr || err.message).trim()}`);
    },
  );
  return installing;
}

export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusHandle> {
  const bin = await prometheusBin();
  const dir = await mkdtemp(join(tmpdir(), "jetq-prometheus-"));
  const targetsFile = join(dir, "targets.json");
  const interval = `${opts.scrapeIntervalS ?? 1}s`;
  await writeTargets(targetsFile, opts.targets());
  // JSON is YAML: the config needs no YAML library.
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    scrape_configs: [{ job_name: "jetq", file_sd_configs: [{ files: [targetsFile], refresh_interval: interval }] }],
  };
  await writeFile(join(dir, "prometheus.yml"), JSON.stringify(config, null, 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    bin,
    [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let logTail = "";
  child.stderr!.on("data", (d: Buffer) => (logTail = (logTail + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);

  const alive = () => child.exitCode === null && child.signalCode === null;
  async function waitReady() {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!alive()) throw new Error(`prometheus exited with ${child.exitCode ?? child.signalCode}: ${logTail}`);
      try {
        if ((await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`prometheus not ready after ${READY_TIMEOUT_MS} ms: ${logTail}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function stop() {
    process.off("exit", killOnExit);
    if (alive()) {
      child.kill("SIGCONT"); // a paused process would not act on SIGTERM
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  }

  try {
    await waitReady();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url,
    stop,
    async pause() {
      if (!alive()) return;
      child.kill("SIGSTOP");
      await waitForState(child.pid!, (s) => s === "T" || s === "t");
    },
    async resume() {
      if (!alive()) return;
      child.kill("SIGCONT");
      await waitForState(child.pid!, (s) => s !== "T" && s !== "t");
      await waitReady();
    },
    async refreshTargets() {
      const want = [...new Set(opts.targets())].sort();
      await writeTargets(targetsFile, want);
      const deadline = Date.now() + 15_000;
      for (;;) {
        const res = await fetch(`${url}/api/v1/targets?state=active`);
        const body = (await res.json()) as { data: { activeTargets: { labels: { instance: string } }[] } };
        const have = body.data.activeTargets.map((t) => t.labels.instance).sort();
        if (JSON.stringify(have) === JSON.stringify(want)) return;
        if (Date.now() > deadline) throw new Error(`prometheus did not take the new targets: has ${have.join(", ") || "none"}, wanted ${want.join(", ") || "none"}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/** Written whole and renamed into place, so Prometheus never reads half a file. */
async function writeTargets(file: string, targets: string[]) {
  await writeFile(`${file}.tmp`, JSON.stringify([{ targets, labels: {} }]));
  await rename(`${file}.tmp`, file);
}

/** Signals are delivered asynchronously: wait (briefly) until the kernel shows the wanted state. */
async function waitForState(pid: number, ok: (state: string) => boolean) {
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    let state: string;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    } catch {
      return; // no /proc, or the process is gone: nothing better to wait on
    }
    if (ok(state)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

function isExecutable(file: string) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
