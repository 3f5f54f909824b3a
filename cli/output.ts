// Everything the CLI prints goes through here: tables and field lists for people, JSON for
// scripts (--json), colour only on a terminal and never with NO_COLOR, errors as one line on
// stderr (or the server's error body as JSON), hints on stderr so stdout stays clean.
import { stripVTControlCharacters, styleText } from "node:util";
import { JetqClientError } from "../client/errors.js";
import type { TaskDetailView, TaskLogLineView, TaskStatusView } from "../client/index.js";
import { UsageError } from "./exit-codes.js";

type Style = Parameters<typeof styleText>[0];

/** Where output goes, and what it may contain. */
export interface OutputOptions {
  json: boolean;
  /** Colour on stdout: a terminal, and colour allowed. */
  colour: boolean;
  /** Colour on stderr, likewise. */
  colourErr: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

const STATUS_STYLE: Record<string, Style> = {
  queued: "blue",
  running: "cyan",
  retrying: "magenta",
  succeeded: "green",
  ready: "green",
  failed: "red",
  cancelled: "yellow",
  processing: "cyan",
};

export class Output {
  readonly json: boolean;
  private readonly colour: boolean;
  private readonly colourErr: boolean;
  private readonly stdout: NodeJS.WritableStream;
  private readonly stderr: NodeJS.WritableStream;

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.colour = options.colour;
    this.colourErr = options.colourErr;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
  }

  // Whether to colour is decided here, per stream: styleText's own check looks at stdout only.
  /** Text styled for stdout (unchanged without colour). */
  paint(style: Style, text: string): string {
    return this.colour ? styleText(style, text, { validateStream: false }) : text;
  }
  /** Text styled for stderr (the progress bars, errors). */
  paintErr(style: Style, text: string): string {
    return this.colourErr ? styleText(style, text, { validateStream: false }) : text;
  }
  /** A status word in its colour (for stdout). */
  status(status: string): string {
    const style = STATUS_STYLE[status];
    return style ? this.paint(style, status) : status;
  }
  statusErr(status: string): string {
    const style = STATUS_STYLE[status];
    return style ? this.paintErr(style, status) : status;
  }

  line(text = ""): void {
    this.stdout.write(`${text}\n`);
  }
  /** A value for scripts: pretty JSON on stdout. */
  printJson(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
  /** One JSON value per line (a stream of events). */
  printJsonLine(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value)}\n`);
  }
  /** A hint for a person on stderr (none with --json: scripts read the JSON). */
  note(text: string): void {
    if (!this.json) this.stderr.write(`${text}\n`);
  }
  /** A warning on stderr, whatever the mode. */
  warn(text: string): void {
    this.stderr.write(`${this.paintErr("yellow", "jetq:")} ${text}\n`);
  }

  /** Columns aligned with two spaces between them, the header dimmed; "no rows" said on stderr. */
  table(head: string[], rows: string[][], empty = "nothing to show"): void {
    if (!rows.length) {
      this.note(empty);
      return;
    }
    const widths = head.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ""))));
    const render = (cells: string[]) =>
      cells
        .map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat(widths[i]! - visibleLength(c))))
        .join("  ")
        .trimEnd();
    this.line(this.paint("bold", render(head)));
    for (const r of rows) this.line(render(r));
  }

  /** Label: value lines, the labels aligned. */
  fields(pairs: [string, string | undefined][]): void {
    const shown = pairs.filter((p): p is [string, string] => p[1] !== undefined);
    const width = Math.max(...shown.map(([k]) => k.length)) + 1;
    for (const [k, v] of shown) this.line(`${this.paint("bold", `${k}:`.padEnd(width))} ${v.replace(/\n/g, `\n${" ".repeat(width + 1)}`)}`);
  }

  /** Prints what went wrong: one line (and its details) for a person, the error body for a script. */
  error(err: unknown, apiUrl: string | undefined): void {
    if (this.json) {
      const body = err instanceof JetqClientError ? { ...err.body, status: err.status } : { error: { code: err instanceof UsageError ? "usage" : "cli_error", message: messageOf(err), details: null } };
      this.stderr.write(`${JSON.stringify(body)}\n`);
      return;
    }
    const { line, details } = describeError(err, apiUrl);
    this.stderr.write(`${this.paintErr("red", "jetq:")} ${line}\n`);
    for (const d of details) this.stderr.write(`  ${d}\n`);
  }
}

/** An error as a person reads it: one line, then the server's details if it gave any. */
export function describeError(err: unknown, apiUrl: string | undefined): { line: string; details: string[] } {
  if (!(err instanceof JetqClientError)) return { line: messageOf(err), details: [] };
  const where = apiUrl ?? "the API";
  if (err.status === 0) return { line: `cannot reach the jetq API at ${where}: ${err.message.replace(/^\S+ \S+: /, "")} (set JETQ_URL or --url)`, details: [] };
  if (err.code === "invalid_response") return { line: `the server at ${where} did not answer like a jetq API (${err.status}): ${err.message}`, details: detailLines(err.details) };
  const hint = err.status === 401 ? ": give an API key with --api-key or JETQ_API_KEY" : err.status === 403 ? ": this key's role may not do this" : err.retryAfterSeconds !== undefined ? `: try again in ${err.retryAfterSeconds} s` : "";
  return { line: `${err.message} (${err.status} ${err.code})${hint}`, details: detailLines(err.details) };
}

function detailLines(details: unknown): string[] {
  if (details === null || details === undefined) return [];
  if (Array.isArray(details))
    return details.map((d) => {
      const issue = d as { path?: unknown; message?: unknown };
      return typeof issue?.message === "string" ? `${issue.path ? `${String(issue.path)}: ` : ""}${issue.message}` : JSON.stringify(d);
    });
  if (typeof details === "object") return [Object.entries(details).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ")];
  return [String(details)];
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const visibleLength = (s: string) => stripVTControlCharacters(s).length;

/** A long text cut to `max` characters, on one line. */
export function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** How long ago an ISO time was, shortly: 42s, 5m, 3h, 2d. */
export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "-";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** Milliseconds between two ISO times, as a person reads them: 340 ms, 4.2 s, 3 m 20 s. */
export function duration(fromIso: string | undefined, toIso: string | undefined): string | undefined {
  if (!fromIso || !toIso) return undefined;
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A task's progress as one short text: `40% step 2 of 5`. */
export function progressText(task: TaskStatusView): string {
  const pct = `${Math.round(task.progress.percent)}%`;
  return task.progress.message ? `${pct} ${task.progress.message}` : pct;
}

/** The rows of a task table (ls, and what other commands show of several tasks). */
export const TASK_COLUMNS = ["ID", "TYPE", "PRIORITY", "STATUS", "PROGRESS", "ATTEMPTS", "AGE"];
export function taskRow(out: Output, t: TaskStatusView): string[] {
  return [t.id, t.type, t.priority, out.status(t.status), `${Math.round(t.progress.percent)}%`, `${t.attempts}${t.maxAttempts ? `/${t.maxAttempts}` : ""}`, age(t.createdAt)];
}

const LEVEL_STYLE: Record<string, Style> = { error: "red", warn: "yellow", info: "dim" };

/** One line of a task's log: time, level, attempt, message, fields. */
export function logLine(out: Output, l: TaskLogLineView): string {
  const fields = l.fields && Object.keys(l.fields).length ? `  ${Object.entries(l.fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ")}` : "";
  return `${l.at.slice(11, 23)}  ${out.paint(LEVEL_STYLE[l.level] ?? "dim", l.level.padEnd(5))}  #${l.attempt ?? "?"}  ${l.message}${fields}`;
}

/** One task in full: status, progress, attempts, times, result or error. */
export function printTask(out: Output, t: TaskStatusView & Pick<TaskDetailView, "failedAttempts">): void {
  out.fields([
    ["id", t.id],
    ["type", t.type],
    ["priority", t.priority],
    ["status", out.status(t.status) + (t.deadLettered ? out.paint("red", " (dead-lettered)") : "")],
    ["progress", progressText(t)],
    ["attempts", `${t.attempts}${t.maxAttempts ? ` of ${t.maxAttempts}` : ""}`],
    ["created", t.createdAt],
    ["started", t.startedAt],
    ["finished", t.finishedAt ? `${t.finishedAt} (${duration(t.startedAt ?? t.createdAt, t.finishedAt)})` : undefined],
    ["next attempt", t.nextAttemptAt],
    ["error", t.error ? `${out.paint("red", t.error.code)}: ${t.error.message}` : undefined],
    ["failed attempts", t.failedAttempts?.length ? t.failedAttempts.map((a) => `#${a.attempt} ${a.failedAt} ${a.code}: ${clip(a.message, 200)} (${a.workerId})`).join("\n") : undefined],
    ["result", t.result !== undefined ? JSON.stringify(t.result, null, 2) : undefined],
  ]);
}
