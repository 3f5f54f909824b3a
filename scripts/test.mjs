// `npm test`: bootstrap tools, then run vitest. Extra args are passed through,
// e.g. `npm test -- test/unit` or `npm test -- -t "retries"`.
import { spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureNatsServer, ensureNodeModules } from "./tools.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

try {
  ensureNodeModules({ cwd: root });
  // Exported so test/support/nats-server.ts uses exactly this binary.
  process.env.NATS_SERVER_BIN = await ensureNatsServer({});
} catch (err) {
  console.error(`[test] ${err.message}`);
  process.exit(1);
}

const child = spawn("npx", ["vitest", "run", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
  env: process.env,
});

// Stay alive until vitest has cleaned up: Ctrl-C already reaches vitest
// (same process group), other termination signals are forwarded.
process.on("SIGINT", () => {});
for (const sig of ["SIGTERM", "SIGHUP"]) {
  process.on(sig, () => child.kill(sig));
}

child.on("error", (err) => {
  console.error(`[test] failed to start vitest: ${err.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  process.exit(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1));
});

function signalNumber(signal) {
  return { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal];
}
