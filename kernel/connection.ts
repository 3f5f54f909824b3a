// Connects to NATS, makes sure the kernel's topology exists, and opens the handles every program
// uses. The library's buckets are not the kernel's business: library/connection.ts adds them.
import { jetstream, JetStreamApiError, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ConfigError, type NatsCredentials, type TopologyConfig } from "./config.js";
import { inboxPrefixOf } from "./nats-permissions.js";
import type { Logger } from "./logger.js";
import { TaskStateStore } from "./state-store.js";
import { QueuedIndex } from "./queued-index.js";
import { StreamPublisher } from "./stream-publisher.js";
import { TaskStatsRecorder } from "./task-stats.js";
import { TenantBacklog } from "./tenant-backlog.js";
import { ensureTopology, TOPOLOGY, type EnsureOptions } from "./topology.js";

export interface JetqConnection {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Hot-path publishes (task messages, state writes): cheaper than js.publish per call. */
  publisher: StreamPublisher;
  state: TaskStateStore;
  /** Where each queued task's message is: finds a task by id before it has a state record. */
  queued: QueuedIndex;
  /** How many unfinished tasks each tenant has (fair share, the queued-tasks quota). */
  backlog: TenantBacklog;
  /** Per-minute arrivals and ends, counted by NATS for GET /api/stats. */
  stats: TaskStatsRecorder;
  idempotency: KV;
  workers: KV;
  leases: KV;
  topology: TopologyConfig;
  /** False between a disconnect and the reconnect that follows it. */
  readonly connected: boolean;
  close(): Promise<void>;
}

export interface ConnectOptions extends EnsureOptions {
  name: string;
  logger?: Logger;
  /** NATS_USER and NATS_PASSWORD (kernel/config.ts); none for a server without authorization. */
  credentials?: NatsCredentials;
}

export async function connectJetq(natsUrl: string, topology: TopologyConfig, opts: ConnectOptions): Promise<JetqConnection> {
  const nc = await connect({
    ...(opts.credentials
      ? // Replies to its own inbox prefix: the server's permissions keep other users out of it.
        { user: opts.credentials.user, pass: opts.credentials.password, inboxPrefix: inboxPrefixOf(opts.credentials.user) }
      : {}),
    // Every server of a cluster: the client fails over between them (and learns of others from it).
    servers: natsUrl.split(",").map((s) => s.trim()).filter(Boolean),
    name: opts.name,
    // Keep trying for ever: a NATS restart must not take api or workers down with it.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    // No stack capture for every request: it cost a third of the worker's CPU (bench/README.md).
    noAsyncTraces: true,
  }).catch((err: unknown) => {
    throw credentialsRefused(err, opts) ?? err;
  });
  let connected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") connected = false;
      else if (s.type === "reconnect") connected = true;
      if (opts.logger && (s.type === "disconnect" || s.type === "reconnect")) opts.logger.warn(`nats ${s.type}`, { server: (s as { server?: string }).server });
    }
  })();
  const js = jetstream(nc, { timeout: 10_000 });
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  try {
    await ensureTopology(nc, jsm, topology, opts);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw replicasRefused(err, topology.replicas) ?? err;
  }
  const kvm = new Kvm(js);
  const stateKv = await kvm.open(TOPOLOGY.stateBucket);
  const publisher = new StreamPublisher(nc);
  const backlog = new TenantBacklog(nc, jsm, opts.logger ? { logger: opts.logger } : {});
  const stats = new TaskStatsRecorder(nc);
  const queued = new QueuedIndex(nc, publisher, await kvm.open(TOPOLOGY.queuedBucket));
  return {
    nc,
    js,
    jsm,
    publisher,
    state: new TaskStateStore(publisher, stateKv, topology.finishedTtlSeconds, jsm),
    queued,
    backlog,
    stats,
    idempotency: await kvm.open(TOPOLOGY.idempotencyBucket),
    workers: await kvm.open(TOPOLOGY.workersBucket),
    leases: await kvm.open(TOPOLOGY.leasesBucket),
    topology,
    get connected() {
      return connected && !nc.isClosed();
    },
    close: async () => {
      await queued.flush(); // the creates answered last: their index entries, before the connection goes
      await backlog.close();
      await stats.stop();
      publisher.close();
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}

// JetStream's refusals of a stream's replica count: a single server (10074), or a cluster with
// fewer JetStream servers than replicas (10005 no suitable peers, 10023 insufficient resources).
const REPLICA_REFUSALS = new Set([10074, 10005, 10023]);

/** A refusal that is JETQ_REPLICAS not fitting the servers, said as a setting that is wrong. */
function replicasRefused(err: unknown, replicas: number): ConfigError | null {
  if (!(err instanceof JetStreamApiError) || !REPLICA_REFUSALS.has(err.code)) return null;
  return new ConfigError(`invalid configuration:\n  JETQ_REPLICAS: ${replicas} copies of every stream, which these NATS servers cannot keep (${err.message}); use 1 with a single server, and at most the number of JetStream servers in a cluster`);
}

/**
 * An authorization failure at connect, said as the setting that is wrong. The client gives up on
 * a server that refuses the same credentials twice, so this comes at start rather than never.
 */
function credentialsRefused(err: unknown, opts: ConnectOptions): ConfigError | null {
  const text = `${err instanceof Error ? err.message : String(err)} ${err instanceof Error && err.cause instanceof Error ? err.cause.message : ""}`;
  if (!/authorization violation|authentication|user authentication expired/i.test(text)) return null;
  return new ConfigError(
    opts.credentials
      ? `NATS refused the credentials of ${opts.name} (NATS_USER=${opts.credentials.user}): check NATS_USER and NATS_PASSWORD`
      : `NATS refused ${opts.name}, which has no credentials: this server needs NATS_USER and NATS_PASSWORD`,
  );
}
