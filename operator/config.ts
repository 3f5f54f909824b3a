// The operator's settings: where the cluster is, who this replica is, the leader lease, what it
// watches and how often it resyncs. Read once here, with the kernel's (NATS, topology, logging),
// and passed in; a wrong value stops the operator at start, naming the variable.
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError, int, KERNEL_SETTINGS, kernelConfig, list, readSettings, type KernelConfig } from "../kernel/config.js";
import type { NamespaceTenancy } from "./tasks/tenant-of-namespace.js";

const KUBE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAMESPACE_TENANT = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?=[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const OPERATOR_SETTINGS = z.object({
  KUBECONFIG: z.string().optional(),
  /** Set by Kubernetes in every pod: then the pod's service account is used (unless KUBECONFIG says otherwise). */
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  POD_NAME: z.string().optional(),
  POD_NAMESPACE: z.string().optional(),
  JETQ_OPERATOR_NAMESPACE: z.string().regex(KUBE_NAME, "a namespace name").optional(),
  JETQ_OPERATOR_LEASE_NAME: z.string().regex(KUBE_NAME, "a lease name (lower-case letters, digits, '-')").default("jetq-operator"),
  JETQ_OPERATOR_ID: z.string().min(1).max(128).optional(),
  JETQ_OPERATOR_PORT: int(8081, 0),
  JETQ_OPERATOR_HOST: z.string().default("0.0.0.0"),
  JETQ_WATCH_NAMESPACES: list("").pipe(z.array(z.string().regex(KUBE_NAME, "namespace names, comma-separated"))),
  JETQ_OPERATOR_LEASE_DURATION_S: int(15, 1),
  JETQ_OPERATOR_RENEW_DEADLINE_S: int(10, 1),
  JETQ_OPERATOR_RETRY_PERIOD_S: int(2, 1),
  JETQ_OPERATOR_RESYNC_MS: int(30_000, 100),
  JETQ_OPERATOR_TASK_CONCURRENCY: int(16, 1),
  JETQ_PROMETHEUS_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** on: a ProcessingTask's task belongs to the tenant named like its namespace; off: to `default`. */
  JETQ_TENANT_FROM_NAMESPACE: z.enum(["on", "off"]).default("on"),
  /** `namespace=tenant` pairs, comma-separated: tenants for namespaces not named like them. */
  JETQ_NAMESPACE_TENANTS: list("").pipe(z.array(z.string().regex(NAMESPACE_TENANT, "namespace=tenant pairs, comma-separated (both DNS labels)"))),
});

/** Where the operator finds the cluster: a kubeconfig file, or the pod's own service account. */
export type KubeSource = { kind: "file"; path: string } | { kind: "in-cluster" };

export interface OperatorConfig {
  kube: KubeSource;
  /** This replica's identity in the lease: the pod's name in a cluster. */
  identity: string;
  lease: { namespace: string; name: string; durationS: number; renewDeadlineS: number; retryPeriodS: number };
  health: { port: number; host: string };
  /** Namespaces whose resources the operator reconciles; empty: all of them. */
  watchNamespaces: string[];
  resyncMs: number;
  /** ProcessingTasks reconciled at once. */
  taskConcurrency: number;
  /** Prometheus for WorkerPools that name none. */
  defaultPrometheusUrl?: string;
  /** Which tenant a ProcessingTask's task belongs to (operator/tasks/tenant-of-namespace.ts). */
  tenancy: NamespaceTenancy;
}

export function operatorConfig(e: z.infer<typeof OPERATOR_SETTINGS>, pid = process.pid): OperatorConfig {
  // client-go's rules: the lease outlives the renew deadline, which outlives a retry (with jitter).
  const problems: string[] = [];
  if (e.JETQ_OPERATOR_RENEW_DEADLINE_S >= e.JETQ_OPERATOR_LEASE_DURATION_S) problems.push("  JETQ_OPERATOR_RENEW_DEADLINE_S: must be less than JETQ_OPERATOR_LEASE_DURATION_S");
  if (e.JETQ_OPERATOR_RETRY_PERIOD_S * 1.2 >= e.JETQ_OPERATOR_RENEW_DEADLINE_S) problems.push("  JETQ_OPERATOR_RETRY_PERIOD_S: times 1.2 (jitter) must be less than JETQ_OPERATOR_RENEW_DEADLINE_S");
  if (problems.length) throw new ConfigError(`invalid configuration:\n${problems.join("\n")}`);
  const kube: KubeSource = e.KUBECONFIG
    ? { kind: "file", path: e.KUBECONFIG.split(":")[0]! } // like kubectl, the first file of a list
    : e.KUBERNETES_SERVICE_HOST
      ? { kind: "in-cluster" }
      : { kind: "file", path: join(homedir(), ".kube", "config") };
  return {
    kube,
    identity: e.JETQ_OPERATOR_ID ?? e.POD_NAME ?? `${hostname()}-${pid}`,
    lease: {
      namespace: e.JETQ_OPERATOR_NAMESPACE ?? e.POD_NAMESPACE ?? "default",
      name: e.JETQ_OPERATOR_LEASE_NAME,
      durationS: e.JETQ_OPERATOR_LEASE_DURATION_S,
      renewDeadlineS: e.JETQ_OPERATOR_RENEW_DEADLINE_S,
      retryPeriodS: e.JETQ_OPERATOR_RETRY_PERIOD_S,
    },
    health: { port: e.JETQ_OPERATOR_PORT, host: e.JETQ_OPERATOR_HOST },
    watchNamespaces: [...new Set(e.JETQ_WATCH_NAMESPACES)],
    resyncMs: e.JETQ_OPERATOR_RESYNC_MS,
    taskConcurrency: e.JETQ_OPERATOR_TASK_CONCURRENCY,
    tenancy: {
      fromNamespace: e.JETQ_TENANT_FROM_NAMESPACE === "on",
      byNamespace: Object.fromEntries(e.JETQ_NAMESPACE_TENANTS.map((pair) => pair.split("=") as [string, string])),
    },
    ...(e.JETQ_PROMETHEUS_URL ? { defaultPrometheusUrl: e.JETQ_PROMETHEUS_URL } : {}),
  };
}

/** What the operator program reads: the kernel's settings (NATS, topology, logging) and its own. */
export function loadOperatorProgramConfig(env: Record<string, string | undefined> = process.env): KernelConfig & { operator: OperatorConfig } {
  const e = readSettings(env, KERNEL_SETTINGS.extend(OPERATOR_SETTINGS.shape));
  return { ...kernelConfig(e), operator: operatorConfig(e) };
}
