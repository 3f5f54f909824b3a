// jetq's CRDs and RBAC on the real local control plane: the API server itself refuses invalid
// objects with the message a user sees from kubectl, fills in the defaults, prints the columns,
// knows the short names; the operator's ServiceAccount may do what the operator needs and no more;
// the samples in examples/ are valid objects with payloads the kernel accepts.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { TaskQueue } from "../../kernel/task-queue.js";
import { documentTaskTypes } from "../../library/task-types.js";
import { CLUSTER_HOOK_TIMEOUT_MS, createTestNamespace, installCrds, REPO_ROOT, useCluster, type KubectlResult, type TestCluster } from "../support/cluster.js";

const OPERATOR = "system:serviceaccount:jetq-system:jetq-operator";
const EXAMPLES_DIR = join(REPO_ROOT, "examples");

let cluster: TestCluster;
let ns: { name: string; remove(): Promise<void> };

beforeAll(async () => {
  cluster = await useCluster();
  await installCrds(cluster);
  ns = await createTestNamespace(cluster.kc, "crds");
}, CLUSTER_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await ns?.remove();
});

const kubectl = (...args: string[]) => cluster.kubectl(["-n", ns.name, ...args]);
const apply = (manifest: string) => cluster.kubectl(["apply", "-n", ns.name, "-f", "-"], manifest);

function ok(r: KubectlResult): string {
  if (r.code !== 0) throw new Error(`kubectl failed (exit ${r.code}): ${r.stderr}`);
  return r.stdout;
}

function refused(r: KubectlResult): string {
  expect(r.code, `expected a refusal, got: ${r.stdout}`).not.toBe(0);
  return r.stderr;
}

const task = (name: string, spec: string) => `apiVersion: jetq.io/v1alpha1\nkind: ProcessingTask\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
const pool = (name: string, spec: string) => `apiVersion: jetq.io/v1alpha1\nkind: WorkerPool\nmetadata: {name: ${name}}\nspec: ${spec}\n`;

async function getJson<T = any>(kind: string, name: string): Promise<T> {
  return JSON.parse(ok(await kubectl("get", kind, name, "-o", "json"))) as T;
}

/** `kubectl get` as a table: the header's column names and each row's cells by column name. */
function table(output: string): { columns: string[]; rows: Array<Record<string, string>> } {
  const [header, ...lines] = output.trimEnd().split("\n");
  const starts = [...header!.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], at: m.index! }));
  const rows = lines.map((line) =>
    Object.fromEntries(starts.map((c, i) => [c.name, line.slice(c.at, starts[i + 1]?.at ?? line.length).trim()])),
  );
  return { columns: starts.map((c) => c.name), rows };
}

describe("ProcessingTask", () => {
  it("is refused by the API server with an unknown type, a bad priority, a missing payload or out-of-range limits", async () => {
    expect(refused(await apply(task("bad-type", "{type: resize_image, payload: {}}")))).toContain(
      'spec.type: Unsupported value: "resize_image": supported values: "process_book", "generate_embeddings", "sync_sources", "create_quiz"',
    );
    expect(refused(await apply(task("bad-priority", "{type: sync_sources, payload: {}, priority: urgent}")))).toContain(
      'spec.priority: Unsupported value: "urgent": supported values: "high", "normal", "low"',
    );
    expect(refused(await apply(task("no-payload", "{type: sync_sources}")))).toContain("spec.payload: Required value");
    expect(refused(await apply(task("list-payload", "{type: sync_sources, payload: [1]}")))).toContain("spec.payload in body must be of type object");
    const limits = refused(await apply(task("bad-limits", "{type: sync_sources, payload: {}, maxAttempts: 101, timeoutSeconds: 0}")));
    expect(limits).toContain("spec.maxAttempts: Invalid value: 101: spec.maxAttempts in body should be less than or equal to 100");
    expect(limits).toContain("spec.timeoutSeconds: Invalid value: 0: spec.timeoutSeconds in body should be greater than or equal to 1");
    expect(refused(await apply(`apiVersion: jetq.io/v1alpha1\nkind: ProcessingTask\nmetadata: {name: no-spec}\n`))).toContain("spec: Required value");
    // None of them was stored.
    expect(ok(await kubectl("get", "processingtasks", "-o", "name"))).not.toMatch(/bad-|no-|list-payload/);
  });

  it("keeps its spec immutable but lets metadata and status change", async () => {
    ok(await apply(task("immutable", "{type: create_quiz, payload: {bookId: 3f2b8c4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f, questionCount: 5}}")));
    const changes = [
      task("immutable", "{type: create_quiz, payload: {bookId: 3f2b8c4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f, questionCount: 6}}"),
      task("immutable", "{type: create_quiz, payload: {bookId: 3f2b8c4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f, questionCount: 5}, priority: high}"),
      task("immutable", "{type: sync_sources, payload: {}}"),
    ];
    for (const changed of changes) {
      expect(refused(await apply(changed))).toContain("spec: Invalid value: spec is immutable; delete this ProcessingTask and create a new one");
    }
    // The same spec again is no change at all.
    expect(ok(await apply(task("immutable", "{type: create_quiz, payload: {bookId: 3f2b8c4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f, questionCount: 5}}")))).toContain("unchanged");
    ok(await kubectl("label", "processingtask", "immutable", "team=books"));
    ok(await kubectl("patch", "processingtask", "immutable", "--type=merge", "-p", JSON.stringify({ metadata: { finalizers: ["jetq.io/cancel-task"] } })));
    ok(await kubectl("patch", "processingtask", "immutable", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: { phase: "Queued", taskId: "t-1" } })));
    const stored = await getJson("processingtask", "immutable");
    expect(stored.spec).toEqual({ type: "create_quiz", priority: "normal", payload: { bookId: "3f2b8c4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f", questionCount: 5 } });
    expect(stored.metadata.labels).toEqual({ team: "books" });
    expect(stored.status).toEqual({ phase: "Queued", taskId: "t-1" });
    ok(await kubectl("patch", "processingtask", "immutable", "--type=merge", "-p", JSON.stringify({ metadata: { finalizers: null } })));
  });

  it("gets the default priority, keeps its payload as given, and refuses a bad status phase", async () => {
    ok(await apply(task("defaults", "{type: process_book, payload: {bookId: 3f2b8c4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f, extra: {nested: [1, two]}}}")));
    const stored = await getJson("ptask", "defaults");
    expect(stored.spec).toEqual({ type: "process_book", priority: "normal", payload: { bookId: "3f2b8c4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f", extra: { nested: [1, "two"] } } });
    expect(stored.spec).not.toHaveProperty("maxAttempts"); // the task type's default applies, decided by the operator
    expect(refused(await kubectl("patch", "ptask", "defaults", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: { phase: "Done" } })))).toContain(
      'status.phase: Unsupported value: "Done": supported values: "Pending", "Queued", "Running", "Retrying", "Succeeded", "Failed", "Cancelled"',
    );
  });

  it("shows type, priority, phase, progress, attempts and age in kubectl get, under its short name and the jetq category", async () => {
    ok(await apply(task("columns", "{type: sync_sources, payload: {}, priority: low}")));
    ok(await kubectl("patch", "ptask", "columns", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: { phase: "Running", progress: { percent: 42.5, message: "syncing" }, attempts: 2, taskId: "3b0c5e1e-0000-4000-8000-000000000001" } })));
    for (const name of ["ptask", "processingtask", "processingtasks", "processingtasks.jetq.io"]) {
      const { columns, rows } = table(ok(await kubectl("get", name, "columns")));
      expect(columns).toEqual(["NAME", "TYPE", "PRIORITY", "PHASE", "PROGRESS", "ATTEMPTS", "AGE"]);
      expect(rows[0]).toMatchObject({ NAME: "columns", TYPE: "sync_sources", PRIORITY: "low", PHASE: "Running", PROGRESS: "42.5", ATTEMPTS: "2" });
      expect(rows[0]!.AGE).toMatch(/^\d+s$/);
    }
    const wide = table(ok(await kubectl("get", "ptask", "columns", "-o", "wide")));
    expect(wide.columns).toEqual(["NAME", "TYPE", "PRIORITY", "PHASE", "PROGRESS", "ATTEMPTS", "AGE", "TASK ID", "ERROR"]);
    expect(wide.rows[0]!["TASK ID"]).toBe("3b0c5e1e-0000-4000-8000-000000000001");
    expect(ok(await kubectl("get", "jetq"))).toContain("processingtask.jetq.io/columns");
  });

  it("stores the status the operator writes: any result, the error, times and metav1 conditions", async () => {
    ok(await apply(task("finished", "{type: sync_sources, payload: {}}")));
    const at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const status = {
      phase: "Failed",
      taskId: "3b0c5e1e-0000-4000-8000-000000000002",
      attempts: 1,
      progress: { percent: 100, message: "done" },
      result: { sources: { a: { added: 1, nested: [true, null, "x"] } } },
      error: "upload_not_found: no uploaded file for book 00000000-0000-4000-8000-000000000404",
      startTime: at,
      completionTime: at,
      observedGeneration: 1,
      conditions: [{ type: "Ready", status: "False", reason: "TaskFailed", message: "the task failed", lastTransitionTime: at, observedGeneration: 1 }],
    };
    ok(await kubectl("patch", "ptask", "finished", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status })));
    expect((await getJson("ptask", "finished")).status).toEqual(status);
    ok(await kubectl("patch", "ptask", "finished", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: { result: "a plain string" } })));
    expect((await getJson("ptask", "finished")).status.result).toBe("a plain string");
    expect(table(ok(await kubectl("get", "ptask", "finished", "-o", "wide"))).rows[0]!.ERROR).toBe(status.error);
  });
});

describe("WorkerPool", () => {
  it("is refused when minReplicas exceeds maxReplicas, on create and on update", async () => {
    const message = "spec.minReplicas: Invalid value: minReplicas must be less than or equal to maxReplicas";
    expect(refused(await apply(pool("inverted", "{deploymentName: w, taskTypes: [sync_sources], minReplicas: 4, maxReplicas: 3}")))).toContain(message);
    ok(await apply(pool("narrowed", "{deploymentName: w, taskTypes: [sync_sources], minReplicas: 1, maxReplicas: 3}")));
    expect(refused(await kubectl("patch", "wpool", "narrowed", "--type=merge", "-p", JSON.stringify({ spec: { maxReplicas: 0 } })))).toContain(
      "spec.maxReplicas: Invalid value: 0: spec.maxReplicas in body should be greater than or equal to 1",
    );
    expect(refused(await kubectl("patch", "wpool", "narrowed", "--type=merge", "-p", JSON.stringify({ spec: { minReplicas: 5 } })))).toContain(message);
    expect((await getJson("wpool", "narrowed")).spec).toMatchObject({ minReplicas: 1, maxReplicas: 3 });
  });

  it("is refused with unknown or repeated task types, a bad deployment name, a non-HTTP Prometheus URL or missing fields", async () => {
    const bad = refused(await apply(pool("bad", "{deploymentName: Not_A_Name, taskTypes: [sync_sources, resize_image, sync_sources], maxReplicas: 2, prometheus: {url: 'ftp://prom'}}")));
    expect(bad).toContain('spec.taskTypes[1]: Unsupported value: "resize_image"');
    expect(bad).toContain('spec.taskTypes[2]: Duplicate value: "sync_sources"');
    expect(bad).toContain('spec.deploymentName: Invalid value: "Not_A_Name"');
    expect(bad).toContain('spec.prometheus.url: Invalid value: "ftp://prom"');
    const missing = refused(await apply(pool("empty", "{taskTypes: []}")));
    expect(missing).toContain("spec.deploymentName: Required value");
    expect(missing).toContain("spec.maxReplicas: Required value");
    expect(missing).toContain("spec.taskTypes: Invalid value: 0: spec.taskTypes in body should have at least 1 items");
  });

  it("gets its defaults", async () => {
    ok(await apply(pool("defaults", "{deploymentName: jetq-worker, taskTypes: [process_book], maxReplicas: 4}")));
    expect((await getJson("wpool", "defaults")).spec).toEqual({
      deploymentName: "jetq-worker",
      taskTypes: ["process_book"],
      minReplicas: 0,
      maxReplicas: 4,
      targetBacklogPerReplica: 10,
      activationBacklog: 0,
      pollingIntervalSeconds: 5,
      scaleUp: { stabilizationWindowSeconds: 0 },
      scaleDown: { stabilizationWindowSeconds: 300 },
    });
  });

  it("shows deployment, min, max, depth, desired, current, source and age in kubectl get, under its short name and the jetq category", async () => {
    ok(await apply(pool("columns", "{deploymentName: jetq-worker, taskTypes: [sync_sources, create_quiz], minReplicas: 1, maxReplicas: 8}")));
    const status = { observedDepth: 57, desiredReplicas: 6, currentReplicas: 2, depthSource: "jetstream", lastScaleTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") };
    ok(await kubectl("patch", "wpool", "columns", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status })));
    for (const name of ["wpool", "workerpool", "workerpools.jetq.io"]) {
      const { columns, rows } = table(ok(await kubectl("get", name, "columns")));
      expect(columns).toEqual(["NAME", "DEPLOYMENT", "MIN", "MAX", "DEPTH", "DESIRED", "CURRENT", "SOURCE", "AGE"]);
      expect(rows[0]).toMatchObject({ NAME: "columns", DEPLOYMENT: "jetq-worker", MIN: "1", MAX: "8", DEPTH: "57", DESIRED: "6", CURRENT: "2", SOURCE: "jetstream" });
    }
    expect(table(ok(await kubectl("get", "wpool", "columns", "-o", "wide"))).rows[0]!["TASK TYPES"]).toBe('["sync_sources","create_quiz"]');
    expect(refused(await kubectl("patch", "wpool", "columns", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: { depthSource: "guess" } })))).toContain(
      'status.depthSource: Unsupported value: "guess": supported values: "prometheus", "jetstream"',
    );
    expect(ok(await kubectl("get", "jetq"))).toContain("workerpool.jetq.io/columns");
  });
});

describe("the operator's RBAC", () => {
  beforeAll(async () => {
    ok(await cluster.kubectl(["apply", "--server-side", "--field-manager=jetq-tests", "--force-conflicts", "-f", join(REPO_ROOT, "crds", "rbac")]));
  });

  const canI = async (...args: string[]) => {
    const r = await cluster.kubectl(["auth", "can-i", `--as=${OPERATOR}`, ...args]);
    return r.stdout.trim() || r.stderr.trim();
  };

  const allowed = [
    ["list", "processingtasks.jetq.io", "-A"],
    ["watch", "processingtasks.jetq.io", "-A"],
    ["patch", "processingtasks.jetq.io", "-n", "anywhere"],
    ["update", "processingtasks.jetq.io", "-n", "anywhere"],
    ["patch", "processingtasks.jetq.io", "--subresource=status", "-n", "anywhere"],
    ["update", "processingtasks.jetq.io", "--subresource=finalizers", "-n", "anywhere"],
    ["watch", "workerpools.jetq.io", "-A"],
    ["patch", "workerpools.jetq.io", "--subresource=status", "-n", "anywhere"],
    ["watch", "deployments.apps", "-A"],
    ["get", "deployments.apps", "--subresource=scale", "-n", "anywhere"],
    ["patch", "deployments.apps", "--subresource=scale", "-n", "anywhere"],
    ["list", "pods", "-A"],
    ["patch", "pods", "-n", "anywhere"],
    ["create", "events", "-n", "anywhere"],
    ["patch", "events", "-n", "anywhere"],
    ["get", "leases.coordination.k8s.io", "-n", "jetq-system"],
    ["create", "leases.coordination.k8s.io", "-n", "jetq-system"],
    ["update", "leases.coordination.k8s.io", "-n", "jetq-system"],
  ];
  const denied = [
    ["delete", "deployments.apps", "-n", "anywhere"],
    ["create", "deployments.apps", "-n", "anywhere"],
    ["patch", "deployments.apps", "-n", "anywhere"],
    ["create", "pods", "-n", "anywhere"],
    ["delete", "pods", "-n", "anywhere"],
    ["get", "secrets", "-n", "jetq-system"],
    ["list", "secrets", "-A"],
    ["list", "configmaps", "-A"],
    ["create", "processingtasks.jetq.io", "-n", "anywhere"],
    ["delete", "processingtasks.jetq.io", "-n", "anywhere"],
    ["delete", "workerpools.jetq.io", "-n", "anywhere"],
    ["create", "leases.coordination.k8s.io", "-n", "default"],
    ["delete", "leases.coordination.k8s.io", "-n", "jetq-system"],
    ["create", "customresourcedefinitions.apiextensions.k8s.io"],
    ["create", "clusterrolebindings.rbac.authorization.k8s.io"],
  ];

  it.each(allowed.map((args) => args.join(" ")))("lets the operator: kubectl auth can-i %s", async (args) => {
    expect(await canI(...args.split(" "))).toBe("yes");
  });

  it.each(denied.map((args) => args.join(" ")))("does not let the operator: kubectl auth can-i %s", async (args) => {
    expect(await canI(...args.split(" "))).toBe("no");
  });

  it("holds for real requests made as the operator", async () => {
    ok(await apply(pool("rbac", "{deploymentName: jetq-worker, taskTypes: [sync_sources], maxReplicas: 2}")));
    const as = [`--as=${OPERATOR}`, "-n", ns.name];
    expect(ok(await cluster.kubectl(["get", "wpool", "rbac", "-o", "name", ...as])).trim()).toBe("workerpool.jetq.io/rbac");
    ok(await cluster.kubectl(["patch", "wpool", "rbac", "--subresource=status", "--type=merge", "-p", '{"status":{"observedDepth":3}}', ...as]));
    expect(refused(await cluster.kubectl(["delete", "wpool", "rbac", ...as]))).toContain(
      `User "${OPERATOR}" cannot delete resource "workerpools" in API group "jetq.io" in the namespace "${ns.name}"`,
    );
    expect(refused(await cluster.kubectl(["get", "secrets", ...as]))).toContain(`User "${OPERATOR}" cannot list resource "secrets"`);
  });
});

describe("examples/", () => {
  const BOOK_ID = "6f1d2c3b-4a5e-4f60-8172-93a4b5c6d7e8";
  const files = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith(".yaml")).sort();
  const manifest = (file: string) => readFileSync(join(EXAMPLES_DIR, file), "utf8").replaceAll("${BOOK_ID}", BOOK_ID);

  it("has a ProcessingTask for every task type, a failing one, a WorkerPool and its Deployment", () => {
    expect(files).toEqual(["create-quiz.yaml", "failing-task.yaml", "generate-embeddings.yaml", "process-book.yaml", "sync-sources.yaml", "worker-deployment.yaml", "worker-pool.yaml"]);
  });

  it.each(files)("%s is accepted by the API server", async (file) => {
    const r = await cluster.kubectl(["apply", "--dry-run=server", "-n", ns.name, "-f", "-"], manifest(file));
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/ created \(server dry run\)\n$/);
  });

  it("holds ProcessingTasks whose specs the kernel accepts as task requests", () => {
    // validate() is the REST API's and the operator's check; it needs no connection.
    const queue = new TaskQueue(null as never, documentTaskTypes(), { defaultTimeoutSeconds: 600, maxDeliver: 5 });
    const specs = files
      .flatMap((file) => parseAllDocuments(manifest(file)).map((d) => d.toJS() as { kind: string; spec: Record<string, unknown> }))
      .filter((doc) => doc.kind === "ProcessingTask")
      .map((doc) => doc.spec);
    expect(new Set(specs.map((s) => s.type))).toEqual(new Set(documentTaskTypes().names()));
    for (const spec of specs) expect(() => queue.validate(spec)).not.toThrow();
  });
});
