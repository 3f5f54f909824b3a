// The control plane's processes: started detached (they outlive `cluster:up`), one pid file each,
// and stopped by pid only after checking that the pid still runs the binary that was started (a
// pid file left from before a reboot may name an unrelated process by now).
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

// Stop order: the reverse of the start order, so nothing loses the API server under it.
export const COMPONENT_ORDER = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"];

export function runDir(clusterDir) {
  return join(clusterDir, "run");
}

export function logFile(clusterDir, name) {
  return join(clusterDir, "logs", `${name}.log`);
}

// A signal to a process that has just exited on its own is not an error.
function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch (err) {
    if (err.code !== "ESRCH") throw err;
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

// True when `pid` is alive and runs `binary` (checked through /proc where there is one).
function runsBinary(pid, binary) {
  if (!isAlive(pid)) return false;
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync("/proc/self/cmdline")) return true;
  try {
    return readFileSync(cmdline, "utf8").split("\0")[0] === binary;
  } catch {
    return false;
  }
}

/** Starts `binary args` detached, output appended to its log, and records `{pid, binary}` in its pid file. */
export function startDetached(clusterDir, name, binary, args, env = process.env) {
  mkdirSync(runDir(clusterDir), { recursive: true });
  mkdirSync(join(clusterDir, "logs"), { recursive: true });
  const log = openSync(logFile(clusterDir, name), "a");
  try {
    const child = spawn(binary, args, { detached: true, stdio: ["ignore", log, log], env, cwd: clusterDir });
    if (!child.pid) throw new Error(`could not start ${binary}`);
    child.unref();
    writeFileSync(join(runDir(clusterDir), `${name}.pid`), JSON.stringify({ pid: child.pid, binary }) + "\n");
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** Every recorded component: `{name, pid, binary, running}`. */
export function recordedComponents(clusterDir) {
  const dir = runDir(clusterDir);
  if (!existsSync(dir)) return [];
  const found = [];
  for (const file of readdirSync(dir)) {
    if (!file.endsWith(".pid")) continue;
    const name = file.slice(0, -".pid".length);
    try {
      const { pid, binary } = JSON.parse(readFileSync(join(dir, file), "utf8"));
      found.push({ name, pid, binary, running: runsBinary(pid, binary) });
    } catch {
      found.push({ name, pid: 0, binary: "", running: false });
    }
  }
  return found;
}

export function isComponentRunning(clusterDir, name) {
  return recordedComponents(clusterDir).some((c) => c.name === name && c.running);
}

async function waitForExit(pid, binary, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!runsBinary(pid, binary)) return true;
    await sleep(100);
  }
  return !runsBinary(pid, binary);
}

/** Stops every recorded component (SIGTERM, then SIGKILL after `graceMs`) and removes its pid file; returns the names stopped. */
export async function stopAll(clusterDir, { graceMs = 10_000, log = () => {} } = {}) {
  const rank = (name) => {
    const index = COMPONENT_ORDER.indexOf(name);
    return index === -1 ? COMPONENT_ORDER.length : index;
  };
  const components = recordedComponents(clusterDir).sort((a, b) => rank(b.name) - rank(a.name));
  const stopped = [];
  for (const { name, pid, binary, running } of components) {
    if (running) {
      signal(pid, "SIGTERM");
      if (!(await waitForExit(pid, binary, graceMs))) {
        log(`${name} (pid ${pid}) did not stop within ${graceMs} ms of SIGTERM: sending SIGKILL`);
        signal(pid, "SIGKILL");
        await waitForExit(pid, binary, 5_000);
      }
      stopped.push(name);
    }
    rmSync(join(runDir(clusterDir), `${name}.pid`), { force: true });
  }
  return stopped;
}

/** The last `lines` lines of a component's log, for error messages. */
export function logTail(clusterDir, name, lines = 15) {
  try {
    return readFileSync(logFile(clusterDir, name), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
