// A worker process reads at most JETQ_DOC_PARSER_THREADS documents at once, so its parsers' memory
// is bounded by that times the thread heap limit, whatever its concurrency.
import { describe, expect, it } from "vitest";
import { ParserSlots } from "../../worker/documents/parser-slots.js";

describe("parser slots", () => {
  it("lets `limit` readers in, queues the rest in order, and frees a slot once per release", async () => {
    const slots = new ParserSlots();
    const first = await slots.acquire(2);
    const second = await slots.acquire(2);
    const order: string[] = [];
    const third = slots.acquire(2).then((release) => (order.push("third"), release));
    const fourth = slots.acquire(2).then((release) => (order.push("fourth"), release));
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]);
    expect(slots.inUse).toBe(2);
    first();
    first(); // a second release of the same slot frees nothing more
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual(["third"]);
    second();
    (await third)();
    (await fourth)();
    expect(order).toEqual(["third", "fourth"]);
    expect(slots.inUse).toBe(0);
  });

  it("gives up waiting when the task is cancelled", async () => {
    const slots = new ParserSlots();
    const held = await slots.acquire(1);
    const controller = new AbortController();
    const waiting = slots.acquire(1, controller.signal);
    controller.abort(new Error("cancelled"));
    await expect(waiting).rejects.toThrow("cancelled");
    held();
    expect(slots.inUse).toBe(0);
    (await slots.acquire(1))();
  });
});
