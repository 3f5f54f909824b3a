// Spawns test/fixtures/side-effect-worker.ts as a real OS process (its side-effect handler appends
// one line per run to `file`), so tests can kill the NATS server under it or signal the worker.
import { fileURLToPath } from "node:url";
import { spawnWorker, type WorkerProcess } from "./worker-process.js";

const fixture = fileURLToPath(new URL("../fixtures/side-effect-worker.ts", import.meta.url));

export function spawnSideEffectWorker(natsUrl: string, file: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
  return spawnWorker(natsUrl, { ...env, JETQ_TEST_SIDE_EFFECTS_FILE: file }, { fixture, readyTimeoutMs: 60_000 });
}
