// SyncScheduler: queues sync_sources for sources whose interval has elapsed. Every worker runs
// one, but only the holder of a KV lease acts, so exactly one is active across replicas. The lease
// is written with a per-message TTL longer than the interval (`Nats-TTL`) and renewed every tick by
// compare-and-set on the revision the holder wrote, so it never lapses between a live holder's
// ticks, while a dead holder's ages out and another takes over. Idempotency keys per interval slot
// make even a brief double leadership queue each sync once.
import { JetStreamApiError } from "@nats-io/jetstream";
import type { LibraryConnection } from "../library/connection.js";
import { isLiveEntry } from "../kernel/kv-live.js";
import { kvSubject } from "../kernel/kv-scan.js";
import type { Logger } from "../kernel/logger.js";
import { SourceRegistry } from "../library/sources.js";
import type { TaskQueue } from "../kernel/task-queue.js";
import { TOPOLOGY } from "../kernel/topology.js";

const LEASE = "sync-scheduler";

/**
 * How long a lease lives without renewal: two intervals, so one late tick does not hand it over,
 * in whole seconds (the unit `Nats-TTL` takes; at least one).
 */
export function leaseTtlSeconds(everyMs: number): number {
  return Math.max(1, Math.ceil((2 * everyMs) / 1000));
}

export class SyncScheduler {
  private timer: NodeJS.Timeout | null = null;
  private revision = 0;
  private readonly sources: SourceRegistry;

  constructor(
    private readonly conn: LibraryConnection,
    private readonly queue: TaskQueue,
    private readonly holder: string,
    private readonly everyMs: number,
    private readonly log: Logger,
  ) {
    this.sources = new SourceRegistry(conn);
  }

  start() {
    this.timer = setInterval(() => void this.tick().catch((err) => this.log.warn("sync scheduler tick failed", { error: String(err) })), this.everyMs);
    void this.tick().catch(() => undefined);
  }

  async stop() {
    if (this.timer) clearInterval(this.timer);
    await this.release();
  }

  /**
   * Gives the lease up, only if it is still the one this scheduler wrote: a holder whose lease
   * lapsed and was taken over must not delete its successor's.
   */
  async release(): Promise<void> {
    const revision = this.revision;
    if (!revision) return;
    this.revision = 0;
    await this.conn.leases.delete(LEASE, { previousSeq: revision }).catch(() => undefined);
  }

  /** Holds or takes the lease; true when this scheduler is the active one. */
  async lead(): Promise<boolean> {
    // Renewal: compare-and-set on the revision we wrote. It fails only if the lease lapsed (and was
    // perhaps taken over) since; then we contend like anyone else.
    if (this.revision && (await this.write(this.revision))) return true;
    this.revision = 0;
    const current = await this.conn.leases.get(LEASE);
    if (isLiveEntry(current) && current.string() !== this.holder) return false;
    // Compare-and-set on the revision we saw: of two contenders only one write lands.
    return this.write(current?.revision ?? 0);
  }

  /** Writes the lease if its key is still at `expected` (0: no value); true if it landed. */
  private async write(expected: number): Promise<boolean> {
    try {
      const ack = await this.conn.js.publish(kvSubject(TOPOLOGY.leasesBucket, LEASE), this.holder, {
        expect: { lastSubjectSequence: expected },
        ttl: `${leaseTtlSeconds(this.everyMs)}s`,
      });
      this.revision = ack.seq;
      return true;
    } catch (err) {
      if (err instanceof JetStreamApiError) return false;
      throw err;
    }
  }

  async tick(now = Date.now()) {
    if (!(await this.lead())) return;
    for (const s of await this.sources.list()) {
      if (!s.intervalSeconds || !SourceRegistry.isDue(s, now)) continue;
      const slot = Math.floor(now / (s.intervalSeconds * 1000));
      const { created, record } = await this.queue.create({ type: "sync_sources", payload: { sourceId: s.id }, priority: "low", idempotencyKey: `sync:${s.id}:${slot}` }, { tenant: s.tenant }); // the source's tenant's task
      if (created) this.log.info("scheduled source sync", { sourceId: s.id, taskId: record.id });
    }
  }
}
