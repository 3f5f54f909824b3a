// How long the API answers 503, and how long creates stall, when the JetStream leader dies: a
// 3-node cluster on loopback (kit/nats-cluster.ts, R3 streams and buckets), the API and one worker
// in this process on connections of their own, a steady stream of HTTP creates, and several
// SIGKILLs. Before each kill the victim is made to lead the work stream, its consumers and the
// state and queued buckets (leader step-downs); every other kill it is also the node the API's
// connection is on, so both "the API must reconnect" and "the API's node survives" are measured.
// After each kill the node is started again and the cluster waits until healthy.
//
//   NATS_SERVER_BIN=… node --import tsx bench/nats-failover.ts [--kills 6] [--rate 100] [--window 15]
//
// Per kill: the election (kill → a new work-stream leader seen by /jsz), 503s (kill → the last 503
// answered), no accept (the longest time from the kill with no create accepted), the slowest
// accepted create. At the end every accepted task must have succeeded, its handler run once.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createApp } from "../api/app.js";
import { silentLogger } from "../kernel/logger.js";
import { PRIORITIES } from "../kernel/task.js";
import { consumerName, LANES, TOPOLOGY } from "../kernel/topology.js";
import { loadConfig } from "../kit/config.js";
import { outageAfter, startCreateLoad, type CreateAnswer } from "../kit/create-load.js";
import { startNatsCluster, type ClusterNode } from "../kit/nats-cluster.js";
import { connectLibrary } from "../library/connection.js";
import { Worker } from "../worker/runtime.js";
import { benchRegistry, latencySummary, load, natsServerVersion, NOOP_TYPE, REPO_ROOT, sleep } from "./lib.js";

const { values: args } = parseArgs({
  options: {
    kills: { type: "string", default: "6" },
    rate: { type: "string", default: "100" },
    window: { type: "string", default: "15" },
  },
});
const KILLS = Number(args.kills);
const RATE = Number(args.rate);
const WINDOW_MS = Number(args.window) * 1000;
const API_NAME = "bench-failover-api";
const log = (msg: string) => console.error(`[nats-failover] ${msg}`);

const dataDir = mkdtempSync(join(tmpdir(), "jetq-bench-failover-"));
const cluster = await startNatsCluster();
const config = loadConfig({
  NATS_URL: cluster.url,
  JETQ_REPLICAS: "3",
  JETQ_AUTH: "off",
  LOG_LEVEL: "error",
  JETQ_DATA_DIR: dataDir,
  JETQ_WORKER_METRICS_PORT: "0",
  JETQ_CONCURRENCY: "32",
});
const registry = benchRegistry();
const quiet = silentLogger();
const apiConn = await connectLibrary(config.natsUrl, config.topology, { name: API_NAME });
const app = createApp({ conn: apiConn, sourcePolicy: config.documents.sources, registry, config: config.api, defaultTimeoutSeconds: 60, log: quiet });
const server: Server = await new Promise((resolve) => {
  const s = app.listen(0, "127.0.0.1", () => resolve(s));
});
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const runs = new Map<string, number>();
const workerConn = await connectLibrary(config.natsUrl, config.topology, { name: "bench-failover-worker", consumersFor: { taskTypes: [] } });
const worker = new Worker({ conn: workerConn, registry, config: config.worker, log: quiet, moveDeadLetters: true });
worker.handle(NOOP_TYPE, async (ctx) => {
  runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
  return null;
});
await worker.start();

const createLoad = startCreateLoad({ baseUrl, ratePerSecond: RATE, lanes: 16, body: () => ({ type: NOOP_TYPE, payload: {} }) });
await sleep(3_000);

interface KillResult {
  node: string;
  apiOnKilledNode: boolean;
  electionMs: number;
  unavailableMs: number;
  unavailableAnswers: number;
  noAcceptMs: number;
  slowestAcceptMs: number;
  unavailableCodes: Record<string, number>;
  otherAnswers: number;
}
const kills: KillResult[] = [];

for (let k = 0; k < KILLS; k++) {
  const apiOnKilledNode = k % 2 === 0;
  const holders = await Promise.all(cluster.nodes.map(async (n) => ({ n, api: (await cluster.clientsOn(n)).includes(API_NAME) })));
  const victim: ClusterNode = holders.find((h) => h.api === apiOnKilledNode)!.n;
  await cluster.moveLeader(victim, TOPOLOGY.tasksStream);
  for (const p of PRIORITIES) for (const lane of LANES) await cluster.moveLeader(victim, TOPOLOGY.tasksStream, consumerName(config.topology.pool, p, lane));
  for (const bucket of [TOPOLOGY.stateBucket, TOPOLOGY.queuedBucket]) await cluster.moveLeader(victim, `KV_${bucket}`);
  await sleep(3_000); // steady again after the step-downs

  const killedAt = Date.now();
  await victim.kill();
  await cluster.waitForStreamLeader(TOPOLOGY.tasksStream, 60_000, victim.name);
  const electionMs = Date.now() - killedAt;
  await sleep(Math.max(0, killedAt + WINDOW_MS - Date.now()));
  const inWindow = createLoad.answers.filter((a: CreateAnswer) => a.sentAt < killedAt + WINDOW_MS);
  const o = outageAfter(inWindow, killedAt);
  const result = { node: victim.name, apiOnKilledNode, electionMs, unavailableMs: o.unavailableMs, unavailableAnswers: o.unavailableAnswers, noAcceptMs: o.noAcceptMs, slowestAcceptMs: o.slowestAcceptMs, unavailableCodes: o.unavailableCodes, otherAnswers: o.otherAnswers.length };
  kills.push(result);
  log(`kill ${k + 1}/${KILLS}: ${JSON.stringify(result)}`);

  await victim.start();
  await cluster.waitHealthy(120_000);
  await sleep(2_000);
}

const answers = await createLoad.stop();
const accepted = answers.filter((a) => a.status >= 200 && a.status < 300).map((a) => a.id!);
log(`${answers.length} creates, ${accepted.length} accepted; waiting for every accepted task to succeed`);
// A lost ack is redelivered after ack_wait (30 s) and only then skipped: wait that out, then check.
const deadline = Date.now() + 120_000;
let notSucceeded: string[] = accepted;
while (Date.now() < deadline) {
  const left: string[] = [];
  for (const id of notSucceeded) if ((await apiConn.state.get(id))?.record.status !== "succeeded") left.push(id);
  notSucceeded = left;
  if (notSucceeded.length === 0) break;
  await sleep(1_000);
}
const attemptsOverOne: string[] = [];
for (const id of accepted) if (((await apiConn.state.get(id))?.record.attempts ?? 0) > 1) attemptsOverOne.push(id);
const ranTwice = accepted.filter((id) => (runs.get(id) ?? 0) > 1).length;
const neverRan = accepted.filter((id) => !runs.has(id)).length;

await worker.stop(1000);
server.closeAllConnections();
await new Promise((r) => server.close(r));
await Promise.allSettled([workerConn.close(), apiConn.close()]);
await cluster.stop();
rmSync(dataDir, { recursive: true, force: true });

const summary = (pick: (k: KillResult) => number, of = kills) => latencySummary(of.map(pick));
const bySide = (api: boolean) => kills.filter((k) => k.apiOnKilledNode === api);
const out = {
  when: new Date().toISOString(),
  machine: { cpuModel: cpus()[0]?.model ?? "unknown", cpuCount: cpus().length, node: process.version, natsServer: natsServerVersion(), loadAverage: load() },
  args: { kills: KILLS, rate: RATE, windowSeconds: WINDOW_MS / 1000, replicas: 3, ackWaitMs: config.topology.ackWaitMs },
  kills,
  summary: {
    electionMs: summary((k) => k.electionMs),
    unavailableMs: summary((k) => k.unavailableMs),
    unavailableMsApiOnKilledNode: summary((k) => k.unavailableMs, bySide(true)),
    unavailableMsApiElsewhere: summary((k) => k.unavailableMs, bySide(false)),
    noAcceptMs: summary((k) => k.noAcceptMs),
    slowestAcceptMs: summary((k) => k.slowestAcceptMs),
  },
  tasks: { creates: answers.length, accepted: accepted.length, notSucceeded: notSucceeded.length, attemptsOverOne: attemptsOverOne.length, ranTwice, neverRan },
};
mkdirSync(join(REPO_ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(REPO_ROOT, "bench", "results", "nats-failover.json"), JSON.stringify(out, null, 2) + "\n");
console.log(`\nNATS failover, ${out.when}, ${out.machine.cpuCount} x ${out.machine.cpuModel}, node ${out.machine.node}, nats-server ${out.machine.natsServer}, ${KILLS} kills at ${RATE} creates/s`);
console.log("ms                                   p50      max");
for (const [name, s] of Object.entries(out.summary)) console.log(`${name.padEnd(34)} ${String(Math.round(s.p50)).padStart(6)} ${String(Math.round(s.max)).padStart(8)}`);
console.log(`tasks: ${JSON.stringify(out.tasks)}`);
process.exit(notSucceeded.length || ranTwice || neverRan ? 1 : 0);
