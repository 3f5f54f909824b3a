import { describe, expect, it } from "vitest";
import { retryDelayMs } from "../../kernel/backoff.js";
import { ConfigError, loadConfig } from "../../kit/config.js";
import { PriorityScheduler } from "../../worker/priority-scheduler.js";
import { parseAckSubject } from "../../worker/pull-source.js";
import { consumerName, parseTaskSubject, taskSubject } from "../../kernel/topology.js";

describe("retry backoff", () => {
  it("grows exponentially, is jittered within [ceiling/2, ceiling], and is capped", () => {
    const policy = { baseMs: 1000, maxMs: 10_000 };
    expect(retryDelayMs(policy, 1, () => 0)).toBe(500);
    expect(retryDelayMs(policy, 1, () => 1)).toBe(1000);
    expect(retryDelayMs(policy, 3, () => 0)).toBe(2000);
    expect(retryDelayMs(policy, 3, () => 1)).toBe(4000);
    expect(retryDelayMs(policy, 20, () => 1)).toBe(10_000);
  });
});

describe("priority scheduler", () => {
  it("leads with each priority in proportion to its weight", () => {
    const s = new PriorityScheduler({ high: 6, normal: 3, low: 1 });
    const firsts = Array.from({ length: 100 }, () => s.nextOrder()[0]);
    expect(firsts.filter((p) => p === "high")).toHaveLength(60);
    expect(firsts.filter((p) => p === "normal")).toHaveLength(30);
    expect(firsts.filter((p) => p === "low")).toHaveLength(10);
  });

  it("always offers every priority, so an empty one never stalls the others", () => {
    const s = new PriorityScheduler({ high: 1, normal: 1, low: 1 });
    for (let i = 0; i < 10; i++) expect([...s.nextOrder()].sort()).toEqual(["high", "low", "normal"]);
  });

  it("leads with a priority's shared lane 3 pulls in 4 and always offers the overflow lane too", () => {
    const s = new PriorityScheduler({ high: 6, normal: 3, low: 1 });
    const orders = Array.from({ length: 100 }, () => s.laneOrder("normal"));
    expect(orders.filter((o) => o[0] === "shared")).toHaveLength(75);
    for (const o of orders) expect([...o].sort()).toEqual(["overflow", "shared"]);
  });
});

describe("work subjects", () => {
  it("name the overflow lane in the priority token, and read back priority, lane and type", () => {
    expect(taskSubject("normal", "process_book")).toBe("jetq.tasks.normal.process_book");
    expect(taskSubject("high", "process_book", "overflow")).toBe("jetq.tasks.high-overflow.process_book");
    expect(parseTaskSubject("jetq.tasks.high-overflow.process_book")).toEqual({ priority: "high", lane: "overflow", type: "process_book" });
    expect(parseTaskSubject("jetq.tasks.low.sync_sources")).toEqual({ priority: "low", lane: "shared", type: "sync_sources" });
    expect(parseTaskSubject("jetq.tasks.low.sync_sources.0b6c3d9e-1111-4222-8333-444455556666")).toMatchObject({ priority: "low", lane: "shared", id: "0b6c3d9e-1111-4222-8333-444455556666" });
    expect(parseTaskSubject("jetq.tasks.urgent-overflow.x")).toBeNull();
    expect(consumerName("docs", "normal", "overflow")).toBe("docs-normal-overflow");
    expect(consumerName("docs", "normal")).toBe("docs-normal");
  });
});

describe("ack subject parsing", () => {
  it("reads delivery count, stream sequence and pending from both subject forms", () => {
    expect(parseAckSubject("$JS.ACK.JETQ_TASKS.default-high.3.42.7.1700000000.5")).toMatchObject({ stream: "JETQ_TASKS", consumer: "default-high", deliveryCount: 3, streamSeq: 42, pending: 5 });
    expect(parseAckSubject("$JS.ACK.hub.ACCHASH.JETQ_TASKS.default-low.1.9.9.1700000000.0.rnd")).toMatchObject({ stream: "JETQ_TASKS", consumer: "default-low", deliveryCount: 1, streamSeq: 9, pending: 0 });
  });
});

describe("configuration", () => {
  it("has working defaults", () => {
    const c = loadConfig({});
    expect(c.natsUrl).toBe("nats://127.0.0.1:4222");
    expect(c.api.port).toBe(8080);
    expect(c.worker.priorityWeights).toEqual({ high: 6, normal: 3, low: 1 });
  });

  it("refuses bad values with a message naming each setting", () => {
    expect(() => loadConfig({ PORT: "eighty", JETQ_PRIORITY_WEIGHTS: "1,2" })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: "eighty", JETQ_PRIORITY_WEIGHTS: "1,2" });
    } catch (err) {
      expect(String(err)).toContain("PORT");
      expect(String(err)).toContain("JETQ_PRIORITY_WEIGHTS");
    }
  });
});
