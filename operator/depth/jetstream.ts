// A WorkerPool's depth read from JetStream itself: the fallback when Prometheus cannot answer, and
// the fresh reading a burst of new tasks is judged by (Prometheus lags a scrape interval).
//
// It counts the work stream's messages on the pool's subjects (jetq.tasks.<priority>.<type>). The
// stream has work-queue retention: a message stays until a worker acks it, so that count is exactly
// pending + ack-pending of whichever consumers take those types — the number KEDA's NATS scaler
// reads — and it also holds the tasks of a pool whose consumers do not exist yet (its workers never
// ran). It is the same quantity the default Prometheus query reads (jetq_queue_depth_by_type is made
// from the same stream info), so falling back moves no numbers.
//
// Leader only: it is one STREAM.INFO request through the JetStream API, and in a cluster only the
// stream's leader answers that (nats-server jsStreamInfoRequest: followers stay silent; KEDA's
// scaler instead read every server's /jsz, where followers report stale counts and caused runaway
// scale-ups). The one exception is a group with no leader, where a member may answer from its own
// state; its answer then names no leader (ClusterInfo.leader is empty), and it is refused here.
import type { JetStreamManager } from "@nats-io/jetstream";
import { parseTaskSubject, TOPOLOGY } from "../../kernel/topology.js";
import type { WorkerPool } from "../core/resources.js";
import { DepthUnavailableError, type DepthSource } from "./depth-source.js";

export function createJetStreamDepthSource(jsm: JetStreamManager): DepthSource {
  return {
    name: "jetstream",
    async depth(pool: WorkerPool) {
      let info;
      try {
        info = await jsm.streams.info(TOPOLOGY.tasksStream, { subjects_filter: "jetq.tasks.>" });
      } catch (err) {
        throw new DepthUnavailableError("jetstream", `stream info of ${TOPOLOGY.tasksStream} failed: ${(err as Error).message}`);
      }
      if (info.cluster && !info.cluster.leader) {
        throw new DepthUnavailableError("jetstream", `${TOPOLOGY.tasksStream} has no leader right now: a follower's counts may be stale`);
      }
      return depthOfTypes(info.state.subjects ?? {}, pool.spec.taskTypes);
    },
  };
}

/** Messages on the work subjects of these types (current and legacy subject forms). */
export function depthOfTypes(subjects: Record<string, number>, taskTypes: readonly string[]): number {
  const wanted = new Set(taskTypes);
  let depth = 0;
  for (const [subject, count] of Object.entries(subjects)) {
    const parsed = parseTaskSubject(subject);
    if (parsed && wanted.has(parsed.type)) depth += count;
  }
  return depth;
}
