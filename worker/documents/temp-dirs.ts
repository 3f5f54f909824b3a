// Temporary folders for books being processed, named after this host and process, so a worker
// that starts can remove the ones a dead worker on the same host left behind (a process killed
// mid-book never runs its cleanup) without touching those of a live one.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";

const PREFIX = "jetq-book-";

/** Host names may hold characters that do not belong in a file name. */
const host = () => hostname().replace(/[^A-Za-z0-9.-]/g, "_");

/** A fresh folder `jetq-book-<host>-<pid>-XXXXXX` in the system's temporary directory. */
export function makeBookDir(parent = tmpdir()): Promise<string> {
  return mkdtemp(join(parent, `${PREFIX}${host()}-${process.pid}-`));
}

/** Removes this host's book folders whose process is gone; returns their names. */
export async function sweepStaleBookDirs(parent = tmpdir()): Promise<string[]> {
  const mine = `${PREFIX}${host()}-`;
  const removed: string[] = [];
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith(mine)) continue;
    const pid = Number(/^(\d+)-[^-]+$/.exec(name.slice(mine.length))?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    await rm(join(parent, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else, so it is alive.
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
}
