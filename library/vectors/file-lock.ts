// A lock file shared by the processes of one machine: created exclusively (O_EXCL), holding the
// holder's pid and host, so a lock left by a dead process (same host, pid gone) or older than
// `staleMs` is taken over. It keeps two processes from running the same long job (migrating a
// legacy log, building an index) twice; correctness of the data never rests on it.
import { hostname } from "node:os";
import { open, stat, unlink } from "node:fs/promises";

export interface FileLock {
  release(): Promise<void>;
}

/** Takes the lock at `path`, or returns undefined when another live process holds it. */
export async function tryLock(path: string, staleMs: number): Promise<FileLock | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, "wx");
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }));
      await fh.close();
      return { release: () => unlink(path).catch(() => undefined) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (!(await lockIsStale(path, staleMs))) return undefined;
      await unlink(path).catch(() => undefined);
    }
  }
  return undefined;
}

/** Waits (polling) until the lock is taken; gives up after `timeoutMs`. */
export async function lock(path: string, staleMs: number, timeoutMs: number, pollMs = 100): Promise<FileLock> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = await tryLock(path, staleMs);
    if (held) return held;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the lock ${path}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function lockIsStale(path: string, staleMs: number): Promise<boolean> {
  try {
    const st = await stat(path);
    if (Date.now() - st.mtimeMs > staleMs) return true;
    const fh = await open(path, "r");
    const text = await fh.readFile("utf8").finally(() => fh.close());
    const holder = JSON.parse(text) as { pid?: number; host?: string };
    return holder.host === hostname() && typeof holder.pid === "number" && !processAlive(holder.pid);
  } catch (err) {
    // Released meanwhile: try again. Half-written by a live holder: not stale yet.
    return (err as NodeJS.ErrnoException).code === "ENOENT";
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
