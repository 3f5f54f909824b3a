// How many unfinished tasks each tenant has (issue #11): a NATS counter per tenant,
// `jetq.usage.queued.<tenant>` on the JETQ_USAGE counter stream, +1 when a task goes on the work
// stream and −1 when its message leaves it (a worker's ack or term, a cancel's or the DLQ mover's
// delete): waiting, retrying and running tasks all count, so a tenant whose tasks hold the workers
// counts as busy as one whose tasks wait. Fair share (which lane a new task takes, topology.ts)
// and the queued-tasks quota read it.
//
// Both sides batch: a process adds up its own changes per tenant and sends each tenant's sum every
// 50 ms (one counter request), so a create costs no extra round trip. The figure is therefore an
// estimate — exact when quiet, behind by other processes' last few milliseconds under load — and a
// change lost with a crashed process would stay in the counter; the API clears every counter once
// the work stream has stayed empty (startReconciling), so such drift lasts until the queue drains.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsCounters, subjectToken } from "./counters.js";
import type { Logger } from "./logger.js";
import { TOPOLOGY } from "./topology.js";

export const BACKLOG_SUBJECTS = "jetq.usage.queued.>";
const READ_TIMEOUT_MS = 500;
export const backlogSubject = (tenant: string) => `jetq.usage.queued.${subjectToken(tenant)}`;

export interface TenantBacklogOptions {
  /** How often a process sends its changes (default 50 ms). */
  flushMs?: number;
  /**
   * How long a value heard from NATS is used before estimate() reads the counter again (default
   * 100 ms): other processes' changes (a worker's finished tasks) reach this process no later.
   */
  freshMs?: number;
  logger?: Logger;
}

export class TenantBacklog {
  private readonly counters: NatsCounters;
  /** The counter's value as last heard, and when. */
  private readonly known = new Map<string, { value: number; at: number }>();
  /** Changes not sent yet, and changes sent whose answer has not come back. */
  private readonly unsent = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  /** The counter read in progress per tenant (refresh()). */
  private readonly reading = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private reconciler: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly opts: TenantBacklogOptions = {},
  ) {
    this.counters = new NatsCounters(nc, jsm, TOPOLOGY.usageStream);
  }

  /** The tenant's unfinished tasks as this process knows them, its own unsent changes included. */
  async estimate(tenant: string): Promise<number> {
    if (!this.isFresh(tenant)) await this.refresh(tenant);
    return this.local(tenant);
  }

  /**
   * Reads the tenant's counter: one read at a time per tenant, which every estimate() made
   * meanwhile waits for (a thousand creates in flight when the value goes stale make one read,
   * not a thousand).
   */
  private refresh(tenant: string): Promise<void> {
    let reading = this.reading.get(tenant);
    if (!reading) {
      const asked = Date.now();
      reading = this.readBriefly(tenant)
        .then((value) => {
          if (value === null) return;
          // A flush answered after this read was sent has the newer value (NATS answers one
          // connection's requests in order): keep that one, or this process would forget its own adds.
          const newer = this.known.get(tenant);
          if (!newer || newer.at < asked) this.known.set(tenant, { value, at: asked });
        })
        .finally(() => this.reading.delete(tenant));
      this.reading.set(tenant, reading);
    }
    return reading;
  }

  /**
   * The counter as NATS has it, or null when NATS does not answer within READ_TIMEOUT_MS: the
   * figure only steers fair share and the quota, so a create goes on with what this process last
   * heard rather than wait on it (the publish that follows meets an unreachable NATS on its own).
   */
  private async readBriefly(tenant: string): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), READ_TIMEOUT_MS)));
    try {
      return await Promise.race([this.counters.read(backlogSubject(tenant)), late]);
    } catch (err) {
      this.opts.logger?.debug("tenant backlog not read", { tenant, error: String(err) });
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Counts one more unfinished task for the tenant unless it has `max` already (0: no maximum), and
   * answers how many it had before. Counting in the same step as the look is what lets concurrent
   * creates in one process each see the others.
   */
  async reserve(tenant: string, max = 0): Promise<{ waiting: number; reserved: boolean }> {
    await this.estimate(tenant);
    return this.reserveKnown(tenant, max); // now, with what others reserved while we looked
  }

  /** Whether the tenant's counter was heard recently enough for estimate() to answer without a read. */
  isFresh(tenant: string): boolean {
    const k = this.known.get(tenant);
    return k !== undefined && Date.now() - k.at <= (this.opts.freshMs ?? 100);
  }

  /**
   * reserve() from what this process knows now, with no read: for a caller that found the counter
   * fresh (a create at thousands a second then takes no await for it).
   */
  reserveKnown(tenant: string, max = 0): { waiting: number; reserved: boolean } {
    const current = this.local(tenant);
    if (max > 0 && current >= max) return { waiting: current, reserved: false };
    this.change(tenant, 1);
    return { waiting: current, reserved: true };
  }

  /** The last value heard plus this process's changes since, with no read. */
  private local(tenant: string): number {
    const k = this.known.get(tenant);
    return Math.max(0, (k?.value ?? 0) + (this.inFlight.get(tenant) ?? 0) + (this.unsent.get(tenant) ?? 0));
  }

  /** A task of this tenant went on the work stream. */
  added(tenant: string, n = 1): void {
    this.change(tenant, n);
  }

  /** A task message of this tenant left the work stream. */
  taken(tenant: string): void {
    this.change(tenant, -1);
  }

  private change(tenant: string, by: number) {
    if (this.closed) return;
    this.unsent.set(tenant, (this.unsent.get(tenant) ?? 0) + by);
    this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs ?? 50);
  }

  /** Sends every tenant's unsent change (one counter request each); a failed one is kept for the next flush. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushing ??= (async () => {
      const batch = [...this.unsent].filter(([, d]) => d !== 0);
      this.unsent.clear();
      await Promise.all(
        batch.map(async ([tenant, delta]) => {
          this.inFlight.set(tenant, (this.inFlight.get(tenant) ?? 0) + delta);
          try {
            const value = await this.counters.add(backlogSubject(tenant), delta);
            this.known.set(tenant, { value, at: Date.now() });
          } catch (err) {
            if (!this.closed) this.unsent.set(tenant, (this.unsent.get(tenant) ?? 0) + delta);
            this.opts.logger?.warn("tenant backlog counter not updated; retrying", { tenant, delta, error: String(err) });
          } finally {
            this.inFlight.set(tenant, (this.inFlight.get(tenant) ?? 0) - delta);
          }
        }),
      );
    })().finally(() => {
      this.flushing = null;
      if (this.unsent.size > 0 && !this.closed) this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs ?? 50);
    });
    return this.flushing;
  }

  /**
   * Clears every tenant's counter when the work stream holds no message at all: nothing is unfinished, so
   * zero is right, whatever a crashed process left behind. Returns whether it cleared anything.
   */
  async reconcile(): Promise<boolean> {
    return (await this.workStreamEmpty()) && this.clearCounts();
  }

  private async workStreamEmpty(): Promise<boolean> {
    return (await this.jsm.streams.info(TOPOLOGY.tasksStream)).state.messages === 0;
  }

  private async clearCounts(): Promise<boolean> {
    const usage = await this.jsm.streams.info(TOPOLOGY.usageStream, { subjects_filter: BACKLOG_SUBJECTS });
    const nonZero = Object.keys(usage.state.subjects ?? {});
    if (nonZero.length === 0) return false;
    await this.jsm.streams.purge(TOPOLOGY.usageStream, { filter: BACKLOG_SUBJECTS });
    this.known.clear();
    return true;
  }

  /**
   * Runs reconcile() every `everyMs` (the API does, default 10 s) until this closes, but only once
   * the work stream was empty at the previous look too: a worker's last decrements (sent within
   * 50 ms) have landed by then, so clearing cannot make a count go below zero. Never throws.
   */
  startReconciling(everyMs = 10_000): void {
    if (this.reconciler || this.closed) return;
    let emptyBefore = false;
    this.reconciler = setInterval(() => {
      void (async () => {
        const empty = await this.workStreamEmpty();
        if (empty && emptyBefore) await this.clearCounts();
        emptyBefore = empty;
      })().catch((err) => this.opts.logger?.debug("tenant backlog not reconciled", { error: String(err) }));
    }, everyMs);
    this.reconciler.unref();
  }

  /** Sends what is left; later changes are dropped. */
  async close(): Promise<void> {
    if (this.reconciler) clearInterval(this.reconciler);
    this.reconciler = null;
    await this.flush().catch(() => undefined);
    this.closed = true;
  }
}
