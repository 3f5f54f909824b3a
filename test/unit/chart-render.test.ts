// charts/jetq rendered by the real helm: lint, the objects of the default install and of each
// non-default value set (what each must and must not contain), every program setting reachable
// as a value, restricted security, and schema violations failing with the value's name.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { API_SETTINGS } from "../../api/config.js";
import { KERNEL_SETTINGS } from "../../kernel/config.js";
import { NATS_PROGRAMS, natsPermissions, natsPermissionsJson } from "../../kernel/nats-permissions.js";
import { LIBRARY_SETTINGS } from "../../library/config.js";
import { OPERATOR_SETTINGS } from "../../operator/config.js";
import { WORKER_SETTINGS } from "../../worker/config.js";
import { CHART_DIR, envOf, find, helm, kinds, renderChart, type K8sObject } from "../support/helm.js";

const T = 120_000;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jetq-chart-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function valuesFile(name: string, values: object): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, stringify(values));
  return file;
}

const deployments = (objs: K8sObject[]) => objs.filter((o) => o.kind === "Deployment");
const container = (o: K8sObject) => o.spec.template.spec.containers[0];

/**
 * The users of a rendered nats.conf's authorization block: one `{user: …, password: $VAR,
 * permissions: {JSON}}` line each (the chart's format), read back as objects.
 */
function natsUsers(conf: string): Array<{ user: string; password: string; permissions: unknown }> {
  return [...conf.matchAll(/^\s*\{user: ("[^"]+"), password: (\$[A-Z_]+), permissions: (\{.*\})\}$/gm)].map((m) => ({ user: JSON.parse(m[1]!), password: m[2]!, permissions: JSON.parse(m[3]!) }));
}

describe("helm lint", () => {
  it("passes --strict with the defaults and with the other value sets", { timeout: T }, async () => {
    const plain = await helm(["lint", "--strict", CHART_DIR]);
    expect(plain.stdout + plain.stderr).toContain("0 chart(s) failed");
    expect(plain.code).toBe(0);
    // (lint has no --api-versions: the Prometheus Operator objects are rendered by helm template below.)
    for (const set of ["nats.replicas=3", "nats.external.url=nats://nats.example:4222,worker.autoscaling.enabled=false", "api.auth.adminKeySecret.name=jetq-admin,api.metricsPort=9090"]) {
      const r = await helm(["lint", "--strict", CHART_DIR, "--set", set]);
      expect(r.code, `${set}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });
});

describe("the default install", () => {
  let objs: K8sObject[];
  beforeAll(async () => {
    objs = await renderChart();
  }, T);

  it("has api, worker and operator Deployments, a 1-node NATS StatefulSet, the WorkerPool, RBAC, PDBs, Services and the dashboard", () => {
    expect(kinds(objs)).toEqual(
      [
        "ClusterRole/jetq-jetq-operator",
        "ClusterRoleBinding/jetq-jetq-operator",
        "ConfigMap/jetq-dashboard",
        "ConfigMap/jetq-nats",
        "ConfigMap/jetq-test",
        "Deployment/jetq-api",
        "Deployment/jetq-operator",
        "Deployment/jetq-worker",
        "PodDisruptionBudget/jetq-api",
        "PodDisruptionBudget/jetq-nats",
        "PodDisruptionBudget/jetq-operator",
        "PodDisruptionBudget/jetq-worker",
        "Pod/jetq-test",
        "Role/jetq-operator-leader-election",
        "RoleBinding/jetq-operator-leader-election",
        "Secret/jetq-nats-api",
        "Secret/jetq-nats-operator",
        "Secret/jetq-nats-worker",
        "Service/jetq-api",
        "Service/jetq-nats",
        "Service/jetq-nats-headless",
        "Service/jetq-operator",
        "Service/jetq-worker",
        "ServiceAccount/jetq-operator",
        "StatefulSet/jetq-nats",
        "WorkerPool/jetq-worker",
      ].sort(),
    );
    // The only Secrets the chart makes: each program's NATS password; the others are referenced.
    expect(objs.filter((o) => o.kind === "Secret").map((o) => o.metadata.name).sort()).toEqual(["jetq-nats-api", "jetq-nats-operator", "jetq-nats-worker"]);
    expect(objs.some((o) => o.apiVersion.startsWith("monitoring.coreos.com"))).toBe(false);
  });

  it("points every program at the chart's NATS with single-replica streams", () => {
    for (const d of deployments(objs)) {
      const env = envOf(container(d));
      expect(env.NATS_URL, d.metadata.name).toBe("nats://jetq-nats:4222");
      expect(env.JETQ_REPLICAS, d.metadata.name).toBe("1");
      expect(env.JETQ_DATA_DIR, d.metadata.name).toBe("/var/lib/jetq");
    }
    const sts = find(objs, "StatefulSet", "jetq-nats");
    expect(sts.spec.replicas).toBe(1);
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("10Gi");
    expect(find(objs, "ConfigMap", "jetq-nats").data["nats.conf"]).not.toContain("cluster {");
  });

  it("gives each program its own NATS user from its own Secret, and NATS those users with kernel/nats-permissions.ts's permissions", () => {
    for (const program of NATS_PROGRAMS) {
      const secret = find(objs, "Secret", `jetq-nats-${program}`);
      expect(Buffer.from(secret.data.user, "base64").toString()).toBe(program);
      expect(Buffer.from(secret.data.password, "base64").toString()).toMatch(/^[A-Za-z0-9]{48}$/);
      expect(secret.metadata.annotations?.["helm.sh/resource-policy"]).toBeUndefined(); // uninstall removes it, as everything else
      expect(envOf(container(find(objs, "Deployment", `jetq-${program}`)))).toMatchObject({ NATS_USER: `secret:jetq-nats-${program}/user`, NATS_PASSWORD: `secret:jetq-nats-${program}/password` });
    }
    const natsEnv = envOf(container(find(objs, "StatefulSet", "jetq-nats")));
    expect(natsEnv).toMatchObject({ JETQ_NATS_API_PASSWORD: "secret:jetq-nats-api/password", JETQ_NATS_WORKER_PASSWORD: "secret:jetq-nats-worker/password", JETQ_NATS_OPERATOR_PASSWORD: "secret:jetq-nats-operator/password" });
    expect(natsUsers(find(objs, "ConfigMap", "jetq-nats").data["nats.conf"])).toEqual(
      NATS_PROGRAMS.map((p) => ({ user: p, password: `$JETQ_NATS_${p.toUpperCase()}_PASSWORD`, permissions: natsPermissions(p) })),
    );
  });

  it("keeps the chart's copy of the permissions equal to kernel/nats-permissions.ts", async () => {
    const copy = await readFile(join(CHART_DIR, "files", "nats-permissions.json"), "utf8");
    expect(copy, "charts/jetq/files/nats-permissions.json is out of date: run `npx tsx scripts/nats-auth.ts chart-permissions`").toBe(natsPermissionsJson());
  });

  it("runs each program by its argument, with probes on its health endpoints", () => {
    const api = container(find(objs, "Deployment", "jetq-api"));
    expect(api.args).toEqual(["api"]);
    expect(api.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(api.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(envOf(api)).toMatchObject({ HOST: "0.0.0.0", PORT: "8080", JETQ_AUTH: "on", JETQ_PRINT_FIRST_ADMIN_KEY: "true" });
    const worker = container(find(objs, "Deployment", "jetq-worker"));
    expect(worker.args).toEqual(["worker"]);
    expect(worker.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(envOf(worker)).toMatchObject({ JETQ_WORKER_ID: "field:metadata.name", JETQ_SHUTDOWN_GRACE_MS: "30000", JETQ_WORKER_METRICS_PORT: "9091" });
    const op = find(objs, "Deployment", "jetq-operator");
    expect(container(op).args).toEqual(["operator"]);
    expect(container(op).readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(op.spec.template.spec.serviceAccountName).toBe("jetq-operator");
    expect(envOf(container(op))).toMatchObject({ JETQ_OPERATOR_NAMESPACE: "jetq", POD_NAME: "field:metadata.name", JETQ_OPERATOR_PORT: "8081" });
  });

  it("gives every pod the restricted security context and writable volumes only for data and /tmp", () => {
    for (const o of [...deployments(objs), find(objs, "StatefulSet", "jetq-nats"), find(objs, "Pod", "jetq-test")]) {
      const pod = o.kind === "Pod" ? o.spec : o.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot, o.metadata.name).toBe(true);
      expect(pod.securityContext.seccompProfile, o.metadata.name).toEqual({ type: "RuntimeDefault" });
      for (const c of pod.containers) {
        expect(c.securityContext, `${o.metadata.name}/${c.name}`).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
        expect(c.resources?.requests, `${o.metadata.name}/${c.name}`).toBeTruthy();
      }
    }
    const api = find(objs, "Deployment", "jetq-api").spec.template.spec;
    expect(api.containers[0].volumeMounts.map((m: { mountPath: string }) => m.mountPath).sort()).toEqual(["/tmp", "/var/lib/jetq"]);
    expect(api.automountServiceAccountToken).toBe(false);
  });

  it("keeps the worker's termination grace above its shutdown grace, and leaves its replicas to the WorkerPool", () => {
    const w = find(objs, "Deployment", "jetq-worker");
    expect(w.spec.template.spec.terminationGracePeriodSeconds).toBe(45);
    expect(w.spec.replicas).toBeUndefined();
    const pool = find(objs, "WorkerPool", "jetq-worker");
    expect(pool.spec).toMatchObject({ deploymentName: "jetq-worker", minReplicas: 0, maxReplicas: 10, taskTypes: ["process_book", "generate_embeddings", "sync_sources", "create_quiz"] });
  });

  it("annotates api, worker and operator pods for Prometheus and labels the dashboard for Grafana's sidecar", () => {
    const ports: Record<string, string> = { "jetq-api": "8080", "jetq-worker": "9091", "jetq-operator": "8081" };
    for (const d of deployments(objs)) {
      expect(d.spec.template.metadata.annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/port": ports[d.metadata.name], "prometheus.io/path": "/metrics" });
    }
    const dash = find(objs, "ConfigMap", "jetq-dashboard");
    expect(dash.metadata.labels?.grafana_dashboard).toBe("1");
    expect(JSON.parse(dash.data["jetq.json"]).uid).toBe("jetq-overview");
  });
});

describe("non-default value sets", () => {
  it("3-node NATS: a clustered StatefulSet with routes to every node, R3 streams", { timeout: T }, async () => {
    const objs = await renderChart(["--set", "nats.replicas=3"]);
    const sts = find(objs, "StatefulSet", "jetq-nats");
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.podManagementPolicy).toBe("Parallel");
    const conf = find(objs, "ConfigMap", "jetq-nats").data["nats.conf"] as string;
    expect(conf).toContain("cluster {");
    for (const i of [0, 1, 2]) expect(conf).toContain(`nats://jetq-nats-${i}.jetq-nats-headless.jetq.svc:6222`);
    for (const d of deployments(objs)) expect(envOf(container(d)).JETQ_REPLICAS, d.metadata.name).toBe("3");
  });

  it("external NATS: no StatefulSet, no NATS Service or PDB, the URL in every program", { timeout: T }, async () => {
    const url = "nats://a.nats:4222,nats://b.nats:4222,nats://c.nats:4222";
    const objs = await renderChart(["-f", await valuesFile("external", { nats: { external: { url }, streamReplicas: 3 } })]);
    expect(objs.filter((o) => /nats/.test(o.metadata.name)).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    expect(objs.some((o) => o.kind === "StatefulSet")).toBe(false);
    for (const d of deployments(objs)) expect(envOf(container(d)), d.metadata.name).toMatchObject({ NATS_URL: url, JETQ_REPLICAS: "3" });
    // No Secrets of its own for a NATS it does not run: without names, no credentials.
    for (const d of deployments(objs)) expect(envOf(container(d)), d.metadata.name).not.toHaveProperty("NATS_USER");
  });

  it("external NATS with each program's Secret named: credentials from those, none made", { timeout: T }, async () => {
    const auth = { api: { existingSecret: "a-nats" }, worker: { existingSecret: "w-nats" }, operator: { existingSecret: "o-nats" } };
    const objs = await renderChart(["-f", await valuesFile("external-auth", { nats: { external: { url: "nats://nats.example:4222" }, auth } })]);
    expect(objs.some((o) => o.kind === "Secret" && o.metadata.name.includes("nats"))).toBe(false);
    for (const program of NATS_PROGRAMS) {
      const secret = auth[program].existingSecret;
      expect(envOf(container(find(objs, "Deployment", `jetq-${program}`)))).toMatchObject({ NATS_USER: `secret:${secret}/user`, NATS_PASSWORD: `secret:${secret}/password` });
    }
  });

  it("the chart's NATS with one program's Secret named: that one is used by the program and NATS, the others made", { timeout: T }, async () => {
    const objs = await renderChart(["--set", "nats.auth.worker.existingSecret=my-worker-nats"]);
    expect(objs.filter((o) => o.kind === "Secret").map((o) => o.metadata.name).sort()).toEqual(["jetq-nats-api", "jetq-nats-operator"]);
    expect(envOf(container(find(objs, "Deployment", "jetq-worker")))).toMatchObject({ NATS_USER: "secret:my-worker-nats/user", NATS_PASSWORD: "secret:my-worker-nats/password" });
    expect(envOf(container(find(objs, "StatefulSet", "jetq-nats")))).toMatchObject({ JETQ_NATS_WORKER_PASSWORD: "secret:my-worker-nats/password" });
  });

  it("Prometheus Operator on: ServiceMonitors for the three programs and the PrometheusRule with the alert rules file", { timeout: T }, async () => {
    const objs = await renderChart(["--set", "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true", "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"]);
    expect(objs.filter((o) => o.kind === "ServiceMonitor").map((o) => o.metadata.name).sort()).toEqual(["jetq-api", "jetq-operator", "jetq-worker"]);
    const rule = find(objs, "PrometheusRule", "jetq");
    const alerts = rule.spec.groups.flatMap((g: { rules: Array<{ alert?: string }> }) => g.rules.map((r) => r.alert).filter(Boolean));
    expect(alerts.sort()).toEqual(["JetqCompletionTimeOverObjective", "JetqDeadLetterQueueGrowing", "JetqErrorRateOverObjective", "JetqNatsUnreachable", "JetqNoOperatorLeader", "JetqQueueGrowingAtMaxReplicas"]);
  });

  it("Prometheus Operator on without its CRDs: the install fails saying what is missing (no silent drop)", { timeout: T }, async () => {
    for (const [flag, kind] of [["metrics.serviceMonitor.enabled", "ServiceMonitor"], ["metrics.prometheusRule.enabled", "PrometheusRule"]]) {
      const r = await helm(["template", "jetq", CHART_DIR, "--set", `${flag}=true`]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${flag} needs the Prometheus Operator's ${kind} CRD`);
    }
  });

  it("autoscaling off: no WorkerPool, a fixed replica count", { timeout: T }, async () => {
    const objs = await renderChart(["--set", "worker.autoscaling.enabled=false,worker.replicas=3"]);
    expect(objs.some((o) => o.kind === "WorkerPool")).toBe(false);
    expect(find(objs, "Deployment", "jetq-worker").spec.replicas).toBe(3);
  });

  it("existing secrets: admin, OpenAI and Qdrant keys by reference, no first-key printing", { timeout: T }, async () => {
    const file = await valuesFile("secrets", {
      api: { auth: { adminKeySecret: { name: "jetq-admin", key: "key" } } },
      documents: { openai: { baseUrl: "https://llm.example/v1", apiKeySecret: { name: "llm", key: "token" } }, qdrant: { url: "https://qdrant.example:6333", apiKeySecret: { name: "qdrant", key: "api-key" } } },
    });
    const objs = await renderChart(["-f", file]);
    expect(objs.some((o) => o.kind === "Secret" && !o.metadata.name.startsWith("jetq-nats-"))).toBe(false);
    const api = envOf(container(find(objs, "Deployment", "jetq-api")));
    expect(api).toMatchObject({ JETQ_ADMIN_KEY: "secret:jetq-admin/key", OPENAI_API_KEY: "secret:llm/token", QDRANT_API_KEY: "secret:qdrant/api-key", OPENAI_BASE_URL: "https://llm.example/v1", JETQ_PRINT_FIRST_ADMIN_KEY: "false" });
    const worker = envOf(container(find(objs, "Deployment", "jetq-worker")));
    expect(worker).toMatchObject({ OPENAI_API_KEY: "secret:llm/token", QDRANT_API_KEY: "secret:qdrant/api-key" });
    expect(worker.JETQ_ADMIN_KEY).toBeUndefined();
    const test = find(objs, "Pod", "jetq-test").spec.containers[0];
    expect(envOf(test).JETQ_API_KEY).toBe("secret:jetq-admin/key");
  });

  it("a separate metrics port moves the API's probes and scrape annotation there", { timeout: T }, async () => {
    const objs = await renderChart(["--set", "api.metricsPort=9090"]);
    const d = find(objs, "Deployment", "jetq-api");
    expect(envOf(container(d)).JETQ_METRICS_PORT).toBe("9090");
    expect(container(d).readinessProbe.httpGet.port).toBe("metrics");
    expect(d.spec.template.metadata.annotations["prometheus.io/port"]).toBe("9090");
  });
});

describe("every setting the programs read is a value", () => {
  // Set by the chart from what only Kubernetes knows, or the operator's in-pod defaults.
  const FROM_KUBERNETES = new Set(["KUBECONFIG", "KUBERNETES_SERVICE_HOST", "POD_NAMESPACE", "JETQ_OPERATOR_ID", "POD_NAME"]);
  const settings = (schema: { shape: object }) => Object.keys(schema.shape).filter((k) => !FROM_KUBERNETES.has(k));

  it("with every value set, each program's Deployment carries each of its settings", { timeout: T }, async () => {
    const file = await valuesFile("everything", {
      config: { logLevel: "debug", maxDeliver: 7, ackWaitMs: 45000, duplicateWindowMs: 60000, finishedTtlSeconds: 3600, dlqMaxAgeSeconds: 86400, pool: "books", defaultTimeoutSeconds: 900, fairShareQueued: 50, tenantMaxQueued: 10000, taskLogLines: 200, taskLogsMaxMb: 256 },
      documents: {
        chunkSize: 800, chunkOverlap: 100, embedBatch: 32, lexicalDimensions: 256,
        openai: { baseUrl: "https://llm.example/v1", apiKeySecret: { name: "llm", key: "k" }, embeddingModel: "m", embeddingDimensions: 768, quizModel: "q", maxRetries: 2 },
        qdrant: { url: "https://q.example", apiKeySecret: { name: "q", key: "k" }, collection: "c" },
        vectorIndex: { minRows: 1000, tailRows: 50, nprobes: 20, refineFactor: 10, bits: 4 },
        sources: { root: "/sources", allowPrivate: true, allowedHosts: ["a.example", "b.example"], maxBytes: 1073741824, timeoutMs: 5000, syncSchedulerMs: 10000 },
        limits: { maxPages: 10, maxCharacters: 11, maxChunks: 12, maxPartBytes: 13, maxInflatedBytes: 14, maxArchiveEntries: 15, maxCompressionRatio: 16, maxPartSeconds: 17 },
        parser: { heapMb: 64, threads: 2 },
      },
      api: { metricsPort: 9090, maxBodyBytes: 2048, maxUploadBytes: 4096, maxUploadFiles: 3, limits: { createsPerWindow: 100, uploadsPerWindow: 10, windowSeconds: 60, maxStoredBytes: 1073741824 }, auth: { adminKeySecret: { name: "a", key: "k" }, cacheTtlMs: 1000, jwt: { jwksUrl: "https://idp.example/jwks", issuer: "i", audience: "a", tenantClaim: "t", roleClaim: "r" } } },
      worker: { concurrency: 8, taskTypes: ["process_book"], priorityWeights: "5,3,1", backoffBaseMs: 10, backoffMaxMs: 20, hardTimeoutGraceMs: 30, shutdownGraceMs: 40000, metricsPort: 9191, progressMinIntervalMs: 50, runningWriteDelayMs: 60 },
      operator: { leaseName: "l", watchNamespaces: ["a", "b"], leaseDurationSeconds: 20, renewDeadlineSeconds: 15, retryPeriodSeconds: 3, resyncMs: 1000, taskConcurrency: 4, prometheusUrl: "http://prom:9090", tenantFromNamespace: false, namespaceTenants: ["team-a=alpha"] },
    });
    const objs = await renderChart(["-f", file]);
    const env = (name: string) => envOf(container(find(objs, "Deployment", name)));
    const api = env("jetq-api");
    const worker = env("jetq-worker");
    const operator = env("jetq-operator");
    const missing = (have: Record<string, string>, want: string[]) => want.filter((k) => !(k in have));
    // JETQ_PRINT_FIRST_ADMIN_KEY is the chart's choice (on when no admin key Secret is named): set here to "false".
    expect(missing(api, [...settings(KERNEL_SETTINGS), ...settings(API_SETTINGS), ...settings(LIBRARY_SETTINGS)])).toEqual([]);
    expect(missing(worker, [...settings(KERNEL_SETTINGS), ...settings(WORKER_SETTINGS), ...settings(LIBRARY_SETTINGS)])).toEqual([]);
    expect(missing(operator, [...settings(KERNEL_SETTINGS), ...settings(OPERATOR_SETTINGS)])).toEqual([]);
    // Large integers stay integers (YAML numbers reach templates as floats).
    expect(api.JETQ_SOURCES_MAX_BYTES).toBe("1073741824");
    expect(worker.JETQ_SOURCES_ALLOWED_HOSTS).toBe("a.example,b.example");
    expect(operator.JETQ_WATCH_NAMESPACES).toBe("a,b");
    expect(operator).toMatchObject({ JETQ_TENANT_FROM_NAMESPACE: "off", JETQ_NAMESPACE_TENANTS: "team-a=alpha" });
    expect(api).toMatchObject({ JETQ_RATE_CREATES: "100", JETQ_TENANT_MAX_BYTES: "1073741824" });
    expect(find(objs, "Deployment", "jetq-worker").spec.template.spec.terminationGracePeriodSeconds).toBe(55);
  });
});

describe("values that break the rules fail at install, naming the value", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["an unknown value", ["--set", "api.replica=2"], /api.*replica/],
    ["a negative concurrency", ["--set", "worker.concurrency=0"], /worker\.concurrency|\/worker\/concurrency/],
    ["a NATS cluster of two", ["--set", "nats.replicas=2"], /nats\.replicas|\/nats\/replicas/],
    ["an inline secret instead of a reference", ["--set", "api.auth.adminKeySecret=jetq_x"], /api\.auth\.adminKeySecret|\/api\/auth\/adminKeySecret/],
    ["a log level that does not exist", ["--set", "config.logLevel=loud"], /config\.logLevel|\/config\/logLevel/],
    ["a JWKS over plain http", ["--set", "api.auth.jwt.jwksUrl=http://idp/jwks"], /api\.auth\.jwt\.jwksUrl|\/api\/auth\/jwt\/jwksUrl/],
    ["a bad external NATS URL", ["--set", "nats.external.url=localhost:4222"], /nats\.external\.url|\/nats\/external\/url/],
  ];
  for (const [what, args, names] of cases) {
    it(what, { timeout: T }, async () => {
      const r = await helm(["template", "jetq", CHART_DIR, ...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
      expect(r.stderr).toMatch(names);
    });
  }

  it("a null shutdown grace means the program's default (30 s), in the env and in the termination grace alike", { timeout: T }, async () => {
    const objs = await renderChart(["--set", "worker.shutdownGraceMs=null"]);
    const w = find(objs, "Deployment", "jetq-worker");
    expect(w.spec.template.spec.terminationGracePeriodSeconds).toBe(45);
    expect(envOf(container(w))).toMatchObject({ JETQ_SHUTDOWN_GRACE_MS: "30000" });
  });

  it("a termination grace not above the shutdown grace", { timeout: T }, async () => {
    const r = await helm(["template", "jetq", CHART_DIR, "--set", "worker.shutdownGraceMs=60000,worker.terminationGracePeriodSeconds=30"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("worker.terminationGracePeriodSeconds (30) must be above worker.shutdownGraceMs (60000 ms)");
  });
});
