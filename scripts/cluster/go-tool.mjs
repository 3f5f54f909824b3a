// Runs the Go tool for the cluster build. Every compile runs under `nice -n 19` so a cold build only
// takes CPU that nothing else wants (it is ~30 minutes of both cores on a 2-core machine).
import { execFile, spawn, spawnSync } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export function assertGoAvailable(why) {
  const probe = spawnSync("go", ["version"], { stdio: "ignore" });
  if (probe.error || probe.status !== 0) {
    throw new Error(`'go' is not available to build ${why}: install Go 1.26+ or set KUBEBUILDER_ASSETS`);
  }
}

// The module cache directory of module@version, downloading it if needed.
export async function moduleDir(module, version, cwd) {
  const { stdout } = await execFileAsync("go", ["mod", "download", "-json", `${module}@${version}`], {
    cwd,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, GO111MODULE: "on" },
  });
  const info = JSON.parse(stdout);
  if (info.Error) throw new Error(`go mod download ${module}@${version}: ${info.Error}`);
  return { dir: info.Dir, goMod: info.GoMod };
}

/**
 * Runs `go <args>` at the lowest CPU priority, its output going to our stderr (stdout stays for
 * the one machine-readable line), and rejects when it fails.
 */
export function runGo(args, { cwd, env = {} } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("nice", ["-n", "19", "go", ...args], {
      cwd,
      stdio: ["ignore", 2, 2],
      env: { ...process.env, GO111MODULE: "on", ...env },
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`go ${args.join(" ")} (in ${cwd}) failed (${signal ?? `exit code ${code}`})`));
    });
  });
}
