// `npm run cluster:up`: the project's own local Kubernetes control plane. Builds the binaries once
// (build.mjs), then starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
// detached on 127.0.0.1 (each on a free port), creates the fake node(s), waits until the cluster can
// run a Deployment and prints the kubeconfig path as its last line. Data, logs, pid files and the
// kubeconfig live in <JETQ_DATA_DIR>/cluster. Idempotent: while the cluster runs, it changes nothing
// and prints the same path. A cluster found half-running is stopped and started afresh (empty).
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { ensureClusterBinaries } from "./build.mjs";
import {
  apiServerArgs,
  certDirFor,
  controllerManagerArgs,
  etcdArgs,
  fakeNode,
  kwokArgs,
  schedulerArgs,
} from "./components.mjs";
import { ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION, loadClusterConfig } from "./config.mjs";
import { kubeApiClient } from "./kube-api.mjs";
import { writeKubeconfig } from "./kubeconfig.mjs";
import { withLock } from "./lock.mjs";
import { createPki } from "./pki.mjs";
import { COMPONENT_ORDER, isComponentRunning, logTail, recordedComponents, startDetached, stopAll } from "./processes.mjs";

// A second `up` waits this long for one that is still building (a cold build is ~30 minutes of CPU).
const LOCK_WAIT_MS = 3 * 60 * 60 * 1000;

const log = (message) => console.error(`[cluster:up] ${message}`);

function stateFile(config) {
  return join(config.clusterDir, "state.json");
}

function adminClient(config, server) {
  const pki = join(config.clusterDir, "pki");
  return kubeApiClient({
    server,
    caFile: join(pki, "ca.crt"),
    certFile: join(pki, "client-admin.crt"),
    keyFile: join(pki, "client-admin.key"),
  });
}

async function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolvePromise(address.port) : reject(new Error("no free port"))));
    });
  });
}

async function readyz(client) {
  try {
    const { status, body } = await client.call("GET", "/readyz");
    return status === 200 && String(body).trim() === "ok";
  } catch {
    return false;
  }
}

// Every component alive, as recorded, and the API server ready: nothing to do.
async function runningCluster(config) {
  if (!existsSync(stateFile(config)) || !existsSync(config.kubeconfig)) return false;
  const components = recordedComponents(config.clusterDir);
  if (!COMPONENT_ORDER.every((name) => components.some((c) => c.name === name && c.running))) return false;
  const { apiServer } = JSON.parse(readFileSync(stateFile(config), "utf8"));
  return readyz(adminClient(config, apiServer));
}

/** Polls `check` until it returns a truthy value; fails early when `component` dies, with its log. */
async function waitFor(config, what, component, check, deadline) {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value) {
      log(`${what} after ${((Date.now() - started) / 1000).toFixed(1)}s`);
      return value;
    }
    if (component && !isComponentRunning(config.clusterDir, component)) {
      throw new Error(`${component} exited while waiting for: ${what}\n${logTail(config.clusterDir, component)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for: ${what} (JETQ_CLUSTER_READY_TIMEOUT_S)` + (component ? `\n${logTail(config.clusterDir, component)}` : ""),
      );
    }
    await sleep(200);
  }
}

async function etcdHealthy(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
    return res.ok && (await res.json()).health === "true";
  } catch {
    return false;
  }
}

async function startCluster(config, { binaries, stagesFile }) {
  const dir = config.clusterDir;
  const started = Date.now();
  const deadline = started + config.readyTimeoutMs;
  // A fresh cluster each time: old etcd data would name the old ports and certificates.
  for (const sub of ["etcd", "pki", "kubeconfigs", "logs"]) rmSync(join(dir, sub), { recursive: true, force: true });
  rmSync(stateFile(config), { force: true });
  rmSync(config.kubeconfig, { force: true });
  mkdirSync(join(dir, "kubeconfigs"), { recursive: true, mode: 0o700 });

  const pki = await createPki(join(dir, "pki"));
  const ports = {
    etcdClient: await freePort(),
    etcdPeer: await freePort(),
    apiServer: await freePort(),
    controllerManager: await freePort(),
    scheduler: await freePort(),
  };
  const apiServer = `https://127.0.0.1:${ports.apiServer}`;

  startDetached(dir, "etcd", binaries.etcd, etcdArgs({ dataDir: join(dir, "etcd"), clientPort: ports.etcdClient, peerPort: ports.etcdPeer }));
  await waitFor(config, "etcd healthy", "etcd", () => etcdHealthy(ports.etcdClient), deadline);

  startDetached(dir, "kube-apiserver", binaries["kube-apiserver"], apiServerArgs({ etcdClientPort: ports.etcdClient, port: ports.apiServer, pki }));
  const admin = writeKubeconfig(config.kubeconfig, {
    server: apiServer,
    caFile: pki.ca.cert,
    certFile: pki.clients.admin.cert,
    keyFile: pki.clients.admin.key,
    user: "jetq-admin",
    embed: true,
  });
  const client = adminClient(config, apiServer);
  await waitFor(config, "kube-apiserver /readyz ok", "kube-apiserver", () => readyz(client), deadline);

  const componentKubeconfig = (name) =>
    writeKubeconfig(join(dir, "kubeconfigs", `${name}.kubeconfig`), {
      server: apiServer,
      caFile: pki.ca.cert,
      certFile: pki.clients[name].cert,
      keyFile: pki.clients[name].key,
      user: name,
    });
  startDetached(
    dir,
    "kube-controller-manager",
    binaries["kube-controller-manager"],
    controllerManagerArgs({
      kubeconfig: componentKubeconfig("kube-controller-manager"),
      port: ports.controllerManager,
      pki,
      certDir: certDirFor(dir, "kube-controller-manager"),
    }),
  );
  startDetached(
    dir,
    "kube-scheduler",
    binaries["kube-scheduler"],
    schedulerArgs({ kubeconfig: componentKubeconfig("kube-scheduler"), port: ports.scheduler, certDir: certDirFor(dir, "kube-scheduler") }),
  );
  startDetached(dir, "kwok", binaries.kwok, kwokArgs({ kubeconfig: componentKubeconfig("kwok"), stagesFile }));

  const nodeNames = Array.from({ length: config.fakeNodes }, (_, i) => `jetq-node-${i + 1}`);
  for (const name of nodeNames) {
    const { status, body } = await client.call("POST", "/api/v1/nodes", fakeNode(name));
    if (status !== 201 && status !== 409) throw new Error(`creating node ${name}: HTTP ${status} ${JSON.stringify(body)}`);
  }
  const nodeReady = async (name) => {
    const { status, body } = await client.call("GET", `/api/v1/nodes/${name}`);
    return status === 200 && (body.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
  };
  for (const name of nodeNames) {
    await waitFor(config, `node ${name} Ready`, "kwok", () => nodeReady(name), deadline);
  }
  // Pods cannot be created in a namespace before its `default` ServiceAccount exists.
  await waitFor(
    config,
    "ServiceAccount default/default",
    "kube-controller-manager",
    async () => (await client.call("GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200,
    deadline,
  );
  // Both must be alive (their start is not otherwise waited for).
  for (const name of ["kube-scheduler", "kwok"]) {
    if (!isComponentRunning(dir, name)) throw new Error(`${name} exited\n${logTail(dir, name)}`);
  }

  const state = {
    apiServer,
    ports,
    nodes: nodeNames,
    versions: { kubernetes: KUBERNETES_VERSION, etcd: ETCD_VERSION, kwok: KWOK_VERSION },
    binaries,
    startedAt: new Date(started).toISOString(),
  };
  writeFileSync(stateFile(config), JSON.stringify(state, null, 2) + "\n");
  log(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${apiServer} (logs in ${join(dir, "logs")})`);
  log(`try: KUBECONFIG=${config.kubeconfig} ${binaries.kubectl} get nodes`);
  return admin;
}

export async function clusterUp(config = loadClusterConfig()) {
  return withLock(
    join(config.clusterDir, ".lock"),
    LOCK_WAIT_MS,
    async () => {
      if (await runningCluster(config)) {
        log("already running");
        return config.kubeconfig;
      }
      const leftovers = await stopAll(config.clusterDir, { log });
      if (leftovers.length > 0) log(`stopped what was left of an earlier cluster: ${leftovers.join(", ")}`);
      const built = await ensureClusterBinaries(config, { log: (message) => console.error(`[cluster:build] ${message}`) });
      try {
        return await startCluster(config, built);
      } catch (err) {
        await stopAll(config.clusterDir, { log });
        throw err;
      }
    },
    log,
  );
}

const isMain = process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (isMain) {
  try {
    console.log(await clusterUp());
  } catch (err) {
    log(err.message);
    process.exit(1);
  }
}
