// SyncScheduler: queues sync_sources for sources whose interval has elapsed. Every worker runs
// one, but only the holder of a KV lease acts, so exactly one is active across replicas; a dead
// holder's lease ages out (bucket TTL) and another takes over. Idempotency keys per interval slot
// make even a brief double leadership queue each sync once.
import { JetStreamApiError } from "@nats-io/jetstream";
import type { LibraryConnection } from "../library/connection.js";
import type { Logger } from "../kernel/logger.js";
import { SourceRegistry } from "../library/sources.js";
import type { TaskQueue } from "../kernel/task-queue.js";
import { TOPOLOGY } from "../kernel/topology.js";

const LEASE = "sync-scheduler";

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
    if (this.revision) await this.conn.leases.delete(LEASE).catch(() => undefined);
  }

  /** Holds or takes the lease; true when this scheduler is the active one. */
  async lead(): Promise<boolean> {
    const subject = `$KV.${TOPOLOGY.leasesBucket}.${LEASE}`;
    const current = await this.conn.leases.get(LEASE);
    const held = current && current.operation === "PUT" && current.value.length ? current.string() : null;
    if (held && held !== this.holder) return false;
    try {
      // Compare-and-set on the revision we saw: of two contenders only one write lands.
      const ack = await this.conn.js.publish(subject, this.holder, { expect: { lastSubjectSequence: current?.revision ?? 0 } });
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
      const { created, record } = await this.queue.create({ type: "sync_sources", payload: { sourceId: s.id }, priority: "low", idempotencyKey: `sync:${s.id}:${slot}` });
      if (created) this.log.info("scheduled source sync", { sourceId: s.id, taskId: record.id });
    }
  }
}
