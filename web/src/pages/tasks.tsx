// Tasks: the listing with filters (status, type, priority, time range) and search (by id,
// idempotency key or payload field), paged by the server's cursor, the first page kept live.
import { useState } from "preact/hooks";
import type { TaskListOptions, TaskPage, TaskStatusView } from "../../../client/index.js";
import { Link } from "../components/link.js";
import { StatusBadge } from "../components/status-badge.js";
import { fmtTime, shortId } from "../format.js";
import { describeError, usePoll } from "../live.js";
import { navigate, type Route } from "../router.js";
import type { Session } from "../session.js";

const STATUSES = ["queued", "running", "retrying", "succeeded", "failed", "cancelled"];
const PRIORITIES = ["high", "normal", "low"];
const SEARCH_BY = { id: "Task id", idempotencyKey: "Idempotency key", payload: "Payload field (path=value)" } as const;
type SearchBy = keyof typeof SEARCH_BY;
const PAGE_SIZE = 25;
type Listed = { kind: "page"; page: TaskPage } | { kind: "single"; task: TaskStatusView | null };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** datetime-local gives local time without a zone; the API takes ISO with one. */
const isoOf = (local: string) => (local ? new Date(local).toISOString() : undefined);

export function Tasks({ session, route, types }: { session: Session; route: Route; types: string[] }) {
  const { client } = session;
  const q = route.query;
  const filters = { status: q.get("status") ?? "", type: q.get("type") ?? "", priority: q.get("priority") ?? "", after: q.get("after") ?? "", before: q.get("before") ?? "", by: (q.get("by") as SearchBy) || "payload", text: q.get("q") ?? "" };
  const [draft, setDraft] = useState(filters);
  // Cursors of the pages before this one, and this page's: "previous" pops one.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const key = route.query.toString();

  const page = usePoll<Listed>(
    async () => {
      if (filters.text && filters.by === "id") {
        if (!UUID.test(filters.text.trim())) return { kind: "single", task: null };
        try {
          return { kind: "single", task: await client.getTask(filters.text.trim()) };
        } catch (err) {
          if ((err as { status?: number }).status === 404) return { kind: "single", task: null };
          throw err;
        }
      }
      const opts: TaskListOptions = { limit: PAGE_SIZE };
      if (cursor) opts.cursor = cursor;
      if (filters.status) opts.status = filters.status as TaskListOptions["status"];
      if (filters.type) opts.type = filters.type;
      if (filters.priority) opts.priority = filters.priority as TaskListOptions["priority"];
      if (filters.after) opts.createdAfter = isoOf(filters.after);
      if (filters.before) opts.createdBefore = isoOf(filters.before);
      if (filters.text && filters.by === "idempotencyKey") opts.idempotencyKey = filters.text;
      if (filters.text && filters.by === "payload") {
        if (!filters.text.includes("=")) throw new Error("Write a payload search as path=value, for example bookId=… or options.lang=en.");
        opts.payload = filters.text;
      }
      return { kind: "page", page: await client.listTasks(opts) };
    },
    cursor ? 0 : 3_000, // only the first page is live: later pages hold their place
    [client, key, cursor],
  );

  const apply = (e: Event) => {
    e.preventDefault();
    const params = new URLSearchParams();
    if (draft.status) params.set("status", draft.status);
    if (draft.type) params.set("type", draft.type);
    if (draft.priority) params.set("priority", draft.priority);
    if (draft.after) params.set("after", draft.after);
    if (draft.before) params.set("before", draft.before);
    if (draft.text) {
      params.set("by", draft.by);
      params.set("q", draft.text);
    }
    setCursors([]);
    navigate(`/tasks${params.size ? `?${params}` : ""}`);
  };
  const set = (field: keyof typeof draft) => (e: Event) => setDraft({ ...draft, [field]: (e.target as HTMLInputElement).value });

  const data = page.data;
  const items: TaskStatusView[] = !data ? [] : data.kind === "single" ? (data.task ? [data.task] : []) : data.page.items;
  const next = data?.kind === "page" ? data.page.nextCursor : null;

  return (
    <main id="main">
      <h1>Tasks</h1>
      <form class="filters panel" onSubmit={apply} aria-label="Filter and search tasks">
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" value={draft.status} onChange={set("status")}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-type">Type</label>
          <select id="f-type" value={draft.type} onChange={set("type")}>
            <option value="">any</option>
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-priority">Priority</label>
          <select id="f-priority" value={draft.priority} onChange={set("priority")}>
            <option value="">any</option>
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-after">Created after</label>
          <input id="f-after" type="datetime-local" value={draft.after} onInput={set("after")} />
        </div>
        <div class="field">
          <label for="f-before">Created before</label>
          <input id="f-before" type="datetime-local" value={draft.before} onInput={set("before")} />
        </div>
        <div class="field">
          <label for="f-by">Search by</label>
          <select id="f-by" value={draft.by} onChange={set("by")}>
            {Object.entries(SEARCH_BY).map(([k, label]) => (
              <option key={k} value={k}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div class="field grow">
          <label for="f-q">Search</label>
          <input id="f-q" type="search" value={draft.text} onInput={set("text")} placeholder={draft.by === "payload" ? "bookId=…" : draft.by === "id" ? "a task id" : "an idempotency key"} />
        </div>
        <div class="field">
          <button type="submit" class="btn btn-primary">
            Apply
          </button>
        </div>
      </form>

      {page.error && (
        <p role="alert" class="error">
          {describeError(page.error)}
        </p>
      )}
      <p class="muted" aria-live="polite" data-testid="task-count">
        {data === undefined ? "Loading…" : data.kind === "single" ? (data.task ? "1 task" : "No task has this id.") : `${items.length} on this page${data.page.total !== null ? ` of ${data.page.totalExact ? "" : "about "}${data.page.total}` : ""}${!cursor ? " · live" : ""}`}
      </p>
      <div class="table-wrap">
        <table class="table" data-testid="task-table">
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col" class="hide-narrow">Priority</th>
              <th scope="col" class="hide-narrow">Progress</th>
              <th scope="col" class="hide-narrow">Created</th>
            </tr>
          </thead>
          <tbody>
            {items.map((t) => (
              <tr key={t.id}>
                <td class="mono">
                  <Link to={`/tasks/${t.id}`}>{shortId(t.id)}</Link>
                </td>
                <td>{t.type}</td>
                <td>
                  <StatusBadge status={t.status} />
                </td>
                <td class="hide-narrow">{t.priority}</td>
                <td class="hide-narrow">{Math.round(t.progress.percent)} %</td>
                <td class="hide-narrow">{fmtTime(t.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data?.kind === "page" && data.page.items.length === 0 && data.page.nextCursor && <p class="muted">No match in this stretch of the log; read on with Next.</p>}
      <nav class="pager" aria-label="Pages">
        <button type="button" class="btn" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous
        </button>
        <button type="button" class="btn" disabled={!next} onClick={() => next && setCursors([...cursors, next])}>
          Next
        </button>
      </nav>
    </main>
  );
}
