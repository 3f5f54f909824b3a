// The real jetq programs as child processes for a benchmark: the API (api/main) and workers
// (worker/main), compiled (dist-bench/, as `npm run bench:deep` runs them) or through tsx when the
// benchmark itself runs from source. Each is its own process, so its memory (/proc) is its own.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freePort } from "../kit/nats-server.js";
import { sleep } from "./lib.js";

const fromSource = import.meta.url.endsWith(".ts");
const entry = (p: string) => fileURLToPath(new URL(fromSource ? p : p.replace(/\.ts$/, ".js"), import.meta.url));

export interface JetqProcess {
  child: ChildProcess;
  pid: number;
  /** Why it exited, if it did (for a benchmark that must notice a crash). */
  exited(): string | null;
  /** The last lines it wrote to stderr. */
  stderrTail(): string;
  stop(): Promise<void>;
}

function run(file: string, env: Record<string, string>): JetqProcess {
  const child = spawn(process.execPath, [...(fromSource ? ["--import", "tsx"] : []), entry(file)], {
    env: { ...process.env, LOG_LEVEL: "error", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let tail = "";
  child.stderr!.on("data", (c: Buffer) => (tail = (tail + c.toString()).slice(-4000)));
  let exitReason: string | null = null;
  child.once("exit", (code, signal) => (exitReason = signal ?? `exit code ${code}`));
  const kill = () => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL");
  process.on("exit", kill);
  return {
    child,
    pid: child.pid!,
    exited: () => exitReason,
    stderrTail: () => tail,
    async stop() {
      if (exitReason) return;
      const gone = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await gone;
      clearTimeout(force);
      process.off("exit", kill);
    },
  };
}

/** The API (api/main) on a free port; resolves once /readyz answers 200. */
export async function startApi(natsUrl: string, dataDir: string): Promise<JetqProcess & { baseUrl: string }> {
  const port = await freePort();
  const api = run("../api/main.ts", { NATS_URL: natsUrl, PORT: String(port), HOST: "127.0.0.1", JETQ_DATA_DIR: dataDir, JETQ_AUTH: "off" });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (api.exited()) throw new Error(`the API exited (${api.exited()}) before it was ready:\n${api.stderrTail()}`);
    if ((await fetch(`${baseUrl}/readyz`).catch(() => null))?.status === 200) return { ...api, baseUrl };
    if (Date.now() > deadline) throw new Error(`the API was not ready after 120 s:\n${api.stderrTail()}`);
    await sleep(100);
  }
}

/** A worker (worker/main) serving every task type, without its metrics server. */
export function startWorker(natsUrl: string, dataDir: string, concurrency: number): JetqProcess {
  return run("../worker/main.ts", { NATS_URL: natsUrl, JETQ_DATA_DIR: dataDir, JETQ_CONCURRENCY: String(concurrency), JETQ_WORKER_METRICS_PORT: "0" });
}

/** VmRSS (resident now) and VmHWM (peak resident since start) of a process, in MiB; null once it is gone. */
export function memoryMiB(pid: number | undefined): { rss: number; peak: number } | null {
  if (!pid) return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { rss: Math.round(kib("VmRSS") / 102.4) / 10, peak: Math.round(kib("VmHWM") / 102.4) / 10 };
  } catch {
    return null;
  }
}
