// jetq on a 3-node JetStream cluster (R3 streams and buckets): under a steady stream of creates the
// work stream's leader is SIGKILLed. Every task whose create was accepted succeeds exactly once —
// by its state record and by the handler's own side effects — the API answers 503 only briefly,
// and the operator's JetStream depth reading follows the stream to its new leader.
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createApp } from "../../api/app.js";
import { connectJetq, type JetqConnection } from "../../kernel/connection.js";
import { silentLogger, createLogger } from "../../kernel/logger.js";
import { PRIORITIES } from "../../kernel/task.js";
import { consumerName, LANES, TOPOLOGY } from "../../kernel/topology.js";
import { loadConfig } from "../../kit/config.js";
import { outageAfter, startCreateLoad } from "../../kit/create-load.js";
import { startNatsCluster, type NatsClusterHandle } from "../../kit/nats-cluster.js";
import { connectLibrary, type LibraryConnection } from "../../library/connection.js";
import { LIBRARY_TOPOLOGY } from "../../library/topology.js";
import type { WorkerPool } from "../../operator/core/resources.js";
import { createJetStreamDepthSource } from "../../operator/depth/jetstream.js";
import { readSideEffects, registerSideEffectType, SIDE_EFFECT_TYPE } from "../support/side-effects.js";
import { spawnSideEffectWorker } from "../support/side-effect-worker-process.js";
import { TEST_ENV } from "../support/stack.js";
import { testRegistry } from "../support/test-types.js";
import { waitFor } from "../support/wait.js";
import type { WorkerProcess } from "../support/worker-process.js";

const log = process.env.JETQ_TEST_LOGS ? createLogger("failover-test", "debug") : silentLogger();
/**
 * R3 everywhere, and the default ack wait: it must outlast an election, or the new consumer leader
 * redelivers tasks whose workers are still recording their outcome (with 3 s, some ran twice).
 */
const CLUSTER_ENV = { ...TEST_ENV, JETQ_REPLICAS: "3", JETQ_ACK_WAIT_MS: "30000" };
/**
 * How long after the kill the API may still answer 503, and go without accepting a create: an
 * election takes 4–9 s, a create retries for 3 s before it answers 503; the rest is room for a
 * busy machine (13.8 s seen once at a load average of 12 on 2 cores).
 */
const MAX_OUTAGE_MS = 20_000;

let cluster: NatsClusterHandle | undefined;
let server: Server | undefined;
const conns: (JetqConnection | LibraryConnection)[] = [];
const workers: WorkerProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), "jetq-failover-"));
const sideEffects = join(dir, "side-effects.jsonl");

afterAll(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await Promise.allSettled(conns.map((c) => c.close()));
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function startApi(url: string) {
  const config = loadConfig({ ...CLUSTER_ENV, JETQ_DATA_DIR: dir, NATS_URL: url });
  const registry = registerSideEffectType(testRegistry());
  const conn = await connectLibrary(config.natsUrl, config.topology, { name: "failover-api", consumersFor: { taskTypes: [] }, logger: log });
  conns.push(conn);
  const app = createApp({ conn, sourcePolicy: config.documents.sources, registry, config: config.api, defaultTimeoutSeconds: 60, log });
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  return { conn, config, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const pool = (taskTypes: string[]): WorkerPool =>
  ({ metadata: { name: "failover", namespace: "default" }, spec: { deploymentName: "workers", taskTypes, maxReplicas: 10 } }) as unknown as WorkerPool;

describe("a 3-node JetStream cluster", () => {
  it("loses no accepted task and runs none twice when the work stream's leader is killed, and the operator's depth follows the new leader", async () => {
    cluster = await startNatsCluster();
    const { conn, config, baseUrl } = await startApi(cluster.url);

    // Every stream and bucket jetq and its library make is R3, spread over the three nodes.
    const streams = [TOPOLOGY.tasksStream, TOPOLOGY.dlqStream, TOPOLOGY.advisoryStream, ...[TOPOLOGY.stateBucket, TOPOLOGY.queuedBucket, TOPOLOGY.idempotencyBucket, TOPOLOGY.workersBucket, TOPOLOGY.leasesBucket, TOPOLOGY.keysBucket, LIBRARY_TOPOLOGY.booksBucket].map((b) => `KV_${b}`)];
    for (const name of streams) {
      const info = await conn.jsm.streams.info(name);
      expect(info.config.num_replicas, name).toBe(3);
      expect(info.cluster?.leader, name).toBeTruthy();
      expect([info.cluster!.leader, ...(info.cluster!.replicas ?? []).map((r) => r.name)].sort(), name).toEqual(cluster.nodes.map((n) => n.name).sort());
    }
    expect(config.topology.replicas).toBe(3);

    for (let i = 0; i < 2; i++) workers.push(await spawnSideEffectWorker(cluster.url, sideEffects, { ...CLUSTER_ENV, JETQ_CONCURRENCY: "4" }));

    const load = startCreateLoad({ baseUrl, ratePerSecond: 40, lanes: 8, body: (n) => ({ type: SIDE_EFFECT_TYPE, payload: { n, ms: 50 } }) });
    // Steady state first: tasks flow end to end before anything is killed.
    await waitFor("tasks flowing", () => readSideEffects(sideEffects).size >= 40, 60_000, 100);

    // The node to kill holds a worker's connection (the API's too, when one node has both) and is
    // made to lead the work stream, its consumers and the two buckets every task writes: the worst
    // one node's death can do, every time, rather than whatever the elections left where.
    const victims = await Promise.all(cluster.nodes.map(async (node) => ({ node, clients: await cluster!.clientsOn(node) })));
    const withWorker = victims.filter((v) => v.clients.includes("side-effect-worker"));
    expect(withWorker.length).toBeGreaterThan(0);
    const leader = (withWorker.find((v) => v.clients.includes("failover-api")) ?? withWorker[0]!).node;
    await cluster.moveLeader(leader, TOPOLOGY.tasksStream);
    for (const priority of PRIORITIES) for (const lane of LANES) await cluster.moveLeader(leader, TOPOLOGY.tasksStream, consumerName(config.topology.pool, priority, lane));
    for (const bucket of [TOPOLOGY.stateBucket, TOPOLOGY.queuedBucket]) await cluster.moveLeader(leader, `KV_${bucket}`);
    const settled = readSideEffects(sideEffects).size;
    await waitFor("tasks flowing after the moves", () => readSideEffects(sideEffects).size >= settled + 20, 60_000, 100);
    log.info("killing", { node: leader.name, clients: victims.find((v) => v.node === leader)!.clients });

    const killedAt = Date.now();
    await leader.kill();
    const newLeader = await cluster.waitForStreamLeader(TOPOLOGY.tasksStream, 60_000, leader.name);
    log.info("new leader", { killed: leader.name, leader: newLeader.name, afterMs: Date.now() - killedAt });
    // Creates go on until well after the election, so recovery is seen, not assumed.
    await waitFor("creates accepted again after the kill", () => load.answers.filter((a) => a.sentAt > killedAt && a.status === 202).length >= 80, 60_000, 100);
    const answers = await load.stop();

    const outage = outageAfter(answers, killedAt);
    log.info("outage", { ...outage, otherAnswers: outage.otherAnswers.length });
    expect(outage.otherAnswers).toEqual([]);
    expect(outage.unavailableMs).toBeLessThan(MAX_OUTAGE_MS);
    expect(outage.noAcceptMs).toBeLessThan(MAX_OUTAGE_MS);

    const accepted = answers.filter((a) => a.status === 202).map((a) => a.id!);
    expect(new Set(accepted).size).toBe(accepted.length);
    const unknown = answers.filter((a) => a.code === "outcome_unknown").map((a) => a.id!);

    // Every accepted task succeeds, with one attempt on its record.
    const finals = await waitFor(
      "every accepted task to succeed",
      async () => {
        const all = await Promise.all(accepted.map(async (id) => (await fetch(`${baseUrl}/api/tasks/${id}/status`)).json() as Promise<{ id: string; status: string; attempts: number }>));
        return all.every((s) => s.status === "succeeded") && all;
      },
      120_000,
      500,
    ).catch(async (err) => {
      const all = await Promise.all(accepted.map(async (id) => (await fetch(`${baseUrl}/api/tasks/${id}/status`)).json() as Promise<{ id: string; status: string }>));
      throw new Error(`${(err as Error).message}; not succeeded: ${JSON.stringify(all.filter((s) => s.status !== "succeeded").slice(0, 5))}`);
    });
    expect(finals.filter((s) => s.attempts !== 1)).toEqual([]);

    // And the handler really ran once per accepted task: no run lost, none repeated.
    const runs = readSideEffects(sideEffects);
    expect(accepted.filter((id) => (runs.get(id)?.length ?? 0) !== 1).map((id) => ({ id, runs: runs.get(id) ?? [] }))).toEqual([]);
    // A create answered "outcome unknown" may have landed; if it did, it ran at most once too.
    expect(unknown.filter((id) => (runs.get(id)?.length ?? 0) > 1)).toEqual([]);
    expect((await (await fetch(`${baseUrl}/api/dlq`)).json()).total).toBe(0);

    // The operator's depth reading: a known backlog, read from the stream's leader, also after
    // that leader dies. The killed node comes back first, so the cluster keeps its quorum.
    for (const w of workers.splice(0)) {
      w.child.kill("SIGTERM");
      await w.exited;
    }
    await leader.start();
    await cluster.waitHealthy(60_000);
    const backlog = 25;
    for (let n = 0; n < backlog; n++) {
      const res = await fetch(`${baseUrl}/api/tasks`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "echo", payload: {} }) });
      expect(res.status).toBe(202);
    }
    const operatorConn = await connectJetq(cluster.url, config.topology, { name: "failover-operator" });
    conns.push(operatorConn);
    const depth = createJetStreamDepthSource(operatorConn.jsm);
    expect(await depth.depth(pool(["echo"]))).toBe(backlog);

    const second = await cluster.waitForStreamLeader(TOPOLOGY.tasksStream);
    await second.kill();
    const third = await cluster.waitForStreamLeader(TOPOLOGY.tasksStream, 60_000, second.name);
    const reading = await waitFor("a depth reading after the second kill", async () => {
      const info = await operatorConn.jsm.streams.info(TOPOLOGY.tasksStream);
      return info.cluster?.leader === third.name && (await depth.depth(pool(["echo"])));
    }, 60_000, 200);
    expect(reading).toBe(backlog);
  }, 300_000);
});
