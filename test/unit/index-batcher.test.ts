// The group commit of the queued index (kernel/index-batches.ts) on its own, with a write we hold:
// creates answer before their batch is stored, the entries stay findable until it is, and past
// MAX_PENDING waiting entries a create waits for its batch, so memory does not grow without bound.
import { describe, expect, it } from "vitest";
import { BATCH_MAX, IndexBatcher, MAX_PENDING, MAX_PENDING_BYTES } from "../../kernel/index-batches.js";

const confirm = { deadlineMs: 1_000, attemptMs: 1_000 };
const record = (id: string) => Buffer.from(JSON.stringify({ id }));

/** A batcher whose writes wait until released; what it was asked to write, in order. */
function heldBatcher() {
  const writes: { key: string; ids: string[]; release: () => void }[] = [];
  const batcher = new IndexBatcher((key, entries) => new Promise<void>((release) => writes.push({ key, ids: entries.map((e) => e.id), release })));
  return { batcher, writes };
}

const settled = (p: Promise<void>) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);

describe("IndexBatcher", () => {
  it("answers a create before its batch is written, and finds the entry until it is", async () => {
    const { batcher, writes } = heldBatcher();
    const slots = Array.from({ length: 3 }, () => batcher.slot(confirm));
    const answers = slots.map((s, i) => (i === 1 ? (s.release(), Promise.resolve()) : s.queued(i + 1, record(s.id))));
    expect(await Promise.all(answers.map(settled))).toEqual([true, true, true]);
    await new Promise((r) => setImmediate(r)); // the batch is sealed at the end of the turn
    expect(writes.map((w) => w.ids)).toEqual([[slots[0]!.id, slots[2]!.id]]);
    expect(batcher.pendingEntry(slots[0]!.id)?.seq).toBe(1);
    expect(batcher.pendingEntry(slots[1]!.id)).toBeUndefined(); // not queued: never pending
    expect(batcher.pendingCount).toBe(2);
    let flushed = false;
    const flushing = batcher.flush().then(() => (flushed = true));
    await new Promise((r) => setImmediate(r));
    expect(flushed).toBe(false);
    writes[0]!.release();
    await flushing;
    expect(batcher.pendingCount).toBe(0);
    expect(batcher.pendingEntry(slots[0]!.id)).toBeUndefined();
  });

  it("writes a batch only once every member has said what became of it, and seals it at BATCH_MAX", async () => {
    const { batcher, writes } = heldBatcher();
    const slots = Array.from({ length: BATCH_MAX + 1 }, () => batcher.slot(confirm));
    expect(new Set(slots.slice(0, BATCH_MAX).map((s) => s.id.slice(0, 18))).size).toBe(1);
    expect(slots[BATCH_MAX]!.id.slice(0, 18)).not.toBe(slots[0]!.id.slice(0, 18));
    for (const s of slots.slice(1)) await s.queued(1, record(s.id));
    await new Promise((r) => setImmediate(r));
    expect(writes.map((w) => w.ids.length)).toEqual([1]); // the second batch; the first waits for slot 0
    await slots[0]!.queued(1, record(slots[0]!.id));
    expect(writes.map((w) => w.ids.length)).toEqual([1, BATCH_MAX]);
    for (const w of writes) w.release();
  });

  it("makes creates wait for their batch once more than MAX_PENDING entries are waiting", async () => {
    const { batcher, writes } = heldBatcher();
    const answers: Promise<void>[] = [];
    const ids: string[] = [];
    for (let i = 0; i <= MAX_PENDING; i++) {
      const slot = batcher.slot(confirm);
      ids.push(slot.id);
      answers.push(slot.queued(i + 1, record(slot.id)));
    }
    const answered = await Promise.all(answers.map(settled));
    expect(answered.slice(0, MAX_PENDING).every(Boolean)).toBe(true);
    expect(answered[MAX_PENDING]).toBe(false); // the one past the bound waits for its batch
    expect(batcher.pendingCount).toBe(MAX_PENDING + 1);
    await new Promise((r) => setImmediate(r));
    const its = writes.find((w) => w.ids.includes(ids[MAX_PENDING]!))!;
    for (const w of writes) if (w !== its) w.release();
    await new Promise((r) => setImmediate(r));
    expect(await settled(answers[MAX_PENDING]!)).toBe(false);
    its.release();
    await answers[MAX_PENDING];
    await batcher.flush();
    expect(batcher.pendingCount).toBe(0);
  });

  it("makes creates wait too once the pending records pass MAX_PENDING_BYTES, large ones few as they are", async () => {
    const { batcher, writes } = heldBatcher();
    const big = Buffer.alloc(1024 * 1024, 0x20); // a record of NATS's default max_payload
    const answers: Promise<void>[] = [];
    for (let i = 0; i <= MAX_PENDING_BYTES / big.byteLength; i++) answers.push(batcher.slot(confirm).queued(i + 1, big));
    const answered = await Promise.all(answers.map(settled));
    expect(answered.filter(Boolean).length).toBe(MAX_PENDING_BYTES / big.byteLength);
    expect(answered.at(-1)).toBe(false);
    await new Promise((r) => setImmediate(r));
    for (const w of writes) w.release();
    await Promise.all(answers);
    expect(batcher.pendingCount).toBe(0);
  });
});
