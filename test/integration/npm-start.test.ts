// The README's first command, end to end: `npm start` (scripts/start.mjs) builds, starts its own
// nats-server, the API and a local worker pool that follows the queue. A backlog grows the pool to
// its maximum, an empty queue shrinks it to its minimum, and Ctrl-C (SIGINT to the whole process
// group, as a terminal sends it) stops every process it started.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, startNatsServer } from "../../kit/nats-server.js";
import { waitFor } from "../support/wait.js";

const root = resolve(import.meta.dirname, "../..");
let proc: ChildProcess | undefined;
let natsPortInUse = 0;
afterAll(() => {
  // Only after a failure: the stack's process group, and NATS, which has a group of its own.
  if (proc?.pid && proc.exitCode === null) process.kill(-proc.pid, "SIGKILL");
  if (natsPortInUse) spawnSync("pkill", ["-KILL", "-f", `nats-server -js -a 127.0.0.1 -p ${natsPortInUse} `]);
});

/** The first admin key npm start prints on a fresh store (jetq_<id>_<secret>). */
const ADMIN_KEY = /jetq_[0-9a-f-]{36}_[0-9a-f]{64}/;

const listening = (port: number) =>
  new Promise<boolean>((res) => {
    const s = connect({ port, host: "127.0.0.1" }, () => (s.destroy(), res(true)));
    s.on("error", () => res(false));
  });

describe("npm start", () => {
  it("runs tasks with a pool that follows the queue, and stops everything on Ctrl-C", async () => {
    const [apiPort, natsPort] = [await freePort(), await freePort()];
    natsPortInUse = natsPort;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(apiPort),
      JETQ_NATS_PORT: String(natsPort),
      JETQ_DATA_DIR: mkdtempSync(join(tmpdir(), "jetq-start-")),
      JETQ_LOCAL_MIN_WORKERS: "0",
      JETQ_LOCAL_MAX_WORKERS: "2",
      JETQ_LOCAL_TARGET_BACKLOG: "5",
      JETQ_LOCAL_POLL_MS: "300",
      JETQ_LOCAL_SCALE_DOWN_WINDOW_S: "1",
      JETQ_WORKER_METRICS_PORT: "0",
    };
    delete env.NATS_URL;
    // Its own process group, so the test can send SIGINT to all of it like a terminal would.
    proc = spawn(process.execPath, [join(root, "scripts", "start.mjs")], { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    proc.stdout!.on("data", (c) => (output += c));
    proc.stderr!.on("data", (c) => (output += c));
    const exited = new Promise<number | null>((r) => proc!.once("exit", (code) => r(code)));
    let key = "";
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, { method, headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any };
    };
    // Pool sizes the local stack logs as it scales: {"message":"local pool",…,"workers":N}.
    const poolSizes = () => output.split("\n").filter((l) => l.includes('"local pool"')).map((l) => JSON.parse(l).workers as number);

    await waitFor("the API to be ready (this includes the tsc build)", async () => (await api("GET", "/readyz").catch(() => ({ status: 0 }))).status === 200, 180_000, 250);
    key = await waitFor("the first admin key in npm start's output", () => ADMIN_KEY.exec(output)?.[0], 10_000);
    await waitFor("npm start to say where the API listens", () => output.includes(`API on http://127.0.0.1:${apiPort} (this machine only;`), 30_000);

    // A backlog: with no worker running (minimum 0), 30 tasks at 5 per worker ask for 6, capped at 2.
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await api("POST", "/api/tasks/create", { type: "sync_sources", payload: {} });
      expect(res.status).toBe(202);
      ids.push(res.body.id);
    }
    await waitFor("every task to succeed", async () => {
      const statuses = await Promise.all(ids.map(async (id) => (await api("GET", `/api/tasks/${id}/status`)).body.status));
      return statuses.every((s) => s === "succeeded");
    }, 120_000, 250);
    expect(Math.max(...poolSizes())).toBe(2);
    await waitFor("the pool to shrink back to 0", () => poolSizes().at(-1) === 0, 60_000, 250);

    process.kill(-proc.pid!, "SIGINT");
    expect(await exited).toBe(0);
    await waitFor("the API and NATS ports to close", async () => !(await listening(apiPort)) && !(await listening(natsPort)), 30_000);
    expect(output).toContain("worker stopped");
  }, 300_000);
});

/** Runs `npm start` (scripts/start.mjs) with `env` added; resolves with its exit code and output. */
function startScript(env: NodeJS.ProcessEnv) {
  const full: NodeJS.ProcessEnv = { ...process.env, JETQ_DATA_DIR: mkdtempSync(join(tmpdir(), "jetq-start-")), JETQ_WORKER_METRICS_PORT: "0", ...env };
  delete full.NATS_URL;
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
  const child = spawn(process.execPath, [join(root, "scripts", "start.mjs")], { cwd: root, env: full, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const run = { child, output: "", exited: new Promise<number | null>((r) => child.once("exit", (code) => r(code))) };
  child.stdout!.on("data", (c) => (run.output += c));
  child.stderr!.on("data", (c) => (run.output += c));
  return run;
}

/** Command lines of every live process descended from `pid` (ps, Linux). */
function descendants(pid: number): string[] {
  const rows = spawnSync("ps", ["-eo", "pid=,ppid=,args="]).stdout.toString().trim().split("\n").map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l)!).filter(Boolean);
  const found = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [, p, pp] of rows) if (found.has(Number(pp)) && !found.has(Number(p))) (found.add(Number(p)), (grew = true));
  }
  return rows.filter(([, p]) => Number(p) !== pid && found.has(Number(p))).map(([, , , args]) => args!);
}

describe("npm start with JETQ_LOCAL_MAX_WORKERS=0", () => {
  it("runs NATS and the API only: a task stays queued and no worker process starts", async () => {
    const apiPort = await freePort();
    const run = startScript({ JETQ_NATS_PORT: String(await freePort()), PORT: String(apiPort), JETQ_LOCAL_MAX_WORKERS: "0", JETQ_LOCAL_MIN_WORKERS: undefined, JETQ_LOCAL_POLL_MS: "200" });
    const api = async (method: string, path: string, body?: unknown) => {
      const authorization = `Bearer ${ADMIN_KEY.exec(run.output)?.[0]}`;
      const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, { method, headers: { "content-type": "application/json", authorization }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any };
    };
    try {
      await Promise.race([
        waitFor("the API to be ready (this includes the tsc build)", async () => (await fetch(`http://127.0.0.1:${apiPort}/readyz`).catch(() => null))?.status === 200, 180_000, 250),
        run.exited.then((code) => Promise.reject(new Error(`npm start exited (${code}) before the API was ready:\n${run.output}`))),
      ]);
      await waitFor("the first admin key in npm start's output", () => ADMIN_KEY.test(run.output), 10_000);
      const created = await api("POST", "/api/tasks", { type: "sync_sources", payload: {} });
      expect(created.status).toBe(202);
      // A pool would have started a worker within a poll or two (200 ms each), and it would run the
      // task in milliseconds: 3 s of "queued" and no worker process means there is no pool.
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        expect((await api("GET", `/api/tasks/${created.body.id}/status`)).body.status).toBe("queued");
        expect(descendants(run.child.pid!).filter((args) => args.includes("worker/main"))).toEqual([]);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(descendants(run.child.pid!).some((args) => args.includes("api/main"))).toBe(true);
      const queue = await api("GET", "/api/tasks/queue");
      expect(queue.body).toMatchObject({ depth: 1, workers: { count: 0 } });
      expect(run.output).toContain("no local workers (JETQ_LOCAL_MAX_WORKERS=0)");
      process.kill(-run.child.pid!, "SIGINT");
      expect(await run.exited).toBe(0);
    } finally {
      if (run.child.exitCode === null) process.kill(-run.child.pid!, "SIGKILL");
    }
  }, 240_000);
});

describe("npm start says what is wrong in one line", () => {
  it("refuses a port held by something that is not NATS", async () => {
    const squatter = createServer((sock) => sock.write("HTTP/1.1 400 Bad Request\r\n\r\n")).listen(0, "127.0.0.1");
    await new Promise((r) => squatter.once("listening", r));
    try {
      const port = (squatter.address() as { port: number }).port;
      const run = startScript({ JETQ_NATS_PORT: String(port), PORT: String(await freePort()) });
      expect(await run.exited).toBe(1);
      expect(run.output).toContain(`not a NATS server listens on 127.0.0.1:${port}`);
      expect(run.output).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      squatter.close();
    }
  });

  it("refuses more minimum workers than maximum, naming both settings", async () => {
    const run = startScript({ JETQ_NATS_PORT: String(await freePort()), PORT: String(await freePort()), JETQ_LOCAL_MAX_WORKERS: "0", JETQ_LOCAL_MIN_WORKERS: "1" });
    expect(await run.exited).toBe(2);
    expect(run.output).toContain("JETQ_LOCAL_MIN_WORKERS: 1 is more than JETQ_LOCAL_MAX_WORKERS (0) (with no local workers, JETQ_LOCAL_MIN_WORKERS must be 0 too, or unset)");
    expect(run.output).not.toMatch(/\n\s+at /);
  }, 240_000);

  it("without Go and without a nats-server, says to install Go 1.26+ instead of printing a stack trace", async () => {
    const noGoPath = (process.env.PATH ?? "").split(":").filter((dir) => !existsSync(join(dir, "go"))).join(":");
    const run = startScript({ PATH: noGoPath, JETQ_CACHE_DIR: mkdtempSync(join(tmpdir(), "jetq-nocache-")), NATS_SERVER_BIN: undefined, JETQ_NATS_PORT: String(await freePort()), PORT: String(await freePort()) });
    expect(await run.exited).toBe(1);
    expect(run.output).toContain("install Go 1.26+");
    expect(run.output).not.toMatch(/\n\s+at /);
  });

  it("uses a NATS server it finds on the port, says so, and says when it goes away", async () => {
    const nats = await startNatsServer();
    const apiPort = await freePort();
    const run = startScript({ JETQ_NATS_PORT: String(nats.port), PORT: String(apiPort), JETQ_LOCAL_MIN_WORKERS: "0", JETQ_LOCAL_MAX_WORKERS: "1" });
    try {
      await Promise.race([
        waitFor("the API to be ready", async () => (await fetch(`http://127.0.0.1:${apiPort}/readyz`).catch(() => null))?.status === 200, 180_000, 250),
        run.exited.then((code) => Promise.reject(new Error(`npm start exited (${code}) before the API was ready:\n${run.output}`))),
      ]);
      expect(run.output).toContain(`using the NATS server already on 127.0.0.1:${nats.port}`);
      await nats.stop();
      await waitFor("npm start to say NATS is gone", () => run.output.includes("(not started by npm start) is gone"), 30_000, 100);
      process.kill(-run.child.pid!, "SIGINT");
      expect(await run.exited).toBe(0);
    } finally {
      if (run.child.exitCode === null) process.kill(-run.child.pid!, "SIGKILL");
      await nats.stop();
    }
  }, 240_000);
});
