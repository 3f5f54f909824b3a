import { describe, expect, it } from "vitest";
import { retryDelayMs } from "../../kernel/backoff.js";
import { ConfigError, loadConfig } from "../../kit/config.js";
import { PriorityScheduler } from "../../worker/priority-scheduler.js";
import { parseAckSubject } from "../../worker/pull-source.js";

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
