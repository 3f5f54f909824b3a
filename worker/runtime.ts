// The worker runtime: pulls tasks for its pool, highest priority first, keeps at most
// `concurrency` running, hears cancellations, reports presence, and shuts down gracefully.
import { TaskLogWriter } from "../kernel/task-logs.js";
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import type { Subscription } from "@nats-io/transport-node";
import type { WorkerConfig } from "./config.js";
import type { JetqConnection } from "../kernel/connection.js";
import type { Logger } from "../kernel/logger.js";
import { AttemptMetrics, createMetrics, type JetqMetrics } from "../kernel/metrics.js";
import type { TaskTypeRegistry } from "../kernel/registry.js";
import { TaskQueue } from "../kernel/task-queue.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import { PRIORITIES, type Priority } from "../kernel/task.js";
import { consumerName, LANES, TOPOLOGY, type Lane } from "../kernel/topology.js";
import type { WorkerPresence } from "../kernel/queue-stats.js";
import { DeadLetterMover } from "./dead-letter-mover.js";
import { escapedErrors } from "./escaped-errors.js";
import type { TaskHandler } from "./handler.js";
import { PriorityScheduler } from "./priority-scheduler.js";
import { PullSource, type Delivery } from "./pull-source.js";
import { TaskAttempt } from "./task-attempt.js";

export interface WorkerOptions {
  conn: JetqConnection;
  registry: TaskTypeRegistry;
  config: WorkerConfig;
  log: Logger;
  metrics?: JetqMetrics;
  /** Run the dead-letter mover in this process (every worker does by default; the work is shared). */
  moveDeadLetters?: boolean;
  /** How long an idle worker waits on the server before pulling again. */
  idlePollMs?: number;
}

/** How soon a change of busy slots reaches the presence record. */
const PRESENCE_CHANGE_DELAY_MS = 1_000;

export class Worker {
  /** JETQ_WORKER_ID or POD_NAME when set (worker/config.ts), else unique to this Worker. */
  readonly id: string;
  readonly metrics: JetqMetrics;
  private readonly handlers = new Map<string, TaskHandler>();
  private readonly active = new Set<TaskAttempt>();
  private readonly ready: { d: Delivery; heartbeat: NodeJS.Timeout }[] = [];
  private readonly recentCancels = new Set<string>();
  private readonly minPull: number;
  private readonly attemptMetrics: AttemptMetrics;
  private readonly taskLogs: TaskLogWriter | null;
  private waitedForBatch = false;
  /** A delivery said more messages wait behind it: the next pass must pull, not just listen. */
  private morePending = false;
  /** Sources whose long poll delivered and is about to reopen, with the timer that will do it. */
  private readonly reopening = new Map<PullSource, NodeJS.Timeout>();
  /** One pull source per priority and fair-share lane, keyed `<priority>/<lane>`. */
  private readonly sources = new Map<`${Priority}/${Lane}`, PullSource>();
  private readonly scheduler: PriorityScheduler;
  private readonly queue: TaskQueue;
  private readonly log: Logger;
  private running = 0;
  private gaugesRemoved = false;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wokenEarly = false;
  private wake: () => void = () => (this.wokenEarly = true);
  private cancelSub: Subscription | null = null;
  private presenceTimer: NodeJS.Timeout | null = null;
  /** A presence write due because the busy count changed (see presenceChanged). */
  private presenceSoon: NodeJS.Timeout | null = null;
  private reportedBusy = -1;
  private ticker: NodeJS.Timeout | null = null;
  private mover: DeadLetterMover | null = null;
  private readonly startedAt = new Date().toISOString();
  /** How long an idle long poll waits on the server before it is renewed. */
  private readonly idlePollMs: number;
  private drained: () => void = () => {};

  constructor(private readonly opts: WorkerOptions) {
    this.id = opts.config.workerId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.metrics = opts.metrics ?? createMetrics("worker");
    this.scheduler = new PriorityScheduler(opts.config.priorityWeights);
    // Tasks its handlers chain (ctx.enqueue) are counted in this worker's jetq_tasks_created_total.
    this.queue = taskQueueFor(opts.conn, opts.registry, { defaultTimeoutSeconds: opts.config.defaultTimeoutSeconds, metrics: this.metrics });
    this.log = opts.log.child({ workerId: this.id });
    this.metrics.slots.set({ worker: this.id }, opts.config.concurrency);
    this.updateGauges();
    this.minPull = Math.max(1, Math.floor(opts.config.concurrency / 4));
    this.idlePollMs = opts.idlePollMs ?? 5_000;
    this.attemptMetrics = new AttemptMetrics(this.metrics);
    this.taskLogs = (opts.conn.topology.taskLogLines ?? 1_000) > 0 ? new TaskLogWriter(opts.conn.nc) : null;
  }

  /** Registers the handler for a task type (which must be in the registry). */
  handle<P>(type: string, handler: TaskHandler<P>): this {
    if (!this.opts.registry.has(type)) throw new Error(`cannot handle ${type}: it is not a registered task type`);
    this.handlers.set(type, handler as TaskHandler);
    return this;
  }

  get busy() {
    return this.running;
  }

  async start(): Promise<void> {
    const { conn } = this.opts;
    for (const p of PRIORITIES) {
      for (const lane of LANES) {
        this.sources.set(`${p}/${lane}`, new PullSource(conn.nc, TOPOLOGY.tasksStream, consumerName(conn.topology.pool, p, lane), (d, fromLongPoll) => this.accept(d, fromLongPoll)));
      }
    }
    this.cancelSub = conn.nc.subscribe(TOPOLOGY.cancelSubject, {
      callback: (_err, msg) => {
        const id = msg.string();
        this.recentCancels.add(id);
        // Bounded memory: forget the oldest half when it grows large.
        if (this.recentCancels.size > 20_000) for (const old of [...this.recentCancels].slice(0, 10_000)) this.recentCancels.delete(old);
        for (const a of this.active) if (a.taskId === id) a.cancel();
      },
    });
    void this.watchReconnects();
    // An error escaping a handler fails that task instead of ending the process.
    escapedErrors.install(this.log);
    if (this.opts.moveDeadLetters !== false) {
      this.mover = new DeadLetterMover(conn, this.queue, this.log, this.metrics);
      await this.mover.start();
    }
    await this.reportPresence();
    this.presenceTimer = setInterval(() => void this.reportPresence(), 5_000);
    // One ticker for every running attempt's heartbeats and time limits, not three timers a task.
    this.ticker = setInterval(() => {
      const now = Date.now();
      for (const a of this.active) a.tick(now);
    }, 250);
    this.loop = this.pullLoop();
    this.log.info("worker started", { concurrency: this.opts.config.concurrency, pool: conn.topology.pool, handles: [...this.handlers.keys()] });
  }

  /**
   * Graceful shutdown: stop pulling, let running tasks finish within the grace period, hand the
   * rest back to JetStream (nak) so another worker takes them at once, then leave.
   */
  async stop(graceMs = this.opts.config.shutdownGraceMs): Promise<{ finished: number; handedBack: number }> {
    if (this.stopping) return { finished: 0, handedBack: 0 };
    this.stopping = true;
    for (const s of this.sources.values()) s.close();
    for (const t of this.reopening.values()) clearTimeout(t);
    this.reopening.clear();
    this.wake();
    this.log.info("worker stopping", { running: this.running, graceMs });
    const before = this.running;
    if (this.running > 0) {
      const allDone = new Promise<void>((resolve) => (this.drained = resolve));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([allDone, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    for (const { d, heartbeat } of this.ready.splice(0)) {
      clearInterval(heartbeat);
      d.nak();
    }
    let handedBack = 0;
    for (const attempt of this.active.values()) if (attempt.handBack()) handedBack++;
    await this.loop;
    this.cancelSub?.unsubscribe();
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    this.presenceTimer = null;
    if (this.presenceSoon) clearTimeout(this.presenceSoon);
    if (this.ticker) clearInterval(this.ticker);
    await this.mover?.stop();
    await this.opts.conn.workers.delete(this.id).catch(() => undefined);
    this.removeGauges();
    escapedErrors.uninstall();
    this.log.info("worker stopped", { finished: before - handedBack, handedBack });
    return { finished: before - handedBack, handedBack };
  }

  private async pullLoop() {
    while (!this.stopping) {
      try {
        const free = this.opts.config.concurrency - this.running - this.ready.length - this.outstanding();
        if (free <= 0) {
          await this.sleepUntilWoken(1_000);
          continue;
        }
        // Under load, give a few milliseconds for a quarter of the slots to free up and pull them
        // in one request: a pull per finished task costs more than a short task itself. Slots of
        // long tasks are refilled after that short wait all the same.
        if (this.running > 0 && free < this.minPull && !this.waitedForBatch) {
          this.waitedForBatch = true;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        this.waitedForBatch = false;
        if (!this.morePending && this.allListening()) {
          // Idle and a long poll is open on every priority and lane: anything published is
          // delivered to them, so an immediate pull would find nothing. Skipping it keeps six pull
          // requests (and their empty answers) off the path of the task that just arrived.
          await this.sleepUntilWoken(this.idlePollMs);
          continue;
        }
        this.morePending = false;
        let got = 0;
        for (const p of this.scheduler.nextOrder()) {
          for (const lane of this.scheduler.laneOrder(p)) {
            if (got >= free || this.stopping) break;
            got += await this.sources.get(`${p}/${lane}`)!.pullNow(free - got);
          }
        }
        if (got === 0 && !this.stopping) {
          // Nothing anywhere: a long poll on each priority and lane (one message each) wakes us on
          // the next arrival, wherever it lands. A delivery wakes the loop to sweep for more.
          for (const s of this.sources.values()) this.keepPolling(s);
          await this.sleepUntilWoken(this.idlePollMs);
        }
      } catch (err) {
        this.log.warn("pull failed; retrying", { error: String(err) });
        await this.sleepUntilWoken(500);
      }
    }
  }

  /**
   * Keeps one long poll open on a priority while this worker has a free slot: when one ends (it
   * delivered, or expired) the next opens at once, so the next task of that priority is delivered
   * the moment it is published rather than after the worker's next sweep.
   */
  private keepPolling(s: PullSource) {
    if (s.polling || this.stopping || this.running + this.ready.length >= this.opts.config.concurrency) return;
    const opened = Date.now();
    void s.longPoll(1, this.idlePollMs).then((received) => {
      // A poll refused at once (the consumer is gone, say) must not spin: try again a second later.
      if (received === 0 && Date.now() - opened < 100) setTimeout(() => this.keepPolling(s), 1_000);
      // After a delivery, reopen when a task ends or a millisecond has passed, whichever is first:
      // a short task's state write then reaches the server ahead of the pull request, and the
      // pull leaves in the same socket write as the task's ack.
      else if (received > 0) this.reopening.set(s, setTimeout(() => this.reopen(s), 1));
      else this.keepPolling(s);
    });
  }

  private reopen(s: PullSource) {
    clearTimeout(this.reopening.get(s));
    this.reopening.delete(s);
    this.keepPolling(s);
  }

  /** Whether every priority has an idle long poll open (or one about to reopen after a delivery). */
  private allListening() {
    for (const s of this.sources.values()) if (!s.polling && !this.reopening.has(s)) return false;
    return true;
  }

  /**
   * A reconnect loses the pull requests the server held: forget them at once (rather than at their
   * client-side timeouts, up to 10 s later) so the loop pulls and the long polls reopen.
   */
  private async watchReconnects() {
    for await (const s of this.opts.conn.nc.status()) {
      if (this.stopping) break;
      if (s.type !== "reconnect") continue;
      for (const source of this.sources.values()) source.abandonOpenRequests();
      this.morePending = true;
      this.wake();
    }
  }

  private outstanding() {
    let n = 0;
    for (const s of this.sources.values()) n += s.outstanding;
    return n;
  }

  /** Sleeps until `ms` pass or something calls wake(); a wake that came while awake is not lost. */
  private sleepUntilWoken(ms: number) {
    if (this.wokenEarly) {
      this.wokenEarly = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        self.wake = () => (self.wokenEarly = true);
        resolve();
      }
      this.wake = done;
    });
  }

  private accept(d: Delivery, fromLongPoll: boolean) {
    if (this.stopping) {
      d.nak(); // a pull answered after we stopped: give it straight back
      return;
    }
    if (this.running >= this.opts.config.concurrency) {
      // Only idle long polls can over-deliver, one message per priority and lane at most: hold
      // it, alive, until a slot frees rather than run more than `concurrency` at once.
      const heartbeat = setInterval(() => d.working(), Math.max(250, Math.min(this.opts.conn.topology.ackWaitMs / 3, 10_000)));
      this.ready.push({ d, heartbeat });
      return;
    }
    this.run(d);
    // `pending` counts only messages never delivered: a redelivery (a retry come due, a crashed
    // worker's task) may have company the count does not show, so it gets a sweep too.
    const maybeMore = d.info.pending > 0 || d.info.deliveryCount > 1;
    if (maybeMore) this.morePending = true;
    // A long poll's only message with nothing behind it needs no sweep: the poll reopens by itself.
    if (!fromLongPoll || maybeMore) this.wake();
  }

  private run(d: Delivery) {
    this.running++;
    this.updateGauges();
    const attempt = new TaskAttempt(d, {
      conn: this.opts.conn,
      queue: this.queue,
      handlers: this.handlers,
      config: this.opts.config,
      maxDeliver: this.opts.conn.topology.maxDeliver,
      ackWaitMs: this.opts.conn.topology.ackWaitMs,
      workerId: this.id,
      metrics: this.attemptMetrics,
      log: this.log,
      taskLogs: this.taskLogs,
      taskLogLines: this.opts.conn.topology.taskLogLines ?? 1_000,
      wasCancelled: (id) => this.recentCancels.has(id),
    });
    this.active.add(attempt);
    escapedErrors.enter(attempt);
    attempt
      .run()
      .catch((err) => this.log.error("attempt crashed", { taskId: attempt.taskId, error: String(err), stack: (err as Error).stack }))
      .finally(() => {
        this.active.delete(attempt);
        escapedErrors.leave(attempt);
        this.running--;
        // Stopping: held tasks stay in `ready` for stop() to hand back.
        const next = this.stopping ? undefined : this.ready.shift();
        if (next) {
          clearInterval(next.heartbeat);
          this.run(next.d);
        }
        this.updateGauges();
        if (this.running === 0) this.drained();
        for (const s of this.reopening.keys()) this.reopen(s);
        this.wake();
      });
  }

  private updateGauges() {
    if (this.gaugesRemoved) return; // a handed-back attempt ending after stop() must not bring them back
    this.metrics.busySlots.set({ worker: this.id }, this.running);
    this.metrics.utilisation.set({ worker: this.id }, this.running / this.opts.config.concurrency);
    this.presenceChanged();
  }

  /**
   * The busy count changed: the presence record says so within a second (the operator ranks pods
   * for a scale-down by it), not only at the next 5 s beat; at most one extra write a second.
   */
  private presenceChanged() {
    if (this.presenceSoon || !this.presenceTimer || this.running === this.reportedBusy) return;
    this.presenceSoon = setTimeout(() => {
      this.presenceSoon = null;
      if (this.presenceTimer && this.running !== this.reportedBusy) void this.reportPresence();
    }, PRESENCE_CHANGE_DELAY_MS);
  }

  /** A stopped worker's series go, so a registry shared by several workers lists only live ones. */
  private removeGauges() {
    this.gaugesRemoved = true;
    for (const g of [this.metrics.busySlots, this.metrics.slots, this.metrics.utilisation]) g.remove({ worker: this.id });
  }

  private async reportPresence() {
    const p: WorkerPresence = {
      id: this.id,
      pool: this.opts.conn.topology.pool,
      host: hostname(),
      pid: process.pid,
      concurrency: this.opts.config.concurrency,
      busy: (this.reportedBusy = this.running),
      taskTypes: [...this.handlers.keys()],
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
    };
    await this.opts.conn.workers.put(this.id, JSON.stringify(p)).catch((err) => this.log.debug("presence write failed", { error: String(err) }));
  }
}
