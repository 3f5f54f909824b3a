// `npm test`: bootstrap tools, then run vitest. Extra args are passed through,
// e.g. `npm test -- test/unit` or `npm test -- -t "retries"`. A run that includes test/e2e also
// starts the local Kubernetes control plane first and stops it afterwards (scripts/e2e-cluster.mjs).
import { spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureNatsServer, ensureNodeModules, ensurePrometheus } from "./tools.mjs";
import { e2eCluster, runsE2eTests } from "./e2e-cluster.mjs";
import { ensureHelm } from "./tools/helm.mjs";
import { ensureChromium } from "./tools/chromium.mjs";
import { buildWebView } from "./build-web.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
// test/e2e runs against a control plane started here (and stopped on the way out, see exit()).
const cluster = runsE2eTests(args) ? e2eCluster(root) : null;
let child = null;
let exiting = null;

// Ctrl-C reaches vitest itself (same process group); other termination signals are forwarded.
// Before vitest runs, any of them stops what was started and exits.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    if (!child) exit(128 + signalNumber(sig));
    else if (sig !== "SIGINT") child.kill(sig);
  });
}

try {
  ensureNodeModules({ cwd: root });
  // Exported so test/support/nats-server.ts uses exactly this binary.
  process.env.NATS_SERVER_BIN = await ensureNatsServer({});
  // And test/support/prometheus.ts this one (the end-to-end tests' Prometheus).
  process.env.PROMETHEUS_BIN = await ensurePrometheus({});
  process.env.CHROMIUM_BIN = await ensureChromium();
  // The web view the API serves and test/browser drives (skipped when web/dist is fresh).
  await buildWebView({ log: (line) => console.log(`[test] ${line}`) });
  // And test/support/helm.ts this helm (the chart tests; built once with go install).
  process.env.HELM_BIN = await ensureHelm({});
  // And test/support/cluster.ts this cluster.
  if (cluster) process.env.JETQ_TEST_KUBECONFIG = await cluster.start();
} catch (err) {
  console.error(`[test] ${err.message}`);
  await exit(1);
}
if (exiting) await exiting; // a signal came while starting: exit() is stopping everything

child = spawn("npx", ["vitest", "run", ...args], {
  cwd: root,
  stdio: "inherit",
  env: process.env,
});

// Stay alive until vitest has cleaned up, then stop the cluster.
child.on("error", (err) => {
  console.error(`[test] failed to start vitest: ${err.message}`);
  exit(1);
});
child.on("exit", (code, signal) => {
  exit(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1));
});

function exit(code) {
  exiting ??= (async () => {
    if (cluster) await cluster.stop().catch((err) => console.error(`[test] cluster:down failed: ${err.message}`));
    process.exit(code);
  })();
  return exiting;
}

function signalNumber(signal) {
  return { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal];
}
