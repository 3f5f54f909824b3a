// How busy each worker is, from the kernel's presence records (bucket jetq-workers, key = worker
// id, refreshed by every worker each 5 s and aged out 30 s after it stops). A worker in a pod takes
// the pod's name as its id (JETQ_WORKER_ID / POD_NAME), so the map is keyed by pod name.
import type { JetStreamManager } from "@nats-io/jetstream";
import { scanKv } from "../../kernel/kv-scan.js";
import type { WorkerPresence } from "../../kernel/queue-stats.js";
import { TOPOLOGY } from "../../kernel/topology.js";

export async function busySlotsByWorker(jsm: JetStreamManager): Promise<Map<string, number>> {
  const busy = new Map<string, number>();
  for (const entry of await scanKv(jsm, TOPOLOGY.workersBucket)) {
    const p = entry.json<WorkerPresence>();
    if (typeof p?.id === "string" && Number.isFinite(p.busy)) busy.set(p.id, p.busy);
  }
  return busy;
}
