// The benchmarks' cluster: its kubeconfig, and the CRD install (crds/*.yaml created when missing,
// then waited for until Established).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ApiextensionsV1Api, KubeConfig, KubernetesObjectApi, loadAllYaml, type KubernetesObject } from "@kubernetes/client-node";
import { REPO_ROOT, waitUntil } from "./lib.js";

/** The cluster the benchmark runs on: KUBECONFIG, or exit 2 saying how to get one. */
export function benchKubeConfig(): { kc: KubeConfig; path: string } {
  const path = process.env.KUBECONFIG;
  if (!path) {
    console.error("KUBECONFIG must name a running cluster's kubeconfig (JETQ_DATA_DIR=/tmp/jetq-bench npm run cluster:up prints one)");
    process.exit(2);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return { kc, path };
}

export async function installCrds(kc: KubeConfig) {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const dir = join(REPO_ROOT, "crds");
  const crds = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => loadAllYaml(readFileSync(join(dir, f), "utf8")) as KubernetesObject[])
    .filter((d) => d?.kind === "CustomResourceDefinition");
  for (const crd of crds) {
    await client.create(crd).catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
    await waitUntil(async () => ((await ext.readCustomResourceDefinition({ name: crd.metadata!.name! })).status?.conditions ?? []).some((c) => c.type === "Established" && c.status === "True"), `CRD ${crd.metadata!.name} established`, 60_000, 100);
  }
}

