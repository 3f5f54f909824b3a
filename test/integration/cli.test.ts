// The `jetq` command line run as a subprocess (the package's bin, cli/jetq.mjs) against a real
// API, NATS and workers: every command's human and --json output and exit codes, --wait on tasks
// that succeed, fail and are cancelled, the live bar and colour on a terminal (under `script`, a
// real pty) and their absence elsewhere, bad usage (exit 2), an unreachable API (exit 5), settings
// from the environment and flags, API keys against an API with access control on (exit 6), and
// the completion scripts driven by bash itself.
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { documentTaskTypes } from "../../library/task-types.js";
import { clientOf, startStack, taskStatus, type Stack } from "../support/stack.js";
import { testRegistry } from "../support/test-types.js";
import { waitFor } from "../support/wait.js";

const CLI = fileURLToPath(new URL("../../cli/jetq.mjs", import.meta.url));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SGR = /\x1b\[[0-9;]*m/; // a colour (Select Graphic Rendition) escape
// Each run starts a Node process with tsx (about 1.7 s of CPU): generous on a busy machine.
const SLOW = 240_000;

let stack: Stack;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jetq-cli-"));
  stack = await startStack({ documents: true, registry: documentTaskTypes(testRegistry()), workers: 1, env: { JETQ_CHUNK_SIZE: "400", JETQ_CHUNK_OVERLAP: "80" } });
}, SLOW);
afterAll(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment a run starts from: this one without the CLI's own settings. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !["JETQ_URL", "JETQ_API_KEY", "NO_COLOR", "FORCE_COLOR"].includes(k)) env[k] = v;
  return env;
}

/** Starts `jetq ARGS` (JETQ_URL pointing at the stack unless `env` says otherwise; undefined unsets). */
function startJetq(args: string[], opts: { env?: Record<string, string | undefined>; stdin?: string } = {}) {
  const env: Record<string, string> = { ...baseEnv(), JETQ_URL: stack.baseUrl };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  const run: Run = { code: null, stdout: "", stderr: "" };
  child.stdout.on("data", (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (run.stderr += d.toString()));
  child.stdin.end(opts.stdin ?? "");
  const done = new Promise<Run>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ ...run, code }));
  });
  return { run, done, child };
}

/** Runs `jetq ARGS` to its end. */
const jetq = (args: string[], opts: Parameters<typeof startJetq>[1] = {}): Promise<Run> => startJetq(args, opts).done;

/** A run that must exit 0; its stdout parsed as JSON. */
async function jetqJson<T = any>(args: string[], opts?: Parameters<typeof jetq>[1]): Promise<T> {
  const r = await jetq([...args, "--json"], opts);
  expect(r, r.stderr).toMatchObject({ code: 0 });
  return JSON.parse(r.stdout) as T;
}

const ended = (id: string) => waitFor(`task ${id} to end`, async () => ["succeeded", "failed", "cancelled"].includes((await taskStatus(stack, id)).status), 60_000);

/** A port nothing listens on (bound, then closed). */
/**
 * A port nothing listens on: TCP port 3 (below the ephemeral range the tests' servers take their
 * ports from, and not on fetch's list of blocked ports). A free port picked at random can be taken
 * by another test file's API between picking and connecting (a CI run got its 401).
 */
async function closedPort(): Promise<number> {
  const inUse = await new Promise<boolean>((resolve) => {
    const socket = connect(3, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
  if (inUse) throw new Error("something listens on 127.0.0.1:3; this test needs a port that refuses connections");
  return 3;
}

/** Runs a shell command line under `script`, which gives it a real terminal (a pty). */
function inTerminal(commandLine: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qefc", commandLine, "/dev/null"], { env: { ...baseEnv(), TERM: "xterm-256color", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr: "" }));
    child.stdin.end();
  });
}
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe("jetq: usage", { timeout: SLOW }, () => {
  it("answers a bad flag, a bad value, an unknown command or none with the usage on stderr and exit code 2", async () => {
    const cases: [string[], RegExp][] = [
      [["ls", "--bogus"], /Unknown argument: bogus/],
      [["ls", "--limit", "many"], /--limit must be a whole number/],
      [["ls", "--status", "exploded"], /Invalid values:[\s\S]*status/],
      [["submit", "echo", "--payload", "{not json"], /--payload: not valid JSON/],
      [["submit", "echo", "--payload", "@/nonexistent/payload.json"], /cannot read \/nonexistent\/payload.json: ENOENT/],
      [["submit", "echo", "--priority", "urgent"], /Invalid values:[\s\S]*priority/],
      [["submit"], /Not enough non-option arguments/],
      [["frobnicate"], /Unknown argument: frobnicate/],
      [[], /give a command/],
      [["dlq"], /give a dlq command/],
      [["dlq", "retry"], /give one dead-lettered task's id, or --type TYPE, or --all/],
      [["dlq", "purge", "--type", "echo", "--all"], /give one dead-lettered task's id, or --type TYPE, or --all/],
      [["keys", "create", "--role", "viewer", "--expires-in", "soon"], /--expires-in must be/],
    ];
    const runs = await Promise.all(cases.map(([args]) => jetq(args)));
    runs.forEach((r, i) => {
      const [args, message] = cases[i]!;
      expect(r.code, `jetq ${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stdout, args.join(" ")).toBe("");
      expect(r.stderr).toMatch(message);
      expect(r.stderr, args.join(" ")).toMatch(/^jetq .*\n/); // the usage first
      expect(r.stderr).toContain("--help");
    });
  });

  it("has --help on every level, and --version", async () => {
    const [root, group, leaf, submit, version] = await Promise.all([jetq(["--help"]), jetq(["dlq", "--help"]), jetq(["dlq", "retry", "--help"]), jetq(["submit", "-h"]), jetq(["--version"])]);
    for (const r of [root, group, leaf, submit]) {
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
    }
    for (const cmd of ["submit <type>", "status <id>", "watch <id>", "logs <id>", "ls", "queue", "cancel <id>", "dlq", "books", "search <query..>", "quiz <book>", "keys", "completion [shell]"]) expect(root.stdout).toContain(`jetq ${cmd}`);
    expect(root.stdout).toMatch(/Exit codes:[\s\S]*2 +usage[\s\S]*5 +the API is unreachable/);
    expect(group.stdout).toMatch(/jetq dlq ls[\s\S]*jetq dlq show <id>[\s\S]*jetq dlq retry \[id\][\s\S]*jetq dlq purge \[id\]/);
    expect(leaf.stdout).toMatch(/--dry-run +only count what would be affected/);
    expect(submit.stdout).toMatch(/--payload[\s\S]*--priority[\s\S]*--idempotency-key[\s\S]*--wait/);
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
  });
});

describe("jetq: settings and connection", { timeout: SLOW }, () => {
  it("says in one line that the API cannot be reached (exit 5), as JSON with --json", async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const [human, json, viaFlag] = await Promise.all([jetq(["queue"], { env: { JETQ_URL: url } }), jetq(["queue", "--json"], { env: { JETQ_URL: url } }), jetq(["ls", "--url", url])]);
    expect(human.code).toBe(5);
    expect(human.stdout).toBe("");
    expect(human.stderr).toBe(`jetq: cannot reach the jetq API at ${url}: connect ECONNREFUSED 127.0.0.1:${port} (set JETQ_URL or --url)\n`);
    expect(json.code).toBe(5);
    expect(JSON.parse(json.stderr)).toMatchObject({ status: 0, error: { code: "network_error" } });
    // --url wins over JETQ_URL (which points at the working stack here).
    expect(viaFlag.code).toBe(5);
    expect(viaFlag.stderr).toContain(url);
  });

  it("takes JETQ_URL from the environment, --url over it, and refuses a malformed one naming it (exit 2)", async () => {
    const port = await closedPort();
    const [fromEnv, flagWins, badEnv, badFlag] = await Promise.all([
      jetq(["queue", "--json"]),
      jetq(["queue", "--json", "--url", stack.baseUrl], { env: { JETQ_URL: `http://127.0.0.1:${port}` } }),
      jetq(["queue"], { env: { JETQ_URL: "localhost:8080" } }),
      jetq(["queue", "--url", "ftp://127.0.0.1"]),
    ]);
    expect(fromEnv.code).toBe(0);
    expect(JSON.parse(fromEnv.stdout)).toMatchObject({ depth: expect.any(Number), workers: { count: 1 } });
    expect(flagWins.code).toBe(0);
    expect(badEnv).toMatchObject({ code: 2, stdout: "", stderr: `jetq: JETQ_URL must be an http:// or https:// URL, not "localhost:8080"\n` });
    expect(badFlag).toMatchObject({ code: 2, stderr: `jetq: --url must be an http:// or https:// URL, not "ftp://127.0.0.1"\n` });
  });
});

describe("jetq: tasks", { timeout: SLOW }, () => {
  it("submit prints the id; status, ls and queue show it, for people and as JSON", async () => {
    const plain = await jetq(["submit", "echo", "--payload", '{"value":"plain"}', "--priority", "high"]);
    expect(plain.code, plain.stderr).toBe(0);
    const id = plain.stdout.trim();
    expect(id).toMatch(UUID);
    expect(plain.stderr).toContain(`follow it with: jetq watch ${id}`);
    await writeFile(join(dir, "payload.json"), '{"value":"from a file"}');
    const [fromFile, fromStdin, replayA] = await Promise.all([
      jetqJson(["submit", "echo", "-p", `@${join(dir, "payload.json")}`]),
      jetqJson(["submit", "echo", "-p", "@-"], { stdin: '{"value":"from stdin"}' }),
      jetqJson(["submit", "echo", "-p", '{"value":"once"}', "--idempotency-key", "cli-once"]),
    ]);
    expect(fromFile).toMatchObject({ id: expect.stringMatching(UUID), status: "queued", created: true });
    const replay = await jetq(["submit", "echo", "-p", '{"value":"once"}', "-k", "cli-once"]);
    expect(replay.stdout.trim()).toBe(replayA.id);
    expect(replay.stderr).toContain("a task with this idempotency key exists already");
    for (const t of [id, fromFile.id, fromStdin.id, replayA.id]) await ended(t);
    expect((await taskStatus(stack, fromFile.id)).result).toEqual({ echoed: "from a file" });
    expect((await taskStatus(stack, fromStdin.id)).result).toEqual({ echoed: "from stdin" });

    const [status, statusJson, ls, lsJson, queue, queueJson] = await Promise.all([
      jetq(["status", id]),
      jetqJson(["status", id]),
      jetq(["ls", "--type", "echo", "--status", "succeeded"]),
      jetqJson(["ls", "--type", "echo", "--limit", "2"]),
      jetq(["queue"]),
      jetqJson(["queue"]),
    ]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^id: +${id}\\ntype: +echo\\npriority: +high\\nstatus: +succeeded\\nprogress: +100%`));
    expect(status.stdout).toMatch(/result: +\{\n +"echoed": "plain"\n +\}/);
    expect(SGR.test(status.stdout + status.stderr)).toBe(false); // not a terminal: no colour
    expect(statusJson).toMatchObject({ id, type: "echo", priority: "high", status: "succeeded", result: { echoed: "plain" } });

    expect(ls.code).toBe(0);
    const lines = ls.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID +TYPE +PRIORITY +STATUS +PROGRESS +ATTEMPTS +AGE$/);
    expect(lines.slice(1).map((l) => l.split(/ +/)[0]).sort()).toEqual([id, fromFile.id, fromStdin.id, replayA.id].sort());
    expect(lines.find((l) => l.startsWith(id))).toMatch(/echo +high +succeeded +100% +1\/\d+ +\d+s$/);
    expect(ls.stderr).toContain("4 in all");

    // A page of two, and the hint that names the next one; the next one follows from it.
    expect(lsJson.items).toHaveLength(2);
    expect(lsJson.nextCursor).toEqual(expect.any(String));
    const page1 = await jetq(["ls", "--type", "echo", "--limit", "2"]);
    const more = /more: jetq ls --type echo --limit 2 --cursor (\S+)/.exec(page1.stderr);
    expect(more, page1.stderr).not.toBeNull();
    const page2 = await jetqJson(["ls", "--type", "echo", "--limit", "2", "--cursor", more![1]!]);
    expect([...lsJson.items, ...page2.items].map((t: { id: string }) => t.id).sort()).toEqual([id, fromFile.id, fromStdin.id, replayA.id].sort());

    expect(queue.code).toBe(0);
    expect(queue.stdout).toMatch(/^depth: +\d+\nwaiting: +\d+\nin flight: +\d+\ndead-lettered: +\d+\nworkers: +1 \(\d+\/4 slots busy, \d+%\)\nby priority: +high \d+, normal \d+, low \d+/);
    expect(queueJson).toMatchObject({ depth: expect.any(Number), byPriority: { high: expect.any(Number) }, workers: { count: 1, slots: 4 } });
  });

  it("cancel: a running task (human and JSON), then a refusal for one that ended (exit 4); an unknown id is exit 4", async () => {
    const client = clientOf(stack);
    const [a, b] = await Promise.all([client.createTask({ type: "sleep", payload: { ms: 60_000 } }), client.createTask({ type: "sleep", payload: { ms: 60_000 } })]);
    await waitFor("both running", async () => (await taskStatus(stack, a.id)).status === "running" && (await taskStatus(stack, b.id)).status === "running");
    const [human, json] = await Promise.all([jetq(["cancel", a.id]), jetqJson(["cancel", b.id])]);
    expect(human).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^${a.id} cancelled \\(sleep, \\d+s old\\)\\n$`)) });
    expect(json).toMatchObject({ id: b.id, status: "cancelled" });
    const [again, againJson, unknown] = await Promise.all([jetq(["cancel", a.id]), jetq(["cancel", a.id, "--json"]), jetq(["status", randomUUID()])]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/^jetq: task \S+ has already cancelled \(409 already_finished\)\n  status: cancelled\n$/);
    expect(againJson.code).toBe(4);
    expect(JSON.parse(againJson.stderr)).toMatchObject({ status: 409, error: { code: "already_finished" } });
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/\(404 not_found\)/);
  });

  it("submit --wait: 0 when it succeeds, 1 with the error when it fails, 3 when it is cancelled; a bar on stderr", async () => {
    const [ok, okJson, failed, failedJson] = await Promise.all([
      jetq(["submit", "echo", "-p", '{"value":"waited","progressSteps":4,"stepMs":250}', "--wait"]),
      jetq(["submit", "echo", "-p", '{"value":"waited-json"}', "--wait", "--json"]),
      jetq(["submit", "poison", "--wait"]),
      jetq(["submit", "poison", "--wait", "--json"]),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/status: +succeeded\nprogress: +100% done/);
    // Not a terminal: the bar comes as lines, the last one at 100 %.
    const barLines = ok.stderr.split("\n").filter((l) => l.startsWith("echo "));
    expect(barLines.at(-1)).toMatch(/^echo [█░]+ 100% succeeded · done$/);
    expect(SGR.test(ok.stderr)).toBe(false);
    expect(okJson.code).toBe(0);
    expect(JSON.parse(okJson.stdout)).toMatchObject({ status: "succeeded", result: { echoed: "waited-json" } });
    expect(okJson.stderr).toBe(""); // --json off a terminal: no bar, no notes

    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/status: +failed \(dead-lettered\)[\s\S]*error: +bad_input: this input can never work/);
    expect(failed.stderr).toMatch(/jetq: task \S+ failed: bad_input: this input can never work\n$/);
    expect(failedJson.code).toBe(1);
    expect(JSON.parse(failedJson.stdout)).toMatchObject({ status: "failed", error: { code: "bad_input" } });

    // Cancelled while it is followed: exit 3.
    const waiting = jetq(["submit", "sleep", "-p", '{"ms":60000,"marker":"cli-wait-cancel"}', "--wait", "--json"]);
    const running = await waitFor("the sleep task running", async () => (await clientOf(stack).listTasks({ type: "sleep", status: "running" })).items[0]);
    await clientOf(stack).cancelTask(running.id);
    const cancelled = await waiting;
    expect(cancelled.code).toBe(3);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ id: running.id, status: "cancelled" });
    expect(cancelled.stderr).toContain(`task ${running.id} cancelled`);
  });

  it("watch streams a task's events to its end: lines for people, one JSON event per line for scripts; exit code = outcome", async () => {
    const client = clientOf(stack);
    const [sleeper, done, poisoned] = await Promise.all([
      client.createTask({ type: "sleep", payload: { ms: 60_000 } }),
      client.createTask({ type: "echo", payload: { value: "watched" } }),
      client.createTask({ type: "poison", payload: {} }),
    ]);
    // Ctrl-C while following: exit 130, the task goes on.
    const interrupted = startJetq(["submit", "sleep", "-p", '{"ms":60000}', "--wait"]);
    await waitFor("submit --wait following", () => /queued; following it/.test(interrupted.run.stderr), 60_000);
    interrupted.child.kill("SIGINT");
    // Streaming: the first line comes while the task runs, the next when it is cancelled.
    const watching = startJetq(["watch", sleeper.id]);
    await waitFor("watch's first line", () => /running/.test(watching.run.stdout), 60_000);
    await client.cancelTask(sleeper.id);
    const [human, json, failed] = await Promise.all([watching.done, jetq(["watch", done.id, "--json"]), jetq(["watch", poisoned.id])]);
    expect(human.code, human.stderr).toBe(3);
    const lines = human.stdout.trimEnd().split("\n");
    expect(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} +running +0%$/.test(l)), human.stdout).toBe(true);
    expect(lines.at(-1)).toMatch(/^\d\d:\d\d:\d\d\.\d{3} +cancelled +0%/);
    expect(human.stderr).toMatch(new RegExp(`jetq: task ${sleeper.id} cancelled`));
    // A task that has ended: its end event at once.
    expect(json.code).toBe(0);
    const events = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(events).toEqual([expect.objectContaining({ event: "end", data: expect.objectContaining({ id: done.id, status: "succeeded", result: { echoed: "watched" } }) })]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/failed +\d+% +bad_input: this input can never work\n$/);

    const stopped = await interrupted.done;
    expect(stopped.code).toBe(130);
    const id = /^(\S+) queued; following it/m.exec(stopped.stderr)![1]!;
    expect(stopped.stderr).toContain(`interrupted\n`);
    expect(stopped.stderr).toContain(`the task goes on; see it with: jetq status ${id}`);
    expect(["queued", "running"]).toContain((await taskStatus(stack, id)).status);
    await clientOf(stack).cancelTask(id);
  });

  it("logs prints a task's log, --follow streams it to the end (exit code = outcome), --json one line per log line; status lists failed attempts", async () => {
    const client = clientOf(stack);
    const chatty = await client.createTask({ type: "echo", payload: { value: "logs", progressSteps: 3, stepMs: 2_000 } }); // slow enough that the CLI starts well before the end
    const following = startJetq(["logs", chatty.id, "--follow"]);
    await waitFor("the first line while it runs", () => /finished step 1 of 3/.test(following.run.stdout), 60_000);
    expect(following.run.stdout).not.toMatch(/step 3 of 3/); // streamed, not printed at the end
    const followed = await following.done;
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout.trimEnd().split("\n")).toEqual([1, 2, 3].map((i) => expect.stringMatching(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  info   #1  finished step ${i} of 3  step=${i}$`))));

    const printed = await jetq(["logs", chatty.id]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(followed.stdout);
    const json = await jetqJson<{ items: { message: string; seq: number }[] }>(["logs", chatty.id]);
    expect(json.items.map((l) => l.message)).toEqual([1, 2, 3].map((i) => `finished step ${i} of 3`));
    const jsonLines = await jetq(["logs", chatty.id, "--follow", "--json"]);
    expect(jsonLines.stdout.trimEnd().split("\n").map((l) => JSON.parse(l).seq)).toEqual(json.items.map((l) => l.seq));

    const flaky = await client.createTask({ type: "flaky", payload: { succeedOnAttempt: 2 } });
    await ended(flaky.id);
    const status = await jetq(["status", flaky.id]);
    expect(status.stdout).toMatch(/failed attempts: +#1 \S+ handler_error: attempt 1 fails on purpose/);
    const failedLines = await jetq(["logs", flaky.id]);
    expect(failedLines.stdout).toMatch(/warn   #1  attempt 1 failed \(handler_error: attempt 1 fails on purpose\); retrying in/);

    const quiet = await client.createTask({ type: "echo", payload: { value: "quiet" } });
    await ended(quiet.id);
    const nothing = await jetq(["logs", quiet.id]);
    expect(nothing).toMatchObject({ code: 0, stdout: "" });
    expect(nothing.stderr).toMatch(/has logged nothing/);
    expect((await jetq(["logs", "00000000-0000-4000-8000-000000000000"])).code).toBe(4);
  });
});

describe("jetq: on a terminal", { timeout: SLOW }, () => {
  it("draws a live bar and colours, and no colour with NO_COLOR", async () => {
    const line = `${quote(process.execPath)} ${quote(CLI)} submit echo -p ${quote('{"value":"tty","progressSteps":3,"stepMs":300}')} --wait`;
    const [coloured, plain, piped] = await Promise.all([
      inTerminal(line, { JETQ_URL: stack.baseUrl }),
      inTerminal(line, { JETQ_URL: stack.baseUrl, NO_COLOR: "1" }),
      inTerminal(`${line} | cat`, { JETQ_URL: stack.baseUrl }), // stdout a pipe, stderr the terminal
    ]);
    expect(coloured.code, coloured.stdout).toBe(0);
    expect(coloured.stdout).toMatch(/\x1b\[32msucceeded\x1b\[39m/); // green status
    expect(coloured.stdout).toContain("100%");
    expect(coloured.stdout).toMatch(/\x1b\[\?25l/); // the bar hides the cursor while it redraws in place
    expect(plain.code, plain.stdout).toBe(0);
    expect(plain.stdout).toMatch(/echo [█░]+ 100% succeeded/);
    expect(SGR.test(plain.stdout)).toBe(false);
    // Each stream decides for itself: the bar (stderr) in colour, the task (stdout) plain.
    expect(piped.code, piped.stdout).toBe(0);
    expect(piped.stdout).toMatch(/\x1b\[32msucceeded\x1b\[39m · done/);
    expect(piped.stdout).toMatch(/\nstatus: +succeeded\r?\n/);
  });
});

describe("jetq dlq", { timeout: SLOW }, () => {
  it("ls, show, retry and purge, by id or in bulk, each with a dry run that changes nothing", async () => {
    const client = clientOf(stack);
    // Empty the DLQ of what earlier tests left, then fill it with two known entries.
    await client.dlq.deleteMany({ all: true });
    const a = await client.createTask({ type: "poison", payload: {} });
    const b = await client.createTask({ type: "poison", payload: {} });
    await waitFor("both dead-lettered", async () => (await client.dlq.list({ type: "poison" })).total === 2);

    const [ls, lsJson, show, showJson] = await Promise.all([jetq(["dlq", "ls"]), jetqJson(["dlq", "ls", "--type", "poison"]), jetq(["dlq", "show", a.id]), jetqJson(["dlq", "show", a.id])]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^ID +TYPE +REASON +ATTEMPTS +ERROR +AGE\n/);
    for (const id of [a.id, b.id]) expect(ls.stdout).toMatch(new RegExp(`${id} +poison +terminated +1 +bad_input: this input can never work +\\d+s`));
    expect(lsJson).toMatchObject({ total: 2 });
    expect(show.stdout).toMatch(new RegExp(`^id: +${a.id}\\ntype: +poison\\npriority: +normal\\nreason: +terminated`));
    expect(show.stdout).toMatch(/error: +bad_input: this input can never work\npayload: +\{\}/);
    expect(showJson).toMatchObject({ task: { id: a.id, type: "poison" }, error: { code: "bad_input" }, reason: "terminated" });

    // Dry runs: counts, nothing changes.
    const [dryType, dryAllJson, dryId, dryPurge] = await Promise.all([
      jetq(["dlq", "retry", "--type", "poison", "--dry-run"]),
      jetqJson(["dlq", "retry", "--all", "--dry-run"]),
      jetq(["dlq", "retry", a.id, "--dry-run"]),
      jetq(["dlq", "purge", "--all", "--dry-run"]),
    ]);
    expect(dryType).toMatchObject({ code: 0, stdout: "would retry 2 dead-lettered task(s) of type poison; nothing changed (dry run)\n" });
    expect(dryAllJson).toEqual({ dryRun: true, action: "retry", all: true, count: 2 });
    expect(dryId.stdout).toBe(`would retry ${a.id}; nothing changed (dry run)\n`);
    expect(dryPurge.stdout).toBe("would discard 2 dead-lettered task(s) of every type; nothing changed (dry run)\n");
    expect((await client.dlq.list({})).total).toBe(2);
    const missing = await jetq(["dlq", "retry", randomUUID(), "--dry-run"]);
    expect(missing.code).toBe(4);

    // Retry one by id: it runs again (and, being poison, comes back).
    const backAfter = (id: string, since: number) => waitFor(`${id} back in the DLQ`, async () => Date.parse((await client.dlq.get(id)).deadLetteredAt) > since, 60_000);
    const first = Date.now();
    const one = await jetq(["dlq", "retry", a.id]);
    expect(one).toMatchObject({ code: 0, stdout: `${a.id} queued again (poison)\n` });
    const oneJson = await jetqJson(["dlq", "retry", b.id]);
    expect(oneJson).toMatchObject({ id: b.id, type: "poison", status: "queued" });
    await Promise.all([backAfter(a.id, first), backAfter(b.id, first)]);
    // Retry in bulk, as JSON.
    const second = Date.now();
    const bulk = await jetqJson(["dlq", "retry", "--type", "poison"]);
    expect(bulk.retried.sort()).toEqual([a.id, b.id].sort());
    expect(bulk.errors).toEqual([]);
    await Promise.all([backAfter(a.id, second), backAfter(b.id, second)]);

    // Purge one by id, then the rest by type.
    const purgeOne = await jetq(["dlq", "purge", a.id]);
    expect(purgeOne).toMatchObject({ code: 0, stdout: `discarded ${a.id}\n` });
    expect(await jetqJson(["dlq", "purge", b.id])).toEqual({ deleted: 1 });
    expect(await jetqJson(["dlq", "purge", "--type", "poison"])).toEqual({ deleted: 0 });
    const purgeType = await jetq(["dlq", "purge", "--type", "poison"]);
    expect(purgeType).toMatchObject({ code: 0, stdout: "discarded 0 dead-lettered task(s) of type poison\n" });
    const gone = await jetq(["dlq", "purge", a.id, "--json"]);
    expect(gone.code).toBe(4);
    expect(JSON.parse(gone.stderr)).toMatchObject({ status: 404 });
    const empty = await jetq(["dlq", "ls"]);
    expect(empty).toMatchObject({ code: 0, stdout: "", stderr: "the dead-letter queue is empty\n" });
  });
});

describe("jetq books, search, quiz", { timeout: SLOW }, () => {
  const TEXT = [
    "# The delta",
    "The archivist Magdalena Okonkwo catalogues seventeen brass astrolabes recovered from the sunken merchant ship near the lighthouse.",
    "The monsoon floods replenish the soil every summer, leaving fertile silt across the rice paddies of the river delta.",
    "Caravans cross the salt flats, where the traders barter copper for indigo dye and dried apricots at the oasis market.",
    "The lighthouse keeper records every passing vessel in a leather-bound ledger kept beside the great brass lamp.",
  ].join("\n\n");

  it("books add --wait follows each file through both steps; ls, search, quiz and rm; a corrupt file fails with exit 1", async () => {
    const md = join(dir, "delta.md");
    const txt = join(dir, "caravans.txt");
    const corrupt = join(dir, "broken.pdf");
    await writeFile(md, TEXT);
    await writeFile(txt, TEXT.replace(/delta/g, "oasis").replace("# The oasis", "Caravans and oases"));
    await writeFile(corrupt, "%PDF-1.7\nthis is not really a PDF\n");

    const [added, failed] = await Promise.all([jetq(["books", "add", md, txt, "--wait"]), jetq(["books", "add", corrupt, "--wait", "--json"])]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^BOOK +FILE +STATUS +PAGES +CHUNKS\n/);
    expect(added.stdout).toMatch(/\S+ +delta\.md +ready +\d+ +\d+\n/);
    expect(added.stdout).toMatch(/\S+ +caravans\.txt +ready +\d+ +\d+\n/);
    // A bar per file (lines, off a terminal) that ends at ready. The steps in between show only if
    // a render falls while one runs: a small book on a fast machine is ready before the first.
    expect(added.stderr).toMatch(/delta\.md +[█░]+ 100% ready · \d+ pages?, \d+ chunks?/);
    expect(added.stderr).toMatch(/caravans\.txt +[█░]+ 100% ready/);
    const bookId = /^(\S+) +delta\.md/m.exec(added.stdout)![1]!;
    const otherId = /^(\S+) +caravans\.txt/m.exec(added.stdout)![1]!;

    expect(failed.code).toBe(1);
    const failedOut = JSON.parse(failed.stdout);
    expect(failedOut.books[0]).toMatchObject({ filename: "broken.pdf", outcome: "failed", tasks: [{ type: "process_book", status: "failed", error: { code: "corrupt_document" } }] });
    expect(failed.stderr).toMatch(/jetq: broken\.pdf: failed: corrupt_document: /);

    const [ls, lsJson, search, searchJson, quiz, quizJson] = await Promise.all([
      jetq(["books", "ls"]),
      jetqJson(["books", "ls"]),
      jetq(["search", "brass", "astrolabes", "-k", "2", "--book", bookId]),
      jetqJson(["search", "indigo dye apricots", "-k", "3"]),
      jetq(["quiz", bookId, "--questions", "2"]),
      jetqJson(["quiz", bookId, "-q", "1"]),
    ]);
    expect(ls.stdout).toMatch(/^BOOK +FILE +STATUS +PAGES +CHUNKS +AGE\n/);
    expect(ls.stdout).toMatch(new RegExp(`${bookId} +delta\\.md +ready +\\d+ +\\d+ +\\d+s`));
    expect(ls.stdout).toMatch(/broken\.pdf +failed/);
    expect(lsJson.items.map((b: { bookId: string }) => b.bookId)).toEqual(expect.arrayContaining([bookId, otherId]));

    expect(search.code, search.stderr).toBe(0);
    expect(search.stdout).toMatch(new RegExp(`^1\\. \\d\\.\\d{3} +.*page 1.*\\(book ${bookId}\\)\\n +.*seventeen brass astrolabes`));
    expect(searchJson.results[0]).toMatchObject({ text: expect.stringContaining("indigo dye") });

    expect(quiz.code, quiz.stderr).toBe(0);
    expect(quiz.stdout).toMatch(/^1\. .+\n( +[a-d]\) .+\n)+ +answer: .+ \(page \d+\).*\n2\. /);
    expect(quizJson).toMatchObject({ quizId: expect.any(String), bookId, questions: [expect.objectContaining({ question: expect.any(String), answer: expect.any(String) })] });

    const unknownBook = await jetq(["quiz", randomUUID()]);
    expect(unknownBook.code).toBe(4);
    expect(unknownBook.stderr).toMatch(/\(422 book_not_found\)/);

    const rm = await jetq(["books", "rm", otherId]);
    expect(rm).toMatchObject({ code: 0, stdout: `deleted ${otherId}\n` });
    const after = await jetqJson(["books", "ls"]);
    expect(after.items.map((b: { bookId: string }) => b.bookId)).not.toContain(otherId);
    const notAFile = await jetq(["books", "add", dir]);
    expect(notAFile).toMatchObject({ code: 2, stderr: `jetq: ${dir} is not a file\n` });
    expect(await jetqJson(["books", "rm", bookId])).toEqual({ deleted: [bookId] });
    expect((await jetqJson(["books", "ls"])).items.map((b: { bookId: string }) => b.bookId)).not.toContain(bookId);
  });
});

describe("jetq keys, against an API with access control on", { timeout: SLOW }, () => {
  let secured: Stack;
  const adminKey = `jetq_${randomUUID()}_${randomBytes(32).toString("hex")}`;
  beforeAll(async () => {
    secured = await startStack({ workers: 0, env: { JETQ_AUTH: "on", JETQ_ADMIN_KEY: adminKey, JETQ_AUTH_CACHE_TTL_MS: "0", JETQ_RATE_CREATES: "100", JETQ_TENANT_MAX_QUEUED: "7" } });
  }, SLOW);
  afterAll(async () => secured?.stop());
  const at = (extra: Record<string, string | undefined> = {}) => ({ env: { JETQ_URL: secured.baseUrl, ...extra } });

  it("create (the key once), ls, revoke; JETQ_API_KEY from the environment, --api-key over it; 401/403 are exit 6", async () => {
    const created = await jetq(["keys", "create", "--role", "viewer", "--name", "cli-test", "--expires-in", "1d"], at({ JETQ_API_KEY: adminKey }));
    expect(created.code, created.stderr).toBe(0);
    const viewerKey = created.stdout.trim();
    expect(viewerKey).toMatch(/^jetq_[0-9a-f-]{36}_[0-9a-f]{64}$/);
    expect(created.stderr).toMatch(/tenant default, role viewer, expires \d{4}-/);
    expect(created.stderr).toContain("it is never shown again");
    const keyId = viewerKey.slice(5, 41);

    const [ls, lsJson, asViewer, noKey, flagWins] = await Promise.all([
      jetq(["keys", "ls"], at({ JETQ_API_KEY: adminKey })),
      jetqJson(["keys", "ls"], at({ JETQ_API_KEY: adminKey })),
      jetq(["ls"], at({ JETQ_API_KEY: viewerKey })),
      jetq(["ls"], at()),
      jetq(["keys", "ls", "--api-key", viewerKey], at({ JETQ_API_KEY: adminKey })),
    ]);
    expect(ls.stdout).toMatch(/^ID +NAME +TENANT +ROLE +PREFIX +CREATED BY +AGE +EXPIRES\n/);
    expect(ls.stdout).toMatch(new RegExp(`${keyId} +cli-test +default +viewer +jetq_${keyId}_ +\\S+ +\\d+s +\\d{4}-`));
    expect(ls.stdout).not.toContain(viewerKey);
    expect(lsJson.items.find((k: { id: string }) => k.id === keyId)).toMatchObject({ role: "viewer", name: "cli-test" });
    expect(JSON.stringify(lsJson)).not.toContain(viewerKey.slice(42));
    expect(asViewer.code, asViewer.stderr).toBe(0); // a viewer reads
    expect(noKey.code).toBe(6);
    expect(noKey.stderr).toMatch(/\(401 \w+\): give an API key with --api-key or JETQ_API_KEY\n$/);
    expect(flagWins.code).toBe(6); // the viewer's key from --api-key, not the admin's from the environment
    expect(flagWins.stderr).toMatch(/\(403 forbidden\): this key's role may not do this\n  role: viewer, required: admin\n$/);

    const revoked = await jetq(["keys", "revoke", keyId], at({ JETQ_API_KEY: adminKey }));
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked ${keyId}\n` });
    const afterRevoke = await jetq(["ls"], at({ JETQ_API_KEY: viewerKey }));
    expect(afterRevoke.code).toBe(6);
    const twice = await jetq(["keys", "revoke", keyId, "--json"], at({ JETQ_API_KEY: adminKey }));
    expect(twice.code).toBe(4);
    expect(JSON.parse(twice.stderr)).toMatchObject({ status: 404 });

    // The same as JSON: the key (once) with its record, then its revocation.
    const made = await jetqJson(["keys", "create", "--role", "member", "--name", "cli-json"], at({ JETQ_API_KEY: adminKey }));
    expect(made).toMatchObject({ key: expect.stringMatching(/^jetq_[0-9a-f-]{36}_[0-9a-f]{64}$/), role: "member", name: "cli-json", tenant: "default" });
    const madeId = String(made.id ?? made.key.slice(5, 41));
    expect(await jetqJson(["keys", "revoke", madeId], at({ JETQ_API_KEY: adminKey }))).toEqual({ revoked: madeId });
    expect((await jetq(["ls"], at({ JETQ_API_KEY: made.key }))).code).toBe(6);
  });

  it("limits: the tenant's rates and quotas with what it used, as a table and as JSON", async () => {
    const env = at({ JETQ_API_KEY: adminKey });
    const created = await jetq(["submit", "sleep", "-p", '{"ms":60000}'], env);
    expect(created.code, created.stderr).toBe(0);
    const [table, json] = await Promise.all([jetq(["limits"], env), jetqJson(["limits"], env)]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^LIMIT +USED +MAX +SETTING\n/);
    // Windows are aligned to the clock: the submit may fall in the window before this one.
    const creates = /creates per 60 s +([01]) +100 +(\d+) left, resets .+ +JETQ_RATE_CREATES\n/.exec(table.stdout);
    expect(creates, table.stdout).not.toBeNull();
    expect(Number(creates![1]) + Number(creates![2])).toBe(100);
    expect(table.stdout).toMatch(/uploads per 60 s +0 +unlimited +JETQ_RATE_UPLOADS\n/);
    expect(table.stdout).toMatch(/stored book bytes +0 B +unlimited +JETQ_TENANT_MAX_BYTES\n/);
    expect(table.stdout).toMatch(/unfinished tasks +1 +7 +JETQ_TENANT_MAX_QUEUED\n/);
    expect(table.stderr).toBe("tenant default\n");
    expect(json).toMatchObject({ tenant: "default", quotas: { queuedTasks: { setting: "JETQ_TENANT_MAX_QUEUED", limit: 7, used: 1 } } });
  });

  it("says plainly when an API has no key endpoints", async () => {
    // The main stack's API is a jetq API; point the CLI at a path prefix that has no routes.
    const r = await jetq(["keys", "ls", "--url", `${stack.baseUrl}/nowhere`]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe(`jetq: the API at ${stack.baseUrl}/nowhere has no key endpoints (/api/keys): it is a jetq without API keys (no route for GET /nowhere/api/keys) (404 not_found)\n`);
  });
});

describe("jetq completion", { timeout: SLOW }, () => {
  it("prints bash and zsh scripts, and bash completes commands, subcommands and choices through them", async () => {
    const [bash, zsh] = await Promise.all([jetq(["completion", "bash"]), jetq(["completion", "zsh"], { env: { SHELL: "/bin/bash" } })]);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain("complete -o bashdefault -o default -F _jetq_yargs_completions jetq");
    expect(bash.stdout).toContain("jetq --get-yargs-completions");
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toMatch(/^#compdef jetq\n/);
    expect(zsh.stdout).toContain("compdef _jetq_yargs_completions jetq");

    // bash itself, with `jetq` on its PATH, sourcing the script and asking it to complete.
    const bin = join(dir, "bin");
    await rm(bin, { recursive: true, force: true });
    await mkdir(bin);
    await symlink(CLI, join(bin, "jetq"));
    const complete = (words: string[]) =>
      new Promise<string[]>((resolve, reject) => {
        const script = `source <(jetq completion bash); COMP_WORDS=(${words.map(quote).join(" ")}); COMP_CWORD=${words.length - 1}; _jetq_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`;
        const child = spawn("bash", ["-c", script], { env: { ...baseEnv(), PATH: `${bin}:${process.env.PATH}` } });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.on("error", reject);
        child.on("close", () => resolve(out.split("\n").filter(Boolean).sort()));
      });
    const [top, dlq, status] = await Promise.all([complete(["jetq", "s"]), complete(["jetq", "dlq", ""]), complete(["jetq", "ls", "--status", ""])]);
    expect(top).toEqual(["search", "status", "submit"]);
    expect(dlq).toEqual(expect.arrayContaining(["ls", "purge", "retry", "show"]));
    expect(status).toEqual(["cancelled", "failed", "queued", "retrying", "running", "succeeded"]);
  });
});
