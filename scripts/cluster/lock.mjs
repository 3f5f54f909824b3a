// One `cluster:up` or `cluster:down` at a time per cluster directory (test files may call `up` in
// parallel), one build at a time per cache: an exclusive lock file holding the owner's pid; a lock
// whose owner died is taken over.
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

function ownerAlive(lockFile) {
  try {
    const pid = Number(readFileSync(lockFile, "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err?.code === "EPERM";
  }
}

/** Runs `fn` holding `lockFile`, waiting up to `timeoutMs` for another holder. */
export async function withLock(lockFile, timeoutMs, fn, log = () => {}) {
  mkdirSync(dirname(lockFile), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(lockFile, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
      if (!ownerAlive(lockFile)) {
        rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another process holds ${lockFile} for too long`);
      if (!told) log(`waiting for the process holding ${lockFile} to finish`);
      told = true;
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockFile, { force: true });
  }
}
