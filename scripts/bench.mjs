// `npm run bench`: bootstrap the tools (node_modules, nats-server, redis-server from Debian's
// packages), then build and run bench/run.ts. Extra args are passed through, e.g.
// `npm run bench -- --tasks 5000 --repeat 1` for a quick run or `npm run bench -- --only b`.
// `npm run bench:pipeline` (first argument `--pipeline`) runs bench/pipeline-run.ts instead.
import { spawn, spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureAptPackage, ensureNatsServer, ensureNodeModules } from "./tools.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pipeline = process.argv[2] === "--pipeline";
const args = process.argv.slice(pipeline ? 3 : 2);
const entry = pipeline ? "dist-bench/bench/pipeline-run.js" : "dist-bench/bench/run.js";

try {
  ensureNodeModules({ cwd: root });
  // Exported so test/support/nats-server.ts (which bench/run.ts uses) starts exactly this binary.
  process.env.NATS_SERVER_BIN = await ensureNatsServer({});
  if (!pipeline) await ensureAptPackage("redis-server", "/usr/bin/redis-server"); // BullMQ's comparison
} catch (err) {
  console.error(`[bench] ${err.message}`);
  process.exit(1);
}

// Compiled, as production runs it (and as BullMQ, plain JavaScript, runs): not through tsx.
const built = spawnSync(process.execPath, [resolve(root, "node_modules/typescript/bin/tsc"), "-p", resolve(root, "tsconfig.bench.json")], { cwd: root, stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);

const child = spawn(process.execPath, [entry, ...args], {
  cwd: root,
  stdio: "inherit",
  env: process.env,
});

process.on("SIGINT", () => {}); // Ctrl-C reaches the child too (same process group); let it clean up
for (const sig of ["SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));

child.on("error", (err) => {
  console.error(`[bench] failed to start ${entry}: ${err.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
