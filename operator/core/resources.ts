// The jetq custom resources as the operator sees them: API coordinates and TypeScript shapes that
// match crds/*.yaml (ProcessingTask, WorkerPool). One place, so controllers never spell a plural.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Priority } from "../../kernel/task.js";

export const JETQ_GROUP = "jetq.io";
export const JETQ_VERSION = "v1alpha1";

/** Where a resource lives in the API: enough to build its URL paths. */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const PROCESSING_TASKS = { group: JETQ_GROUP, version: JETQ_VERSION, plural: "processingtasks", kind: "ProcessingTask" } as const satisfies ResourceRef;
export const WORKER_POOLS = { group: JETQ_GROUP, version: JETQ_VERSION, plural: "workerpools", kind: "WorkerPool" } as const satisfies ResourceRef;

/** "group/version", or "version" for the core group ("" group). */
export const apiVersionOf = (res: ResourceRef): string => (res.group ? `${res.group}/${res.version}` : res.version);

/**
 * The collection path of a resource: "/apis/jetq.io/v1alpha1/processingtasks" across namespaces,
 * or "/apis/jetq.io/v1alpha1/namespaces/ns/processingtasks" in one; core resources live under /api/v1.
 */
export function resourcePath(res: ResourceRef, namespace?: string): string {
  const base = res.group ? `/apis/${res.group}/${res.version}` : `/api/${res.version}`;
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${res.plural}` : `${base}/${res.plural}`;
}

/** A condition as the Kubernetes API conventions define it (metav1.Condition). */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export const TASK_PHASES = ["Pending", "Queued", "Running", "Retrying", "Succeeded", "Failed", "Cancelled"] as const;
export type TaskPhase = (typeof TASK_PHASES)[number];

export interface ProcessingTaskSpec {
  type: string;
  payload: Record<string, unknown>;
  priority?: Priority;
  maxAttempts?: number;
  timeoutSeconds?: number;
}

export interface ProcessingTaskStatus {
  phase?: TaskPhase;
  taskId?: string;
  attempts?: number;
  progress?: { percent?: number; message?: string };
  result?: unknown;
  error?: string;
  startTime?: string;
  completionTime?: string;
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface ProcessingTask extends KubernetesObject {
  spec: ProcessingTaskSpec;
  status?: ProcessingTaskStatus;
}

export interface WorkerPoolSpec {
  deploymentName: string;
  taskTypes: string[];
  minReplicas: number;
  maxReplicas: number;
  targetBacklogPerReplica: number;
  activationBacklog?: number;
  pollingIntervalSeconds: number;
  scaleUp?: { stabilizationWindowSeconds?: number; maxStep?: number };
  scaleDown?: { stabilizationWindowSeconds?: number };
  prometheus?: { url: string; query?: string };
}

export type DepthSourceName = "prometheus" | "jetstream";

export interface WorkerPoolStatus {
  observedDepth?: number;
  desiredReplicas?: number;
  currentReplicas?: number;
  lastScaleTime?: string;
  depthSource?: DepthSourceName;
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface WorkerPool extends KubernetesObject {
  spec: WorkerPoolSpec;
  status?: WorkerPoolStatus;
}

/** The work-queue key of an object: "namespace/name" (cluster-scoped objects: "name"). */
export function keyOf(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? "";
  return ns ? `${ns}/${name}` : name;
}

/** The inverse of keyOf. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf("/");
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
