// Before a scale-down: tell the ReplicaSet controller which pods to remove first. It deletes pods
// with the lowest `controller.kubernetes.io/pod-deletion-cost` first (among otherwise equal
// Running, Ready pods), so each pod gets its worker's busy task slots as its cost: idle workers go,
// busy ones stay. A cost is a preference, not a promise (the controller may see an older pod
// annotation, and a worker's busy count is up to one presence interval old); what protects a task
// for certain is the worker's own graceful shutdown on SIGTERM.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from "@kubernetes/client-node";

export const POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost";

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** The pods whose annotation must change, with the cost each must carry (pods already deleting are left alone). */
export function deletionCostChanges(pods: readonly V1Pod[], busyByWorker: ReadonlyMap<string, number>): { pod: string; cost: number }[] {
  const changes: { pod: string; cost: number }[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name;
    if (!name || pod.metadata?.deletionTimestamp) continue;
    // A pod without a presence record has no worker running a task (not started yet, or gone).
    const cost = busyByWorker.get(name) ?? 0;
    if (pod.metadata?.annotations?.[POD_DELETION_COST] !== String(cost)) changes.push({ pod: name, cost });
  }
  return changes;
}

export class PodDeletionCosts {
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /**
   * Annotates the pods matching `selector` (the Deployment's) with their worker's busy slots,
   * patching only those whose cost changes. Returns every live pod's cost.
   */
  async apply(namespace: string, selector: string, busyByWorker: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    if (!selector) throw new Error("the Deployment reports no pod selector yet");
    const pods = (await this.core.listNamespacedPod({ namespace, labelSelector: selector })).items;
    const changes = deletionCostChanges(pods, busyByWorker);
    await Promise.all(
      changes.map(({ pod, cost }) =>
        this.core
          .patchNamespacedPod({ namespace, name: pod, body: { metadata: { annotations: { [POD_DELETION_COST]: String(cost) } } } }, MERGE_PATCH)
          .catch((err: unknown) => {
            if ((err as { code?: number }).code !== 404) throw err; // a pod that went meanwhile needs no cost
          }),
      ),
    );
    const costs = new Map<string, number>();
    for (const pod of pods) if (pod.metadata?.name && !pod.metadata.deletionTimestamp) costs.set(pod.metadata.name, busyByWorker.get(pod.metadata.name) ?? 0);
    return costs;
  }
}
