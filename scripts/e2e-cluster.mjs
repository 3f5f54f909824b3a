// The local Kubernetes control plane that `npm test` runs test/e2e against: built once (cached in
// ~/.cache/jetq/k8s), started in <repo>/.jetq-test/ci-cluster before vitest, stopped after it.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureClusterBinaries, providedBinaries } from "./cluster/build.mjs";
import { loadClusterConfig } from "./cluster/config.mjs";
import { clusterDown } from "./cluster/down.mjs";
import { clusterUp } from "./cluster/up.mjs";
import { KUBERNETES_COMMANDS } from "./cluster/wrappers.mjs";

const log = (message) => console.error(`[test] ${message}`);

/**
 * True when vitest will run files of test/e2e: no test path among the arguments (a whole run, or
 * only options such as `-t name`), or a path inside test/e2e or above it (`test`, `test/e2e/x.test.ts`).
 */
export function runsE2eTests(args) {
  const paths = args.map((a) => a.replace(/^\.\//, "").replace(/\/+$/, "")).filter((a) => /^test(\/|$)/.test(a));
  return paths.length === 0 || paths.some((p) => p.startsWith("test/e2e") || "test/e2e".startsWith(p));
}

export function e2eCluster(repoRoot) {
  // Read when first needed, so a wrong setting (KUBEBUILDER_ASSETS) fails inside start() with its message.
  let loaded = null;
  const configOf = () => (loaded ??= loadClusterConfig({ ...process.env, JETQ_DATA_DIR: join(repoRoot, ".jetq-test", "ci-cluster") }));
  return {
    /** Builds what is missing, starts the cluster (idempotent) and returns its kubeconfig path. */
    async start() {
      const config = configOf();
      const provided = providedBinaries(config).binaries;
      const missing = [...KUBERNETES_COMMANDS, "etcd", "kwok"].filter((name) => !provided[name] && !existsSync(join(config.binDir, name)));
      if (missing.length > 0) {
        log(`test/e2e needs the local Kubernetes control plane: building ${missing.join(", ")} into ${config.binDir}.`);
        log("A cold build takes about 40 minutes on 2 cores (once; later runs start the cluster in ~12 s).");
      }
      await ensureClusterBinaries(config, { log: (message) => console.error(`[cluster:build] ${message}`) });
      return clusterUp(config);
    },
    /** Stops it (nothing to do when it is not running); waits for a start still in progress. */
    async stop() {
      if (loaded) await clusterDown(loaded);
    },
  };
}
