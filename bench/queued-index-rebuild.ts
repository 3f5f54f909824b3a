// The queued index after a NATS restart: NATS holds it in memory, so a one-node server's restart
// drops it, and the API's keeper (kernel/queued-index-keeper.ts) rebuilds it from the work stream.
// This fills the queue to --tasks through the kernel's TaskQueue.create (~1,000 in flight), notes
// nats-server's memory, restarts the server, and times the keeper's rebuild; then looks up random
// queued tasks by id (TaskQueue.find: two direct gets) to show the index answers as before.
//
//   NATS_SERVER_BIN=… node --import tsx bench/queued-index-rebuild.ts [--tasks 1000000] [--lookups 500]
//
// Prints JSON on stdout.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { loadKernelConfig } from "../kernel/config.js";
import { connectJetq } from "../kernel/connection.js";
import { QueuedIndexKeeper } from "../kernel/queued-index-keeper.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { documentTaskTypes } from "../library/task-types.js";
import { startNatsServer } from "../kit/nats-server.js";
import { childPid, latencySummary, natsServerVersion, pipelined, rate } from "./lib.js";

const { values: args } = parseArgs({ options: { tasks: { type: "string", default: "1000000" }, lookups: { type: "string", default: "500" } } });
const TASKS = Number(args.tasks);
const LOOKUPS = Number(args.lookups);
const log = (msg: string) => process.stderr.write(`[rebuild] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);
const rssMiB = (pid: number | undefined) => {
  try {
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024);
  } catch {
    return null;
  }
};

const nats = await startNatsServer();
const kernel = loadKernelConfig({ NATS_URL: nats.url, LOG_LEVEL: "error" });
const conn = await connectJetq(nats.url, kernel.topology, { name: "bench-queued-index-rebuild" });
const queue = taskQueueFor(conn, documentTaskTypes(), { defaultTimeoutSeconds: kernel.defaultTimeoutSeconds, publishDeadlineMs: 60_000, publishAttemptMs: 10_000 });
const priorities = ["high", "normal", "low"] as const;
const sample: string[] = [];

let t = performance.now();
await pipelined(TASKS, 1000, async (i) => {
  const { record } = await queue.create({ type: "sync_sources", payload: { sourceId: randomUUID() }, priority: priorities[i % 3] });
  if (i % Math.max(1, Math.floor(TASKS / 2000)) === 0) sample.push(record.id);
  if (i > 0 && i % 100_000 === 0) log(`${i} queued`);
});
const fillMs = performance.now() - t;
const natsBefore = rssMiB(childPid("nats-server"));
log(`filled ${TASKS} in ${Math.round(fillMs)} ms; nats-server RSS ${natsBefore} MiB`);

async function lookups() {
  const ms: number[] = [];
  for (let i = 0; i < LOOKUPS; i++) {
    const id = sample[Math.floor(Math.random() * sample.length)]!;
    const s = performance.now();
    const found = await queue.find(id);
    ms.push(performance.now() - s);
    if (found?.record.status !== "queued") throw new Error(`task ${id} is not found as queued`);
  }
  return latencySummary(ms);
}
const before = await lookups();
log(`lookups before: ${JSON.stringify(before)}`);

await nats.restart();
const restartedAt = performance.now();
await new Promise<void>((resolve) => {
  const check = () => (conn.connected ? resolve() : setTimeout(check, 50));
  check();
});
const keeper = new QueuedIndexKeeper(conn);
t = performance.now();
const outcome = await keeper.check();
const rebuildMs = performance.now() - t;
if (outcome.outcome !== "rebuilt") throw new Error(`expected a rebuild, got ${JSON.stringify(outcome)}`);
log(`rebuilt: ${JSON.stringify(outcome)} (${Math.round(performance.now() - restartedAt)} ms after the restart)`);
const after = await lookups();
const natsAfter = rssMiB(childPid("nats-server"));

const result = {
  machine: { cpuModel: cpus()[0]?.model, cpuCount: cpus().length, node: process.version, natsServer: natsServerVersion(), date: new Date().toISOString(), loadavg: loadavg() },
  tasks: TASKS,
  fill: { ms: Math.round(fillMs), ratePerS: rate(TASKS, fillMs) },
  natsRssMiB: { filled: natsBefore, afterRebuild: natsAfter },
  rebuild: { ms: Math.round(rebuildMs), entriesPerS: rate(outcome.entries, rebuildMs), entries: outcome.entries, skipped: outcome.skipped },
  lookupMs: { before, after },
};
console.log(JSON.stringify(result, null, 2));
keeper.stop();
await conn.close();
await nats.stop();
