// What the Dockerfile's image relies on, proven without a container engine: the compiled output plus
// a production-only install (`npm ci --omit=dev`) in a temporary folder starts each of the three
// programs through the image's entrypoint, each answers its health endpoint, nothing is written
// under the install folder (the image runs with a read-only root filesystem), the chart's
// `helm test` script gets one task through, and every metric the Grafana dashboard and the alert
// rules name is exported by the live /metrics of the API, a worker or the operator.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { newApiKey } from "../../api/auth/api-key.js";
import { freePort, startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";
import { REPO_ROOT } from "../support/cluster.js";
import { CHART_DIR } from "../support/helm.js";
import { waitFor } from "../support/wait.js";

const run = promisify(execFile);
const INSTALL_TIMEOUT_MS = 900_000;

let root: string;
let app: string;
let nats: NatsServerHandle;
const children: ChildProcess[] = [];
const logs = new Map<string, string[]>();

/** Every file under a folder with its size and mtime: to show nothing was written there. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = statSync(p);
        out.set(relative(dir, p), `${s.size}:${s.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

function startProgram(name: "api" | "worker" | "operator", env: Record<string, string>): ChildProcess {
  const child = spawn("sh", [join(app, "scripts", "image", "entrypoint.sh"), name], {
    cwd: app,
    // Only what the image's environment has: no dev tools, no tsx loader, NODE_ENV=production.
    env: { PATH: process.env.PATH!, HOME: join(root, "home"), TMPDIR: join(root, "tmp"), NODE_ENV: "production", JETQ_DATA_DIR: join(root, `data-${name}`), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  logs.set(name, lines);
  for (const s of [child.stdout!, child.stderr!]) s.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean).slice(-50)));
  children.push(child);
  return child;
}

async function answers(url: string): Promise<number | false> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.status;
  } catch {
    return false;
  }
}

const ports = { api: 0, worker: 0, operator: 0 };
const adminKey = newApiKey().key;
let before: Map<string, string>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "jetq-image-"));
  app = join(root, "app");
  for (const d of ["app", "home", "tmp"]) mkdirSync(join(root, d), { recursive: true });
  // The Dockerfile's build stage: the compiled output (into the temp folder, not the shared dist/).
  await run(process.execPath, [join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(REPO_ROOT, "tsconfig.build.json"), "--outDir", join(app, "dist"), "--tsBuildInfoFile", join(root, "tsbuildinfo")], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
  // Its deps stage: production dependencies only, from the lockfile.
  for (const f of ["package.json", "package-lock.json"]) copyFileSync(join(REPO_ROOT, f), join(app, f));
  await run("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts=false"], { cwd: app, maxBuffer: 16 << 20, env: { ...process.env, NODE_ENV: "production" } });
  mkdirSync(join(app, "scripts", "image"), { recursive: true });
  copyFileSync(join(REPO_ROOT, "scripts", "image", "entrypoint.sh"), join(app, "scripts", "image", "entrypoint.sh"));
  // And the web view its build stage makes (npm test has built web/dist already).
  cpSync(join(REPO_ROOT, "web", "dist"), join(app, "web", "dist"), { recursive: true });
  before = snapshot(app);

  nats = await startNatsServer();
  ports.api = await freePort();
  ports.worker = await freePort();
  ports.operator = await freePort();
  // A kubeconfig whose cluster does not answer: the operator stands by (retrying the Lease) and
  // still serves its health and metrics, which is what this test needs of it.
  const kubeconfig = join(root, "kubeconfig");
  const nobody = await freePort();
  writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: none, cluster: {server: "https://127.0.0.1:${nobody}", insecure-skip-tls-verify: true}}]\nusers: [{name: none, user: {token: none}}]\ncontexts: [{name: none, context: {cluster: none, user: none}}]\ncurrent-context: none\n`);
  startProgram("api", { NATS_URL: nats.url, HOST: "127.0.0.1", PORT: String(ports.api), JETQ_ADMIN_KEY: adminKey });
  startProgram("worker", { NATS_URL: nats.url, JETQ_WORKER_METRICS_PORT: String(ports.worker), JETQ_WORKER_ID: "image-worker-0" });
  startProgram("operator", { NATS_URL: nats.url, KUBECONFIG: kubeconfig, JETQ_OPERATOR_PORT: String(ports.operator), JETQ_OPERATOR_HOST: "127.0.0.1", JETQ_OPERATOR_NAMESPACE: "jetq" });
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : undefined)));
  await nats?.stop();
  if (root) await rm(root, { recursive: true, force: true });
}, 60_000);

const tail = (name: string) => (logs.get(name) ?? []).slice(-20).join("\n");

describe("a production-only install of the built output", () => {
  it("starts the API, which answers /healthz and /readyz", { timeout: 90_000 }, async () => {
    await waitFor(`api /readyz (log:\n${tail("api")})`, async () => (await answers(`http://127.0.0.1:${ports.api}/readyz`)) === 200, 60_000, 250);
    expect(await answers(`http://127.0.0.1:${ports.api}/healthz`)).toBe(200);
    // The web view is in the image: its page is served, not "not built".
    const page = await fetch(`http://127.0.0.1:${ports.api}/ui/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<script type="module"[^>]*src="\/ui\/assets\//);
  });

  it("starts a worker, which answers /healthz", { timeout: 90_000 }, async () => {
    await waitFor(`worker /healthz (log:\n${tail("worker")})`, async () => (await answers(`http://127.0.0.1:${ports.worker}/healthz`)) === 200, 60_000, 250);
  });

  it("starts the operator, which answers /healthz and /readyz", { timeout: 90_000 }, async () => {
    await waitFor(`operator /readyz (log:\n${tail("operator")})`, async () => (await answers(`http://127.0.0.1:${ports.operator}/readyz`)) === 200, 60_000, 250);
    expect(await answers(`http://127.0.0.1:${ports.operator}/healthz`)).toBe(200);
  });

  it("runs a task end to end with the chart's helm test script", { timeout: 120_000 }, async () => {
    const { stdout } = await run(process.execPath, [join(CHART_DIR, "files", "helm-test.mjs")], {
      env: { PATH: process.env.PATH!, JETQ_URL: `http://127.0.0.1:${ports.api}`, JETQ_API_KEY: adminKey, JETQ_AUTH_ON: "true", JETQ_TEST_TIMEOUT_S: "60" },
    });
    expect(stdout).toMatch(/task \S+ succeeded after 1 attempt/);
  });

  it("the helm test script fails, saying why, without a key", { timeout: 60_000 }, async () => {
    const r = await run(process.execPath, [join(CHART_DIR, "files", "helm-test.mjs")], { env: { PATH: process.env.PATH!, JETQ_URL: `http://127.0.0.1:${ports.api}`, JETQ_AUTH_ON: "true" } }).then(
      () => ({ code: 0, stderr: "" }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("set api.auth.adminKeySecret");
  });

  it("exports every metric the Grafana dashboard and the alert rules name", { timeout: 120_000 }, async () => {
    const exported = new Set<string>();
    for (const [name, port] of Object.entries(ports)) {
      const text = await waitFor(`${name} /metrics (log:\n${tail(name)})`, () => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => (r.ok ? r.text() : undefined), () => undefined), 60_000, 250);
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        exported.add(m[1]!);
        if (m[2] === "histogram") for (const s of ["_bucket", "_count", "_sum"]) exported.add(m[1]! + s);
      }
    }
    const dashboard = JSON.parse(readFileSync(join(CHART_DIR, "files", "grafana-dashboard.json"), "utf8")) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
    const rules = parse(readFileSync(join(CHART_DIR, "files", "alert-rules.yaml"), "utf8")) as { groups: Array<{ rules: Array<{ expr: string }> }> };
    const exprs = [...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr))];
    const named = new Set(exprs.flatMap((e) => [...e.matchAll(/\bjetq_[a-z0-9_]+/g)].map((m) => m[0])));
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((n) => !exported.has(n))).toEqual([]);
    // And no other metric (a kube-state-metrics or exporter name would need more than jetq installs).
    const otherMetrics = exprs.flatMap((e) => [...e.replace(/"[^"]*"/g, "").matchAll(/\b([a-z_:][a-z0-9_:]*)\s*(\{|\[)/g)].map((m) => m[1]!)).filter((n) => !n.startsWith("jetq_") && !n.startsWith("jetq:"));
    expect(otherMetrics).toEqual([]);
  });

  it("wrote nothing under the install folder (a read-only root filesystem suffices)", () => {
    expect(snapshot(app)).toEqual(before);
  });
});
