// Pools that split the task types between them: each pool's consumers take only its types (today's
// subjects and those written by earlier versions), consumers made by an earlier version are
// updated in place, and each pool's depth counts only its own tasks, before any worker ran.
import { AckPolicy } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectJetq, type JetqConnection } from "../../kernel/connection.js";
import { QueueStats } from "../../kernel/queue-stats.js";
import { taskQueueFor } from "../../kernel/task-queue-for.js";
import { consumerName, taskConsumerConfig, TOPOLOGY } from "../../kernel/topology.js";
import { loadConfig } from "../../kit/config.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { testRegistry } from "../support/test-types.js";

describe("worker pools that partition the task types", () => {
  let nats: NatsServerHandle;
  const conns: JetqConnection[] = [];
  const connect = async (pool: string, taskTypes?: string[]) => {
    const cfg = loadConfig({ NATS_URL: nats.url, JETQ_POOL: pool });
    const c = await connectJetq(nats.url, cfg.topology, { name: `pool-${pool}`, ...(taskTypes ? { consumersFor: { taskTypes } } : {}) });
    conns.push(c);
    return c;
  };
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    await Promise.allSettled(conns.map((c) => c.close()));
    await nats?.stop();
  });

  it("routes each type to its pool's consumers and counts each pool's depth on its own", async () => {
    const producer = await connect("default");
    // A consumer as an earlier version made it: one filter with the task id as the last token.
    const { filter_subjects: _today, ...earlier } = taskConsumerConfig({ ...producer.topology, pool: "docs" }, "normal", ["echo"]);
    await producer.jsm.consumers.add(TOPOLOGY.tasksStream, { ...earlier, durable_name: consumerName("docs", "normal"), ack_policy: AckPolicy.Explicit, filter_subject: "jetq.tasks.normal.echo.*" });
    await connect("docs", ["echo"]);
    await connect("other", ["record", "sleep"]);
    const docsNormal = await producer.jsm.consumers.info(TOPOLOGY.tasksStream, consumerName("docs", "normal"));
    expect(docsNormal.config.filter_subject ?? "").toBe("");
    expect(docsNormal.config.filter_subjects).toEqual(["jetq.tasks.normal.echo", "jetq.tasks.normal.echo.*"]);
    const otherHigh = await producer.jsm.consumers.info(TOPOLOGY.tasksStream, consumerName("other", "high"));
    expect(otherHigh.config.filter_subjects).toEqual(["jetq.tasks.high.record", "jetq.tasks.high.record.*", "jetq.tasks.high.sleep", "jetq.tasks.high.sleep.*"]);

    const queue = taskQueueFor(producer, testRegistry(), { defaultTimeoutSeconds: 60 });
    for (let i = 0; i < 5; i++) await queue.create({ type: "echo", payload: { value: i }, priority: i % 2 ? "high" : "low" });
    for (let i = 0; i < 3; i++) await queue.create({ type: "record", payload: { label: `r${i}` } });
    // A message an earlier version wrote, id in the subject: still its pool's.
    const id = crypto.randomUUID();
    await producer.js.publish(`jetq.tasks.normal.echo.${id}`, JSON.stringify({ id, type: "echo", payload: {}, priority: "normal", status: "queued", attempts: 0, progress: { percent: 0 }, createdAt: new Date().toISOString(), maxAttempts: 3, timeoutSeconds: 60 }));

    const view = await new QueueStats(producer).view();
    expect(view.pools).toEqual({ docs: 6, other: 3 });
    expect(await new QueueStats(producer).poolDepth("docs")).toBe(6);
    expect(view.byType).toEqual({ echo: 6, record: 3 });

    // A second start changes nothing (and does not fail on the config it left).
    await connect("docs", ["echo"]);
    expect((await producer.jsm.consumers.info(TOPOLOGY.tasksStream, consumerName("docs", "normal"))).config.filter_subjects).toHaveLength(2);
  });
});
