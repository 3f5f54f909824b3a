// Spawns test/fixtures/side-effect-worker.ts as a real OS process (its side-effect handler appends
// one line per run to `file`), so tests can kill the NATS server under it or signal the worker.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { TEST_ENV } from "./stack.js";
import type { WorkerProcess } from "./worker-process.js";

const fixture = fileURLToPath(new URL("../fixtures/side-effect-worker.ts", import.meta.url));

export async function spawnSideEffectWorker(natsUrl: string, file: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", fixture], {
    env: { ...process.env, ...TEST_ENV, ...env, NATS_URL: natsUrl, JETQ_TEST_SIDE_EFFECTS_FILE: file },
    stdio: ["ignore", "pipe", "inherit"],
  });
  process.on("exit", () => child.kill("SIGKILL"));
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let buf = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let i; (i = buf.indexOf("\n")) >= 0; ) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        /* a log line, not ours */
      }
    }
  });
  const deadline = Date.now() + 60_000;
  while (!lines.some((l) => l.ready)) {
    if (child.exitCode !== null) throw new Error(`side-effect worker exited early with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error("side-effect worker did not become ready within 60 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, lines, exited };
}
