// `npm run cluster:down`: stops every process `cluster:up` started (by the pids it recorded) and
// keeps only the logs, for a look afterwards. Idempotent: with nothing running it says so and succeeds.
import { realpathSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadClusterConfig } from "./config.mjs";
import { withLock } from "./lock.mjs";
import { stopAll } from "./processes.mjs";

const log = (message) => console.error(`[cluster:down] ${message}`);

export async function clusterDown(config = loadClusterConfig()) {
  return withLock(
    join(config.clusterDir, ".lock"),
    60_000,
    async () => {
      const stopped = await stopAll(config.clusterDir, { log });
      // The next `up` starts an empty cluster with new certificates, so only the logs are worth
      // keeping; a kubeconfig left behind would point at a server that is gone.
      for (const entry of ["state.json", "kubeconfig", "kubeconfigs", "pki", "etcd"]) {
        rmSync(join(config.clusterDir, entry), { recursive: true, force: true });
      }
      log(stopped.length > 0 ? `stopped ${stopped.join(", ")}` : "nothing was running");
      return stopped;
    },
    log,
  );
}

const isMain = process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (isMain) {
  try {
    await clusterDown();
  } catch (err) {
    log(err.message);
    process.exit(1);
  }
}
