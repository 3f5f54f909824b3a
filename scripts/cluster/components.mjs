// Command lines of the control plane's processes, all listening on 127.0.0.1 only.
import { join } from "node:path";
import { KWOK_NODE_ANNOTATION } from "./config.mjs";
import { SERVICE_CLUSTER_IP_RANGE } from "./pki.mjs";

export function etcdArgs({ dataDir, clientPort, peerPort }) {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    "--name=jetq",
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=jetq=${peer}`,
    "--initial-cluster-state=new",
    // A throw-away dev cluster: fsync per write would only slow bursts of objects down.
    "--unsafe-no-fsync",
    "--log-level=warn",
  ];
}

export function apiServerArgs({ etcdClientPort, port, pki }) {
  const issuer = `https://127.0.0.1:${port}`;
  return [
    `--etcd-servers=http://127.0.0.1:${etcdClientPort}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${port}`,
    // The endpoint reconciler refuses a loopback advertise address; nothing in this cluster needs
    // the `kubernetes` Service's endpoints.
    "--endpoint-reconciler-type=none",
    `--tls-cert-file=${pki.serving.cert}`,
    `--tls-private-key-file=${pki.serving.key}`,
    `--client-ca-file=${pki.ca.cert}`,
    "--authorization-mode=RBAC",
    `--service-account-issuer=${issuer}`,
    `--service-account-key-file=${pki.serviceAccount.publicKey}`,
    `--service-account-signing-key-file=${pki.serviceAccount.privateKey}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    "--allow-privileged=true",
  ];
}

/** What the controller manager and the scheduler share: their kubeconfig and a loopback port. */
function controlLoopArgs({ kubeconfig, port, certDir }) {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${port}`,
    `--cert-dir=${certDir}`,
  ];
}

export function controllerManagerArgs({ kubeconfig, port, pki, certDir }) {
  return [
    ...controlLoopArgs({ kubeconfig, port, certDir }),
    // Each controller acts as its own service account: the controller manager's certificate alone
    // may not create ReplicaSets or Pods.
    "--use-service-account-credentials=true",
    `--service-account-private-key-file=${pki.serviceAccount.privateKey}`,
    `--root-ca-file=${pki.ca.cert}`,
    `--cluster-signing-cert-file=${pki.ca.cert}`,
    `--cluster-signing-key-file=${pki.ca.key}`,
    // No pod CIDRs to hand out: kwok assigns the fake pod IPs.
    "--controllers=*,-nodeipam",
    "--leader-elect=false",
  ];
}

export function schedulerArgs({ kubeconfig, port, certDir }) {
  return [...controlLoopArgs({ kubeconfig, port, certDir }), "--leader-elect=false"];
}

export function kwokArgs({ kubeconfig, stagesFile }) {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--config=${stagesFile}`,
    "--manage-all-nodes=false",
    `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION.key}=${KWOK_NODE_ANNOTATION.value}`,
    // Fake pod IPs only; a /16 so a large Deployment never runs out.
    "--cidr=10.244.0.0/16",
  ];
}

/** A fake node kwok manages (it fills in the status: conditions, capacity, addresses). */
export function fakeNode(name) {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION.key]: KWOK_NODE_ANNOTATION.value, "node.alpha.kubernetes.io/ttl": "0" },
      labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", type: "kwok" },
    },
  };
}

export function certDirFor(clusterDir, name) {
  return join(clusterDir, "pki", name);
}
