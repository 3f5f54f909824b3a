// The OpenAPI document is the truth: schemathesis (from PyPI, installed into a virtualenv outside
// the repository by scripts/python-tools.mjs) generates requests from /openapi.json, valid and
// invalid, sends them to a real API on a real NATS server, and checks every answer against the
// document with every check it has (status codes, content types, response schemas, valid data
// accepted, invalid data refused, 405s with Allow…). Zero failures, or the test prints its report.
//
// The stack has NO workers: a generated task is queued and never runs, so no source is ever
// fetched and no traffic leaves 127.0.0.1. Authentication is on, as a user runs it: every request
// carries an admin key (JETQ_ADMIN_KEY, which the API will not revoke), and schemathesis's
// ignored_auth check sends each operation without it and expects the documented 401.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newApiKey } from "../../api/auth/api-key.js";
import { JetqClient } from "../../client/index.js";
import { documentTaskTypes } from "../../library/task-types.js";
import { startStack, type Stack } from "../support/stack.js";

const HERE = resolve(fileURLToPath(import.meta.url), "..");
const ROOT = resolve(HERE, "..", "..");

// Bounded so the run takes about a minute and a half on 2 cores: examples per operation and phase
// (schemathesis's --max-time would not bound it: it repeats the phases until the budget is spent),
// and a time limit after which the run is stopped and fails with what it printed so far. A fixed
// seed makes a failure reproducible; JETQ_CONTRACT_SEED explores other inputs and
// JETQ_CONTRACT_EXAMPLES runs longer.
const MAX_EXAMPLES = Number(process.env.JETQ_CONTRACT_EXAMPLES || 40);
const SEED = process.env.JETQ_CONTRACT_SEED || "20261201";
const MAX_TIME_S = Number(process.env.JETQ_CONTRACT_MAX_TIME_S || 300);
const EVENTS = "/api/tasks/{id}/events";

interface Run {
  code: number | null;
  output: string;
}

function run(cmd: string, args: string[], opts: { cwd: string; timeoutMs: number; env?: Record<string, string> }): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env, NO_COLOR: "1", COLUMNS: "160" }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal) output += `\n[stopped by ${signal}: over the time limit of ${opts.timeoutMs / 1000} s]`;
      resolvePromise({ code, output });
    });
  });
}

/** "count  rule  operation" lines from the hook's log of dropped failures. */
async function droppedSummary(file: string): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  const counts = new Map<string, number>();
  for (const line of text.split("\n").filter(Boolean)) counts.set(line, (counts.get(line) ?? 0) + 1);
  return [...counts].map(([line, n]) => `  ${n}\t${line}`).sort().join("\n") || "  none";
}

describe("the OpenAPI document against the running API (schemathesis)", () => {
  let stack: Stack;
  let schemathesis: string;
  let workDir: string;
  let bookId: string;
  const adminKey = newApiKey().key;

  beforeAll(async () => {
    // Idempotent: the first run installs schemathesis (about 30 s), later ones find it at once.
    const installed = await run(process.execPath, [join(ROOT, "scripts", "python-tools.mjs")], { cwd: ROOT, timeoutMs: 9 * 60_000 });
    if (installed.code !== 0) throw new Error(`installing schemathesis failed:\n${installed.output}`);
    schemathesis = installed.output.trim().split("\n").pop()!;
    stack = await startStack({ workers: 0, documents: true, registry: documentTaskTypes(), env: { JETQ_AUTH: "on", JETQ_ADMIN_KEY: adminKey } });
    // A book for the generated create_quiz / generate_embeddings tasks to name (see the hooks).
    const upload = await new JetqClient({ baseUrl: stack.baseUrl, apiKey: adminKey }).books.upload([{ name: "astrolabes.txt", data: "Brass astrolabes measured the altitude of stars.\n", contentType: "text/plain" }]);
    bookId = upload.books[0]!.bookId;
    // schemathesis writes its example database and reports into its working directory.
    workDir = await mkdtemp(join(tmpdir(), "jetq-contract-"));
  }, 10 * 60_000);

  afterAll(async () => {
    await stack?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it(
    "answers every generated request as the document says (checks: all)",
    async () => {
      expect(stack.workers).toHaveLength(0); // nothing generated may ever run
      expect(new URL(stack.baseUrl).hostname).toBe("127.0.0.1");
      const droppedLog = join(workDir, "dropped.tsv");
      const hooks = { SCHEMATHESIS_HOOKS: "schemathesis_hooks", PYTHONPATH: HERE, PYTHONDONTWRITEBYTECODE: "1", JETQ_CONTRACT_DROPPED_LOG: droppedLog, JETQ_CONTRACT_BOOK_ID: bookId };
      const common = ["--header", `Authorization: Bearer ${adminKey}`, "--checks", "all", "--max-examples", String(MAX_EXAMPLES), "--seed", SEED, "--workers", "1", "--request-timeout", "20", "--generation-database", "none", "--no-color"];
      const schema = `${stack.baseUrl}/openapi.json`;
      // A task's event stream stays open while the task is queued, and with no worker it stays
      // queued: the stateful phase (which follows a created task's links) would wait on it for
      // ever, keep-alives beating any request timeout. So the stream gets its own run without it.
      const config = ["--config-file", join(HERE, "schemathesis.toml")];
      const main = await run(schemathesis, [...config, "run", schema, ...common, "--exclude-path", EVENTS], { cwd: workDir, timeoutMs: MAX_TIME_S * 1000, env: hooks });
      const events = await run(schemathesis, [...config, "run", schema, ...common, "--include-path", EVENTS, "--phases", "examples,coverage,fuzzing"], { cwd: workDir, timeoutMs: 60_000, env: hooks });
      console.info(`refusals not counted as failures (rules a JSON Schema cannot state; see schemathesis_hooks.py):\n${await droppedSummary(droppedLog)}`);
      for (const [name, r] of [["every operation but the event stream", main], ["the event stream", events]] as const) {
        if (r.code !== 0) console.error(`schemathesis (${name}) exited with ${r.code}; its report:\n${r.output}`);
      }
      expect([main.code, events.code], "schemathesis reported failures: its report is printed above").toEqual([0, 0]);
    },
    (MAX_TIME_S + 180) * 1000,
  );
});
