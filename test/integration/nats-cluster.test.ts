// The 3-node cluster the failover test and benchmark run on (kit/nats-cluster.ts), and what the
// kernel's connection does with it: R3 streams across the nodes, a restarted node that rejoins and
// catches up, and a replica count the servers cannot keep refused at start, by its setting's name.
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadKernelConfig } from "../../kernel/config.js";
import { connectJetq, type JetqConnection } from "../../kernel/connection.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { startNatsCluster, type NatsClusterHandle } from "../../kit/nats-cluster.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { waitFor } from "../support/wait.js";

let cluster: NatsClusterHandle | undefined;
let single: NatsServerHandle | undefined;
const conns: JetqConnection[] = [];
afterAll(async () => {
  await Promise.allSettled(conns.map((c) => c.close()));
  await cluster?.stop();
  await single?.stop();
});

const topology = (replicas: number) => loadKernelConfig({ JETQ_REPLICAS: String(replicas) }).topology;

async function refusal(url: string, replicas: number): Promise<string> {
  const err = await connectJetq(url, topology(replicas), { name: "replicas-check" }).then(
    async (c) => {
      await c.close();
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return String(err);
}

describe("the 3-node JetStream cluster", () => {
  it("keeps R3 streams on every node, survives a node's SIGKILL, and takes the node back", async () => {
    cluster = await startNatsCluster();
    expect(cluster.url.split(",")).toHaveLength(3);
    const conn = await connectJetq(cluster.url, topology(3), { name: "cluster-check" });
    conns.push(conn);
    const info = await conn.jsm.streams.info(TOPOLOGY.tasksStream);
    expect(info.config.num_replicas).toBe(3);
    expect([info.cluster!.leader, ...info.cluster!.replicas!.map((r) => r.name)].sort()).toEqual(cluster.nodes.map((n) => n.name).sort());

    const meta = await cluster.waitForMetaLeader();
    await meta.kill();
    expect(meta.running).toBe(false);
    const next = await cluster.waitForMetaLeader();
    expect(next.name).not.toBe(meta.name);
    // The kernel's connection moves to a live node and JetStream answers again.
    await waitFor("stream info through a live node", async () => (await conn.jsm.streams.info(TOPOLOGY.tasksStream)).cluster?.leader, 60_000, 200);

    await meta.start();
    await cluster.waitHealthy(60_000);
    const back = await waitFor("the restarted node current on the work stream", async () => {
      const i = await conn.jsm.streams.info(TOPOLOGY.tasksStream);
      const peer = i.cluster?.leader === meta.name ? { current: true } : i.cluster?.replicas?.find((r) => r.name === meta.name);
      return peer?.current && i;
    }, 60_000, 200);
    expect(back.config.num_replicas).toBe(3);
  }, 120_000);

  it("refuses JETQ_REPLICAS the servers cannot keep, naming it", async () => {
    expect(await refusal(cluster!.url, 5)).toContain("JETQ_REPLICAS: 5");
    single = await startNatsServer();
    expect(await refusal(single.url, 3)).toContain("JETQ_REPLICAS: 3");
  }, 60_000);
});
