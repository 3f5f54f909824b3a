// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics
// (k8s.io/client-go/tools/leaderelection):
// - a candidate takes the lease when nobody holds it, or when the holder has not renewed it for
//   leaseDuration as measured on the candidate's own clock since it last saw the record change
//   (so clock skew between replicas does not matter);
// - the leader renews every retryPeriod and gives up leadership when it could not renew for
//   renewDeadline (< leaseDuration, so it stops before anyone else may start);
// - every write is an update at the resourceVersion that was read, so two candidates can never
//   both win; leaseTransitions counts changes of holder;
// - stop() releases the lease (holderIdentity cleared, 1 s duration) so a standby takes over at once.
// After losing the lease the elector becomes a candidate again.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "../../kernel/logger.js";
import { httpStatusOf } from "./status.js";

export interface LeaderElectorOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationS?: number;
  renewDeadlineS?: number;
  retryPeriodS?: number;
  logger: Logger;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
}

/** client-go's JitterFactor for candidates' retries, so they do not all ask at once. */
const JITTER_FACTOR = 1.2;

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly logger: Logger;
  private leading = false;
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  /** The last record seen and when (local clock) it last changed. */
  private observed?: { holder: string; renewTime: string; transitions: number; at: number };
  private lastRenewAt = 0;
  /** Callbacks run one after another, so a stop never overtakes its start. */
  private callbacks: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LeaderElectorOptions) {
    this.leaseDurationMs = (opts.leaseDurationS ?? 15) * 1000;
    this.renewDeadlineMs = (opts.renewDeadlineS ?? 10) * 1000;
    this.retryPeriodMs = (opts.retryPeriodS ?? 2) * 1000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs)) throw new RangeError("leaseDurationS must be greater than renewDeadlineS");
    if (!(this.renewDeadlineMs > JITTER_FACTOR * this.retryPeriodMs)) throw new RangeError("renewDeadlineS must be greater than 1.2 × retryPeriodS");
    if (!opts.identity) throw new RangeError("identity must not be empty");
    this.api = opts.kc.makeApiClient(CoordinationV1Api);
    this.logger = opts.logger.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops campaigning; a leader releases the lease and runs onStoppedLeading before this resolves. */
  async stop(): Promise<void> {
    if (!this.running) return this.callbacks;
    this.running = false;
    this.wake?.();
    await this.loop;
    if (this.leading) {
      await this.release();
      this.setLeading(false);
    }
    await this.callbacks;
  }

  private async run(): Promise<void> {
    while (this.running) {
      // Candidate: try now, then every retryPeriod (jittered) until it wins.
      if (!(await this.tryAcquireOrRenew())) {
        await this.sleep(this.retryPeriodMs * (1 + Math.random() * JITTER_FACTOR));
        continue;
      }
      this.logger.info("became leader");
      this.setLeading(true);
      // Leader: renew every retryPeriod; give up when no renew succeeded for renewDeadline.
      while (this.running) {
        await this.sleep(this.retryPeriodMs);
        if (!this.running) return;
        const deadline = this.lastRenewAt + this.renewDeadlineMs;
        let renewed = false;
        while (this.running && Date.now() < deadline) {
          renewed = await this.tryAcquireOrRenew(deadline - Date.now());
          if (renewed) break;
          await this.sleep(Math.min(this.retryPeriodMs, Math.max(0, deadline - Date.now())));
        }
        if (!this.running) return;
        if (!renewed) {
          this.logger.warn("could not renew the lease within renewDeadline: leadership lost", { renewDeadlineS: this.renewDeadlineMs / 1000 });
          this.setLeading(false);
          break;
        }
      }
    }
  }

  /** One read-then-update (or create) of the lease; true when this replica holds it afterwards. */
  private async tryAcquireOrRenew(timeoutMs = this.renewDeadlineMs): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    try {
      return await withTimeout(
        (async () => {
          const now = new Date();
          let lease: V1Lease;
          try {
            lease = await this.api.readNamespacedLease({ namespace, name });
          } catch (err) {
            if (httpStatusOf(err) !== 404) throw err;
            await this.api.createNamespacedLease({
              namespace,
              body: {
                metadata: { name, namespace },
                spec: { holderIdentity: identity, leaseDurationSeconds: this.leaseDurationMs / 1000, acquireTime: micro(now), renewTime: micro(now), leaseTransitions: 0 },
              },
            });
            this.observe(identity, micro(now).toISOString(), 0);
            this.lastRenewAt = now.getTime();
            return true;
          }
          const spec = lease.spec ?? {};
          const holder = spec.holderIdentity ?? "";
          const transitions = spec.leaseTransitions ?? 0;
          // client-node 1.4 does not turn MicroTime strings into Dates: compare them as text.
          this.observe(holder, String(spec.renewTime ?? ""), transitions);
          const heldByOther = holder !== "" && holder !== identity;
          if (heldByOther && this.observed!.at + this.leaseDurationMs > Date.now()) return false;

          const takingOver = holder !== identity;
          lease.spec = {
            ...spec,
            holderIdentity: identity,
            leaseDurationSeconds: this.leaseDurationMs / 1000,
            renewTime: micro(now),
            acquireTime: takingOver ? micro(now) : spec.acquireTime,
            // As client-go: every change of leader counts, also taking a released (empty) lease.
            leaseTransitions: takingOver ? transitions + 1 : transitions,
          };
          // Carries metadata.resourceVersion: a concurrent writer makes this fail with 409.
          await this.api.replaceNamespacedLease({ namespace, name, body: lease });
          this.observe(identity, micro(now).toISOString(), lease.spec.leaseTransitions ?? 0);
          this.lastRenewAt = now.getTime();
          if (takingOver) this.logger.info("acquired the lease", { previousHolder: holder || "(none)", leaseTransitions: lease.spec.leaseTransitions });
          return true;
        })(),
        timeoutMs,
      );
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 409) this.logger.debug("lease changed under us (409): another candidate wrote it");
      else this.logger.warn("lease read/write failed", { status, err: err instanceof Error ? err.message : String(err) });
      return false;
    }
  }

  private observe(holder: string, renewTime: string, transitions: number): void {
    const o = this.observed;
    if (!o || o.holder !== holder || o.renewTime !== renewTime || o.transitions !== transitions) {
      this.observed = { holder, renewTime, transitions, at: Date.now() };
    }
  }

  /** Gives the lease up at once, as client-go's ReleaseOnCancel: only if still ours. */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.opts;
    try {
      // Bounded: a shutdown must not hang on an unreachable API server.
      const released = await withTimeout(
        (async () => {
          const lease = await this.api.readNamespacedLease({ namespace, name });
          if (lease.spec?.holderIdentity !== identity) return false;
          const now = micro(new Date());
          lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: now, acquireTime: now };
          await this.api.replaceNamespacedLease({ namespace, name, body: lease });
          return true;
        })(),
        this.renewDeadlineMs,
      );
      if (released) this.logger.info("released the lease");
    } catch (err) {
      this.logger.warn("could not release the lease (it will expire by itself)", { err: err instanceof Error ? err.message : String(err) });
    }
  }

  private setLeading(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    const cb = leading ? this.opts.onStartedLeading : this.opts.onStoppedLeading;
    this.callbacks = this.callbacks.then(async () => {
      try {
        await cb();
      } catch (err) {
        this.logger.error(leading ? "onStartedLeading threw" : "onStoppedLeading threw", { err: err instanceof Error ? err.message : String(err) });
      }
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

const micro = (d: Date) => new V1MicroTime(d.getTime());

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`lease request took longer than ${ms} ms`)), Math.max(1, ms));
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
