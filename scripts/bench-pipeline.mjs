// `npm run bench:pipeline`: bootstrap the tools (node_modules, nats-server), then build and run
// bench/pipeline-run.ts. Extra args are passed through, e.g.
// `npm run bench:pipeline -- --pages 50 --chunks 10000 --repeat 1` for a quick run, or `-- --only search`.
import { spawn, spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureNatsServer, ensureNodeModules } from "./tools.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

try {
  ensureNodeModules({ cwd: root });
  // Exported so test/support/nats-server.ts (which the benchmark uses) starts exactly this binary.
  process.env.NATS_SERVER_BIN = await ensureNatsServer({});
} catch (err) {
  console.error(`[bench:pipeline] ${err.message}`);
  process.exit(1);
}

// Compiled, as production runs it: the worker process and the search process run dist-bench/ too.
const built = spawnSync(process.execPath, [resolve(root, "node_modules/typescript/bin/tsc"), "-p", resolve(root, "tsconfig.bench.json")], { cwd: root, stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);

const child = spawn(process.execPath, ["dist-bench/bench/pipeline-run.js", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
  env: process.env,
});

process.on("SIGINT", () => {}); // Ctrl-C reaches the child too (same process group); let it clean up
for (const sig of ["SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));

child.on("error", (err) => {
  console.error(`[bench:pipeline] failed to start bench/pipeline-run.ts: ${err.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
