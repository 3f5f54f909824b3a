// Spawns test/fixtures/worker-process.ts as a real OS process, so tests can SIGKILL or SIGTERM it.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { TEST_ENV } from "./stack.js";

const fixture = fileURLToPath(new URL("../fixtures/worker-process.ts", import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  /** JSON lines the process printed. */
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

export interface SpawnOptions {
  /** Another worker program (default: test/fixtures/worker-process.ts); it prints `{"ready":true}` when it is. */
  fixture?: string;
  readyTimeoutMs?: number;
}

export async function spawnWorker(natsUrl: string, env: Record<string, string> = {}, opts: SpawnOptions = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", opts.fixture ?? fixture], {
    env: { ...process.env, ...TEST_ENV, ...env, NATS_URL: natsUrl },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let buf = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        /* not ours */
      }
    }
  });
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  while (!lines.some((l) => l.ready)) {
    if (child.exitCode !== null) throw new Error(`worker process exited early with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error("worker process did not become ready");
    await new Promise((r) => setTimeout(r, 50));
  }
  process.on("exit", () => child.kill("SIGKILL"));
  return { child, lines, exited };
}
