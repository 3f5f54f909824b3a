// The operator's KubeConfig: the cluster from a kubeconfig file or the pod's service account, with
// connections to the API server kept alive and shared.
//
// client-node 1.4 builds a new https.Agent for every request (KubeConfig.applySecurityAuthentication),
// so each call pays a TCP connect and a full TLS handshake with client-certificate checks, on both
// sides. Measured on the project's dev cluster: 200 sequential GETs took 2.8 s of the operator's
// CPU and 11.5 s, against 0.8 s and 6.3 s through one keep-alive agent. Here the agent it builds is
// swapped for a shared keep-alive one with the same TLS material (keyed by a hash of it, so
// rotated credentials get their own). Proxy agents are left as they are.
import { createHash } from "node:crypto";
import https from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import type { KubeSource } from "./config.js";

/** Sockets to the API server at most (reconciles and Events share them); more requests wait. */
const MAX_SOCKETS = 64;

type RequestContext = Parameters<KubeConfig["applySecurityAuthentication"]>[0];

export class KeepAliveKubeConfig extends KubeConfig {
  private readonly agents = new Map<string, https.Agent>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const built = context.getAgent();
    if (!(built instanceof https.Agent) || built.constructor !== https.Agent) return; // a proxy agent: keep it
    const o = built.options;
    const key = createHash("sha256")
      .update(JSON.stringify([o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername].map((v) => (Buffer.isBuffer(v) ? v.toString("base64") : v))))
      .digest("hex");
    let agent = this.agents.get(key);
    if (!agent) this.agents.set(key, (agent = new https.Agent({ ...o, keepAlive: true, maxSockets: MAX_SOCKETS })));
    context.setAgent(agent);
  }

  /** Closes the kept-alive sockets (at shutdown). */
  destroy(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

export function loadKubeConfig(source: KubeSource): KeepAliveKubeConfig {
  const kc = new KeepAliveKubeConfig();
  if (source.kind === "in-cluster") kc.loadFromCluster();
  else kc.loadFromFile(source.path);
  return kc;
}
