// WorkerPool snapshots in NATS: the operator, which alone talks to Kubernetes, writes what it last
// decided for each pool (desired vs current replicas, the depth it read and from where); the API
// serves them (`GET /api/pools`) so the web view and the CLI show the autoscaler without
// Kubernetes credentials. Each entry carries a per-message TTL a few polling intervals long: the
// pools of an operator that stopped (or lost its leadership to one that cannot write) fade out.
import type { JetqConnection } from "./connection.js";
import { scanKv } from "./kv-scan.js";
import { PoolStatusSchema, type PoolStatus } from "./pool-status-schema.js";
import { TOPOLOGY } from "./topology.js";

export { PoolStatusSchema, type PoolStatus };

/** KV keys allow letters, digits and `-_=.`: a namespace and a name are DNS labels, so `ns.name` is unique. */
const keyOf = (p: Pick<PoolStatus, "namespace" | "name">) => `${p.namespace}.${p.name}`;

/** Records a pool's snapshot for `ttlSeconds` (at least a few of its polling intervals). */
export async function writePoolStatus(conn: Pick<JetqConnection, "publisher">, status: PoolStatus, ttlSeconds: number): Promise<void> {
  await conn.publisher.publish(`$KV.${TOPOLOGY.poolsBucket}.${keyOf(status)}`, JSON.stringify(status), { ttl: `${Math.max(1, Math.ceil(ttlSeconds))}s` });
}

/** Every pool an operator reported recently, by namespace then name; malformed entries are skipped. */
export async function readPoolStatuses(conn: Pick<JetqConnection, "jsm">): Promise<PoolStatus[]> {
  const entries = await scanKv(conn.jsm, TOPOLOGY.poolsBucket);
  const pools: PoolStatus[] = [];
  for (const e of entries) {
    try {
      const parsed = PoolStatusSchema.safeParse(e.json());
      if (parsed.success) pools.push(parsed.data);
    } catch {
      // not JSON: not ours
    }
  }
  return pools.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
}
