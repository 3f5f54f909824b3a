// The operator reads the kernel's settings and its own, once; a wrong one stops it at start, by name.
import { homedir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../kernel/config.js";
import { loadOperatorProgramConfig } from "../../operator/config.js";

const fails = (env: Record<string, string>, ...names: string[]) => {
  let error: unknown;
  try {
    loadOperatorProgramConfig(env);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(ConfigError);
  for (const n of names) expect(String(error)).toContain(n);
};

describe("operator configuration", () => {
  it("has defaults that need nothing set", () => {
    const c = loadOperatorProgramConfig({});
    expect(c.natsUrl).toBe("nats://127.0.0.1:4222");
    expect(c.operator.kube).toEqual({ kind: "file", path: join(homedir(), ".kube", "config") });
    expect(c.operator.lease).toEqual({ namespace: "default", name: "jetq-operator", durationS: 15, renewDeadlineS: 10, retryPeriodS: 2 });
    expect(c.operator.health).toEqual({ port: 8081, host: "0.0.0.0" });
    expect(c.operator.watchNamespaces).toEqual([]);
    expect(c.operator.resyncMs).toBe(30_000);
    expect(c.operator.taskConcurrency).toBe(16);
    expect(c.operator.defaultPrometheusUrl).toBeUndefined();
    expect(c.operator.identity).toMatch(new RegExp(`-${process.pid}$`));
  });

  it("uses the pod's service account in a pod, unless KUBECONFIG names a file", () => {
    expect(loadOperatorProgramConfig({ KUBERNETES_SERVICE_HOST: "10.0.0.1" }).operator.kube).toEqual({ kind: "in-cluster" });
    expect(loadOperatorProgramConfig({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBECONFIG: "/etc/k/a:/etc/k/b" }).operator.kube).toEqual({ kind: "file", path: "/etc/k/a" });
  });

  it("takes its identity and lease namespace from the pod (downward API), overridable", () => {
    const pod = { POD_NAME: "jetq-operator-7d9f-x2", POD_NAMESPACE: "jetq-system" };
    expect(loadOperatorProgramConfig(pod).operator.identity).toBe("jetq-operator-7d9f-x2");
    expect(loadOperatorProgramConfig(pod).operator.lease.namespace).toBe("jetq-system");
    const own = loadOperatorProgramConfig({ ...pod, JETQ_OPERATOR_ID: "op-a", JETQ_OPERATOR_NAMESPACE: "ops", JETQ_OPERATOR_LEASE_NAME: "jetq-lead" }).operator;
    expect([own.identity, own.lease.namespace, own.lease.name]).toEqual(["op-a", "ops", "jetq-lead"]);
  });

  it("reads its own settings", () => {
    const c = loadOperatorProgramConfig({
      NATS_URL: "nats://10.0.0.5:4222",
      JETQ_WATCH_NAMESPACES: "team-a, team-b,team-a",
      JETQ_OPERATOR_PORT: "9100",
      JETQ_OPERATOR_RESYNC_MS: "500",
      JETQ_OPERATOR_TASK_CONCURRENCY: "32",
      JETQ_OPERATOR_LEASE_DURATION_S: "30",
      JETQ_OPERATOR_RENEW_DEADLINE_S: "20",
      JETQ_OPERATOR_RETRY_PERIOD_S: "4",
      JETQ_PROMETHEUS_URL: "http://prometheus.monitoring:9090",
    });
    expect(c.natsUrl).toBe("nats://10.0.0.5:4222");
    expect(c.operator.watchNamespaces).toEqual(["team-a", "team-b"]);
    expect(c.operator.health.port).toBe(9100);
    expect(c.operator.resyncMs).toBe(500);
    expect(c.operator.taskConcurrency).toBe(32);
    expect(c.operator.lease).toMatchObject({ durationS: 30, renewDeadlineS: 20, retryPeriodS: 4 });
    expect(c.operator.defaultPrometheusUrl).toBe("http://prometheus.monitoring:9090");
  });

  it("refuses wrong values, naming each variable", () => {
    fails(
      { JETQ_OPERATOR_PORT: "http", JETQ_WATCH_NAMESPACES: "Team_A", JETQ_OPERATOR_RESYNC_MS: "10", JETQ_PROMETHEUS_URL: "prometheus:9090", JETQ_OPERATOR_TASK_CONCURRENCY: "0" },
      "JETQ_OPERATOR_PORT",
      "JETQ_WATCH_NAMESPACES",
      "JETQ_OPERATOR_RESYNC_MS",
      "JETQ_PROMETHEUS_URL",
      "JETQ_OPERATOR_TASK_CONCURRENCY",
    );
    fails({ JETQ_OPERATOR_NAMESPACE: "Not A Namespace" }, "JETQ_OPERATOR_NAMESPACE");
    fails({ JETQ_MAX_DELIVER: "0" }, "JETQ_MAX_DELIVER"); // the kernel's settings are the operator's too
  });

  it("refuses lease timings client-go would refuse", () => {
    fails({ JETQ_OPERATOR_RENEW_DEADLINE_S: "15" }, "JETQ_OPERATOR_RENEW_DEADLINE_S", "JETQ_OPERATOR_LEASE_DURATION_S");
    fails({ JETQ_OPERATOR_RETRY_PERIOD_S: "9" }, "JETQ_OPERATOR_RETRY_PERIOD_S");
  });

  it("ignores the other programs' settings", () => {
    const c = loadOperatorProgramConfig({ PORT: "eighty", JETQ_CONCURRENCY: "lots", JETQ_CHUNK_SIZE: "tiny" });
    expect(c).not.toHaveProperty("api");
    expect(c).not.toHaveProperty("worker");
    expect(c).not.toHaveProperty("documents");
  });
});
