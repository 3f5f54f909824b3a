// The operator as a real OS process (`node --import tsx operator/main.ts`, what `npm run operator`
// runs), so a test can SIGTERM or SIGKILL it and start another. Its JSON log lines are collected;
// JETQ_TEST_LOGS=1 also prints them.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./cluster.js";
import { TEST_ENV } from "./stack.js";
import { waitFor } from "./wait.js";

export interface OperatorProcess {
  child: ChildProcess;
  /** JSON lines the process logged (stdout and stderr). */
  lines: Array<Record<string, unknown>>;
  /** The health and metrics port it listens on (127.0.0.1). */
  healthPort: number;
  exited: Promise<number | null>;
  /** Resolves once it holds the lease and its controllers have synced. */
  leading(timeoutMs?: number): Promise<void>;
  /** The text of its /metrics. */
  metrics(): Promise<string>;
  /** SIGTERM (graceful: releases the lease) or SIGKILL (dies holding it); resolves with the exit code. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<number | null>;
}

export interface OperatorProcessOptions {
  kubeconfigPath: string;
  natsUrl: string;
  /** Lease namespace, and the only namespace it watches (tests share a cluster). */
  namespace: string;
  identity: string;
  env?: Record<string, string>;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export async function startOperator(opts: OperatorProcessOptions): Promise<OperatorProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "operator", "main.ts")], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...TEST_ENV, // the topology settings of the test stack, so both ensure the same streams
      KUBECONFIG: opts.kubeconfigPath,
      NATS_URL: opts.natsUrl,
      JETQ_OPERATOR_NAMESPACE: opts.namespace,
      JETQ_WATCH_NAMESPACES: opts.namespace,
      JETQ_OPERATOR_ID: opts.identity,
      JETQ_OPERATOR_PORT: "0",
      JETQ_OPERATOR_HOST: "127.0.0.1",
      LOG_LEVEL: process.env.JETQ_TEST_LOGS ? "debug" : "info",
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code, signal) => {
      live.delete(child);
      resolve(code ?? (signal ? 128 : null));
    }),
  );
  const lines: Array<Record<string, unknown>> = [];
  const collect = (stream: NodeJS.ReadableStream) => {
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (process.env.JETQ_TEST_LOGS) process.stderr.write(`[operator ${opts.identity}] ${line}\n`);
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          lines.push({ message: line });
        }
      }
    });
  };
  collect(child.stdout!);
  collect(child.stderr!);

  const started = await waitFor(
    `operator ${opts.identity} to start`,
    () => {
      if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}: ${lines.map((l) => l.message).join(" | ")}`);
      return lines.find((l) => l.message === "operator started");
    },
    60_000,
  );
  const healthPort = Number(started.healthPort);
  return {
    child,
    lines,
    healthPort,
    exited,
    leading: async (timeoutMs = 60_000) => {
      await waitFor(`operator ${opts.identity} to lead`, () => lines.some((l) => l.message === "leading: controllers started"), timeoutMs);
    },
    metrics: async () => (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text(),
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
