// Starts a throw-away JetStream cluster on loopback for tests and benchmarks: N nats-server
// processes (3 by default) joined by routes, each with its own client, route and monitoring port
// and its own file store. Single nodes can be killed (SIGKILL), stopped and started again with
// the same ports and store, as a crashed or rescheduled pod would be. The monitoring endpoint
// (/jsz) says who leads the meta group and each stream, which is how a test finds the node to kill.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { cleanUpOnExit, forgetOnExit, freePort, natsServerBin, serverEnv } from "./nats-server.js";

export interface ClusterNode {
  /** The node's server_name, as stream info's cluster.leader and replicas name it. */
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly routePort: number;
  readonly monitorUrl: string;
  readonly storeDir: string;
  readonly running: boolean;
  /** SIGKILL: no goodbye to the peers, as a crashed host or an OOM-killed pod. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** Starts the node again (same ports, same store) and waits until it answers. */
  start(): Promise<void>;
}

export interface NatsClusterHandle {
  readonly name: string;
  readonly nodes: readonly ClusterNode[];
  /** Every node's client URL, comma-separated: what NATS_URL takes. */
  readonly url: string;
  node(name: string): ClusterNode;
  /** The meta group's leader as a running node sees it, or null while there is none. */
  metaLeader(): Promise<ClusterNode | null>;
  waitForMetaLeader(timeoutMs?: number): Promise<ClusterNode>;
  /** The leader of a stream (a KV bucket's is `KV_<bucket>`) and its replicas, as a running node reports them. */
  streamCluster(stream: string): Promise<{ leader: ClusterNode | null; replicas: string[] } | null>;
  waitForStreamLeader(stream: string, timeoutMs?: number, notOn?: string): Promise<ClusterNode>;
  /**
   * Makes `node` the leader of a stream (or of one of its consumers): a leader step-down that
   * names it as the preferred successor, then waits until it leads. A test kills the node that
   * leads what it cares about instead of hoping the election put it there.
   */
  moveLeader(node: ClusterNode, stream: string, consumer?: string): Promise<void>;
  /** The names of the client connections a node holds (each client's `name` option). */
  clientsOn(node: ClusterNode): Promise<string[]>;
  /** Until every running node says it is healthy (/healthz: JetStream current, streams caught up). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  size?: number;
  /** Prefix of the server names (`<prefix>-1`, …). */
  namePrefix?: string;
}

const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const LOG_TAIL_CHARS = 4_000;
const POLL_MS = 100;

const isRunning = (p: ChildProcess | undefined): boolean => !!p && p.exitCode === null && p.signalCode === null;

// Orphan protection (a test that forgets stop(), a vitest fork ended with SIGTERM): the servers
// and the store folder are registered with kit/nats-server.ts's exit hooks.

async function getJson(url: string, timeoutMs = 2_000): Promise<any> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

interface NodePorts {
  name: string;
  port: number;
  routePort: number;
  monitorPort: number;
  dir: string;
}

function configText(node: NodePorts, clusterName: string, all: NodePorts[]): string {
  const routes = all.filter((n) => n !== node).map((n) => `    nats-route://127.0.0.1:${n.routePort}`);
  return [
    `server_name: ${JSON.stringify(node.name)}`,
    `listen: "127.0.0.1:${node.port}"`,
    `http: "127.0.0.1:${node.monitorPort}"`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(join(node.dir, "store"))}`,
    `}`,
    `cluster {`,
    `  name: ${JSON.stringify(clusterName)}`,
    `  listen: "127.0.0.1:${node.routePort}"`,
    `  routes: [`,
    ...routes,
    `  ]`,
    `}`,
    "",
  ].join("\n");
}

export async function startNatsCluster(opts: ClusterOptions = {}): Promise<NatsClusterHandle> {
  const bin = natsServerBin();
  const size = opts.size ?? 3;
  if (size < 1) throw new Error("a cluster needs at least one node");
  const root = await mkdtemp(join(tmpdir(), "jetq-nats-cluster-"));
  cleanUpOnExit(undefined, root);
  const clusterName = `jetq-test-${process.pid}-${Date.now().toString(36)}`;
  const prefix = opts.namePrefix ?? "n";

  const ports: NodePorts[] = [];
  const taken = new Set<number>();
  const fresh = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) return taken.add(p), p;
    }
  };
  for (let i = 1; i <= size; i++) {
    ports.push({ name: `${prefix}-${i}`, port: await fresh(), routePort: await fresh(), monitorPort: await fresh(), dir: join(root, `${prefix}-${i}`) });
  }

  const nodes = ports.map((p) => makeNode(bin, p, configText(p, clusterName, ports)));
  // All at once: the meta group has no leader until a majority is up.
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (err) {
    await Promise.allSettled(nodes.map((n) => n.kill()));
    throw err;
  }

  const byName = new Map(nodes.map((n) => [n.name, n]));
  const running = () => nodes.filter((n) => n.running);

  async function jszOfAny(query: string): Promise<any[]> {
    const answers = await Promise.allSettled(running().map((n) => getJson(`${n.monitorUrl}/jsz?${query}`)));
    return answers.flatMap((a) => (a.status === "fulfilled" ? [a.value] : []));
  }

  const handle: NatsClusterHandle = {
    name: clusterName,
    nodes,
    url: nodes.map((n) => n.url).join(","),
    node(name) {
      const n = byName.get(name);
      if (!n) throw new Error(`no node ${name} in cluster ${clusterName} (nodes: ${[...byName.keys()].join(", ")})`);
      return n;
    },
    async metaLeader() {
      // A killed leader is still named by peers until they elect another: only a running one counts.
      for (const jsz of await jszOfAny("")) {
        const leader = byName.get(jsz?.meta_cluster?.leader ?? "");
        if (leader?.running) return leader;
      }
      return null;
    },
    async waitForMetaLeader(timeoutMs = 30_000) {
      return poll(`a meta leader in ${clusterName}`, timeoutMs, () => handle.metaLeader());
    },
    async streamCluster(stream) {
      for (const jsz of await jszOfAny("accounts=true&streams=true")) {
        for (const account of jsz?.account_details ?? []) {
          for (const s of account?.stream_detail ?? []) {
            if (s?.name !== stream) continue;
            const leaderName: string = s.cluster?.leader ?? "";
            const leader = byName.get(leaderName) ?? null;
            const replicas = [leaderName, ...((s.cluster?.replicas ?? []) as { name: string }[]).map((r) => r.name)].filter(Boolean);
            if (leader?.running) return { leader, replicas };
          }
        }
      }
      return null;
    },
    async waitForStreamLeader(stream, timeoutMs = 30_000, notOn) {
      return poll(`a leader of ${stream}${notOn ? ` other than ${notOn}` : ""}`, timeoutMs, async () => {
        const c = await handle.streamCluster(stream);
        return c?.leader && c.leader.name !== notOn ? c.leader : null;
      });
    },
    async moveLeader(node, stream, consumer) {
      const what = consumer ? `consumer ${stream}/${consumer}` : `stream ${stream}`;
      const leaderOf = async () => {
        const jsz = await getJson(`${node.monitorUrl}/jsz?accounts=true&streams=true&consumers=true`);
        for (const account of jsz?.account_details ?? []) {
          for (const s of account?.stream_detail ?? []) {
            if (s?.name !== stream) continue;
            if (!consumer) return s.cluster?.leader as string | undefined;
            return (s.consumer_detail ?? []).find((c: { name: string }) => c.name === consumer)?.cluster?.leader as string | undefined;
          }
        }
        return undefined;
      };
      if ((await leaderOf()) === node.name) return;
      const nc = await connect({ servers: running().map((n) => n.url), name: "nats-cluster-kit" });
      try {
        const subject = consumer ? `$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.${consumer}` : `$JS.API.STREAM.LEADER.STEPDOWN.${stream}`;
        await poll(`${node.name} to lead ${what}`, 30_000, async () => {
          if ((await leaderOf()) === node.name) return true;
          const answer = (await nc.request(subject, JSON.stringify({ placement: { preferred: node.name } }), { timeout: 5_000 })).json<{ error?: { description: string } }>();
          if (answer.error) throw new Error(`step-down of ${what} refused: ${answer.error.description}`);
          // The election takes a moment: look again before asking once more.
          await new Promise((r) => setTimeout(r, 500));
          return (await leaderOf()) === node.name || null;
        });
      } finally {
        await nc.close();
      }
    },
    async clientsOn(node) {
      const connz = await getJson(`${node.monitorUrl}/connz?limit=4096`);
      return ((connz?.connections ?? []) as { name?: string }[]).map((c) => c.name ?? "");
    },
    async waitHealthy(timeoutMs = 30_000) {
      await poll(`every running node of ${clusterName} healthy`, timeoutMs, async () => {
        const answers = await Promise.allSettled(running().map((n) => fetch(`${n.monitorUrl}/healthz`, { signal: AbortSignal.timeout(2_000) })));
        return answers.every((a) => a.status === "fulfilled" && a.value.ok) || null;
      });
    },
    async stop() {
      await Promise.allSettled(nodes.map((n) => n.stop()));
      rmSync(root, { recursive: true, force: true, maxRetries: 3 });
      forgetOnExit(undefined, root);
    },
  };
  // A meta leader alone is not enough: a node whose JetStream has not caught up with the meta
  // group lets the first stream create time out.
  await handle.waitForMetaLeader();
  await handle.waitHealthy();
  return handle;
}

async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function makeNode(bin: string, p: NodePorts, config: string): ClusterNode {
  const configFile = join(p.dir, "nats.conf");
  let proc: ChildProcess | undefined;
  let logTail = "";
  let configWritten = false;

  async function waitGone(child: ChildProcess) {
    if (!isRunning(child)) return;
    await new Promise<void>((r) => child.once("exit", () => r()));
  }

  return {
    name: p.name,
    port: p.port,
    url: `nats://127.0.0.1:${p.port}`,
    routePort: p.routePort,
    monitorUrl: `http://127.0.0.1:${p.monitorPort}`,
    storeDir: join(p.dir, "store"),
    get running() {
      return isRunning(proc);
    },
    async start() {
      if (isRunning(proc)) return;
      if (!configWritten) {
        rmSync(p.dir, { recursive: true, force: true });
        mkdirSync(p.dir, { recursive: true });
        writeFileSync(configFile, config);
        configWritten = true;
      }
      logTail = "";
      const child = spawn(bin, ["-c", configFile], { stdio: ["ignore", "pipe", "pipe"], env: serverEnv() });
      proc = child;
      cleanUpOnExit(child);
      const capture = (chunk: Buffer) => (logTail = (logTail + chunk.toString()).slice(-LOG_TAIL_CHARS));
      child.stdout!.on("data", capture);
      child.stderr!.on("data", capture);
      let spawnError: Error | undefined;
      child.once("error", (err) => (spawnError = err));
      child.once("exit", () => forgetOnExit(child));
      const fail = (why: string) => new Error(`nats-server ${p.name} (port ${p.port}) ${why}\n--- its output (tail) ---\n${logTail}`);
      const deadline = Date.now() + READY_TIMEOUT_MS;
      // Ready when its monitoring endpoint names this very server: a leftover process on the port must not count.
      for (;;) {
        if (spawnError) throw fail(`failed to spawn: ${spawnError.message}`);
        if (!isRunning(child)) throw fail(`exited early (${child.signalCode ?? `code ${child.exitCode}`})`);
        const varz = await getJson(`http://127.0.0.1:${p.monitorPort}/varz`, 1_000).catch(() => null);
        if (varz?.server_name === p.name && varz?.port === p.port) return;
        if (Date.now() > deadline) {
          child.kill("SIGKILL");
          throw fail(`not reachable after ${READY_TIMEOUT_MS} ms`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async kill() {
      const child = proc;
      if (!child || !isRunning(child)) return;
      child.kill("SIGKILL");
      await waitGone(child);
    },
    async stop() {
      const child = proc;
      if (!child || !isRunning(child)) return;
      const gone = waitGone(child);
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await gone;
      clearTimeout(timer);
    },
  };
}
