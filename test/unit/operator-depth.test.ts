// The WorkerPool's depth sources and burst signal: Prometheus' HTTP API answers (over real HTTP),
// JetStream counts on a real nats-server, and task arrivals heard without a consumer.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AckPolicy } from "@nats-io/jetstream";
import type { V1Pod } from "@kubernetes/client-node";
import { connectJetq, type JetqConnection } from "../../kernel/connection.js";
import { loadKernelConfig } from "../../kernel/config.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { deletionCostChanges, POD_DELETION_COST } from "../../operator/actuators/pod-deletion-cost.js";
import type { WorkerPool } from "../../operator/core/resources.js";
import { DepthUnavailableError } from "../../operator/depth/depth-source.js";
import { createJetStreamDepthSource, depthOfTypes } from "../../operator/depth/jetstream.js";
import { createPrometheusDepthSource, defaultDepthQuery, parseInstantQuery } from "../../operator/depth/prometheus.js";
import { watchTaskArrivals } from "../../operator/pools/task-arrivals.js";
import { testRegistry } from "../support/test-types.js";
import { waitFor } from "../support/wait.js";

const pool = (taskTypes: string[], prometheus?: { url: string; query?: string }): WorkerPool => ({
  apiVersion: "jetq.io/v1alpha1",
  kind: "WorkerPool",
  metadata: { name: "p", namespace: "ns" },
  spec: { deploymentName: "d", taskTypes, minReplicas: 0, maxReplicas: 5, targetBacklogPerReplica: 10, pollingIntervalSeconds: 5, ...(prometheus ? { prometheus } : {}) },
});

const vector = (...values: number[]) => ({ status: "success", data: { resultType: "vector", result: values.map((v) => ({ metric: {}, value: [1700000000.1, String(v)] })) } });

describe("the Prometheus depth source", () => {
  let server: Server;
  let url: string;
  const seen: URL[] = [];
  let answer: (u: URL) => { status: number; body?: unknown } | "hang" = () => ({ status: 200, body: vector(0) });

  beforeAll(async () => {
    server = createServer((req, res) => {
      const u = new URL(req.url!, "http://x");
      seen.push(u);
      const a = answer(u);
      if (a === "hang") return; // never answers, as a stopped Prometheus
      res.writeHead(a.status, { "content-type": "application/json" }).end(JSON.stringify(a.body));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("asks /api/v1/query with the default query over the pool's types, deduplicated across API replicas", async () => {
    answer = () => ({ status: 200, body: vector(42) });
    const source = createPrometheusDepthSource({ defaultUrl: url });
    expect(await source.depth(pool(["process_book", "create_quiz"]))).toBe(42);
    const q = seen.at(-1)!;
    expect(q.pathname).toBe("/api/v1/query");
    expect(q.searchParams.get("query")).toBe(defaultDepthQuery(["process_book", "create_quiz"]));
    expect(q.searchParams.get("query")).toBe('sum(max by (type) (jetq_queue_depth_by_type{type=~"process_book|create_quiz"})) or max(jetq_queue_depth) * 0');
  });

  it("uses the pool's own URL and query when it has them, and reads scalars", async () => {
    answer = () => ({ status: 200, body: { status: "success", data: { resultType: "scalar", result: [1700000000, "7"] } } });
    const source = createPrometheusDepthSource({ defaultUrl: "http://127.0.0.1:1" });
    expect(await source.depth(pool(["sync_sources"], { url: `${url}/`, query: "vector(7)" }))).toBe(7);
    expect(seen.at(-1)!.searchParams.get("query")).toBe("vector(7)");
  });

  it("says why when it cannot answer: no data, several series, an error, no answer in time, no URL", async () => {
    const source = createPrometheusDepthSource({ defaultUrl: url, timeoutMs: 300 });
    const p = pool(["sync_sources"]);
    answer = () => ({ status: 200, body: vector() });
    await expect(source.depth(p)).rejects.toThrow(/no data/);
    answer = () => ({ status: 200, body: vector(1, 2) });
    await expect(source.depth(p)).rejects.toThrow(/2 series/);
    answer = () => ({ status: 400, body: { status: "error", errorType: "bad_data", error: "parse error at char 3" } });
    await expect(source.depth(p)).rejects.toThrow(/400: parse error at char 3/);
    answer = () => "hang";
    const began = Date.now();
    const err = await source.depth(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DepthUnavailableError);
    expect((err as Error).message).toMatch(/no answer within 300 ms/);
    expect(Date.now() - began).toBeLessThan(2000);
    await expect(createPrometheusDepthSource().depth(p)).rejects.toThrow(/no Prometheus URL/);
  });

  it("parses numbers strictly", () => {
    expect(parseInstantQuery({ resultType: "vector", result: [{ value: [0, "12.6"] }] })).toBe(13);
    expect(parseInstantQuery({ resultType: "vector", result: [{ value: [0, "-3"] }] })).toBe(0);
    expect(() => parseInstantQuery({ resultType: "vector", result: [{ value: [0, "NaN"] }] })).toThrow(/not a number/);
    expect(() => parseInstantQuery({ resultType: "matrix", result: [] })).toThrow(/matrix/);
  });
});

describe("the JetStream depth source and task arrivals", () => {
  let nats: NatsServerHandle;
  let conn: JetqConnection;

  beforeAll(async () => {
    nats = await startNatsServer();
    const config = loadKernelConfig({ NATS_URL: nats.url, JETQ_DATA_DIR: nats.storeDir });
    // No consumers: as before any worker of any pool has run.
    conn = await connectJetq(config.natsUrl, config.topology, { name: "depth-test" });
  });
  afterAll(async () => {
    await conn?.close();
    await nats?.stop();
  });

  it("counts waiting and in-flight tasks of the pool's types, before any consumer exists", async () => {
    const queue = taskQueueFor(conn, testRegistry(), { defaultTimeoutSeconds: 60 });
    const heard: string[][] = [];
    const arrivals = watchTaskArrivals(conn.nc, { debounceMs: 100, onArrivals: (types) => heard.push([...types].sort()) });
    await conn.nc.flush();
    for (let i = 0; i < 5; i++) await queue.create({ type: "echo", payload: {}, priority: i % 2 ? "high" : "low" });
    for (let i = 0; i < 3; i++) await queue.create({ type: "sleep", payload: { ms: 1 } });
    const source = createJetStreamDepthSource(conn.jsm);
    expect(await source.depth(pool(["echo"]))).toBe(5);
    expect(await source.depth(pool(["echo", "sleep"]))).toBe(8);
    expect(await source.depth(pool(["record"]))).toBe(0);
    expect((await conn.jsm.consumers.list(TOPOLOGY.tasksStream).next()).length).toBe(0);

    // A task a worker holds (ack pending) still counts; once acked it is gone.
    await conn.jsm.consumers.add(TOPOLOGY.tasksStream, { durable_name: "t-normal", ack_policy: AckPolicy.Explicit, filter_subject: "jetq.tasks.normal.>" });
    const held = await (await conn.js.consumers.get(TOPOLOGY.tasksStream, "t-normal")).next({ expires: 2000 });
    expect(held).not.toBeNull();
    expect(await source.depth(pool(["echo", "sleep"]))).toBe(8);
    await held!.ackAck();
    expect(await source.depth(pool(["echo", "sleep"]))).toBe(7);

    // Eight publishes in a few ms: heard as one arrival of both types.
    await waitFor("arrivals", () => heard.length > 0);
    await new Promise((r) => setTimeout(r, 250));
    expect(heard).toEqual([["echo", "sleep"]]);
    arrivals.stop();
  });

  it("adds up current and legacy subjects of the pool's types only", () => {
    const subjects = { "jetq.tasks.high.echo": 2, "jetq.tasks.low.echo": 1, "jetq.tasks.normal.echo.abc": 1, "jetq.tasks.normal.sleep": 9, "jetq.other": 5 };
    expect(depthOfTypes(subjects, ["echo"])).toBe(4);
    expect(depthOfTypes(subjects, [])).toBe(0);
  });
});

describe("pod deletion costs", () => {
  const pod = (name: string, cost?: string, deleting = false): V1Pod => ({
    metadata: { name, ...(cost !== undefined ? { annotations: { [POD_DELETION_COST]: cost } } : {}), ...(deleting ? { deletionTimestamp: new Date() } : {}) },
  });

  it("gives each pod its worker's busy slots, patching only the costs that change", () => {
    const busy = new Map([
      ["w-busy", 3],
      ["w-same", 1],
    ]);
    expect(deletionCostChanges([pod("w-busy", "0"), pod("w-same", "1"), pod("w-new"), pod("w-idle", "2"), pod("w-going", "5", true)], busy)).toEqual([
      { pod: "w-busy", cost: 3 },
      { pod: "w-new", cost: 0 },
      { pod: "w-idle", cost: 0 },
    ]);
  });
});
