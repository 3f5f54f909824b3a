// Dead letters: a page at a time by the server's cursor (never every entry), inspect one, retry
// or discard one, and retry or discard all by filter after the server's dry-run count.
import { useEffect, useRef, useState } from "preact/hooks";
import type { DeadLetterPage, DlqBulkFilter } from "../../../client/index.js";
import { ActionButton } from "../components/action-button.js";
import { Link } from "../components/link.js";
import { fmtTime, json, shortId } from "../format.js";
import { describeError, usePoll } from "../live.js";
import type { Session } from "../session.js";

const PAGE_SIZE = 20;

type Bulk = { action: "retry" | "discard"; filter: DlqBulkFilter; count: number };

export function DeadLetters({ session, types }: { session: Session; types: string[] }) {
  const { client, me } = session;
  const [type, setType] = useState("");
  // The pages walked so far: each one's cursor (none for the first) and the position it starts at.
  const [trail, setTrail] = useState<{ cursor?: string; start: number }[]>([{ start: 0 }]);
  const here = trail[trail.length - 1]!;
  const [bulk, setBulk] = useState<Bulk | undefined>();
  const [message, setMessage] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const decisionRef = useRef<HTMLButtonElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  // Focus moves to the decision once the dry run has answered. Not autoFocus: the button mounts
  // while the dry run is still busy (disabled), and a disabled button cannot take focus.
  const opened = bulk !== undefined && !busy;
  useEffect(() => {
    if (!opened) return;
    (decisionRef.current && !decisionRef.current.disabled ? decisionRef.current : cancelRef.current)?.focus();
  }, [opened]);
  const page = usePoll<DeadLetterPage>(() => client.dlq.list({ limit: PAGE_SIZE, ...(here.cursor ? { cursor: here.cursor } : {}), ...(type ? { type } : {}) }), 3_000, [client, type, here]);

  const run = async (what: () => Promise<string | void>) => {
    setBusy(true);
    setError(undefined);
    setMessage(undefined);
    try {
      const said = await what();
      if (said) setMessage(said);
      page.refresh();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const filter: DlqBulkFilter = type ? { type } : { all: true };
  const what = type ? `dead-lettered ${type} task` : "dead-lettered task";
  // The dry run: how many entries the filter matches now; nothing changes until confirmed.
  const dryRun = (action: Bulk["action"]) =>
    run(async () => {
      const counted = action === "retry" ? await client.dlq.retryMany({ ...filter, dryRun: true }) : await client.dlq.deleteMany({ ...filter, dryRun: true });
      setBulk({ action, filter, count: counted.matched ?? 0 });
    });
  const confirm = () =>
    run(async () => {
      const b = bulk!;
      setBulk(undefined);
      if (b.action === "retry") {
        const r = await client.dlq.retryMany(b.filter);
        return `Retried ${r.retried.length}${r.errors.length ? `; ${r.errors.length} could not be retried` : ""}.`;
      }
      const d = await client.dlq.deleteMany(b.filter);
      return `Discarded ${d.deleted}.`;
    });

  const data = page.data;
  return (
    <main id="main">
      <h1>Dead letters</h1>
      <div class="filters panel">
        <div class="field">
          <label for="dlq-type">Type</label>
          <select
            id="dlq-type"
            value={type}
            onChange={(e) => {
              setType((e.target as HTMLSelectElement).value);
              setTrail([{ start: 0 }]);
              setBulk(undefined);
            }}
          >
            <option value="">all types</option>
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div class="field actions">
          <ActionButton role={me.role} need="admin" onClick={() => dryRun("retry")} busy={busy}>
            Retry all matching…
          </ActionButton>
          <ActionButton role={me.role} need="admin" kind="danger" onClick={() => dryRun("discard")} busy={busy}>
            Discard all matching…
          </ActionButton>
        </div>
      </div>
      {bulk && (
        <div class="panel confirm" role="alertdialog" aria-labelledby="bulk-h" aria-describedby="bulk-d" data-testid="bulk-confirm">
          <h2 id="bulk-h">{bulk.action === "retry" ? "Retry" : "Discard"} by filter</h2>
          <p id="bulk-d" data-testid="dry-run-count">
            Dry run: {bulk.count} {what}
            {bulk.count === 1 ? "" : "s"} match{bulk.count === 1 ? "es" : ""} now; nothing has changed yet.
          </p>
          <div class="actions">
            <button type="button" class={`btn ${bulk.action === "retry" ? "btn-primary" : "btn-danger"}`} onClick={confirm} disabled={busy || bulk.count === 0} ref={decisionRef}>
              {bulk.action === "retry" ? "Retry" : "Discard"} {bulk.count}
            </button>
            <button type="button" class="btn" onClick={() => setBulk(undefined)} ref={cancelRef}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {message && (
        <p role="status" class="notice" data-testid="dlq-message">
          {message}
        </p>
      )}
      {(error || page.error) && (
        <p role="alert" class="error">
          {error ?? describeError(page.error)}
        </p>
      )}
      <p class="muted" data-testid="dlq-count">
        {data ? `${data.total} dead-lettered${data.total ? ` · ${here.start + 1}–${here.start + data.items.length}` : ""}` : "Loading…"}
      </p>
      <ul class="entries" data-testid="dlq-list">
        {data?.items.map((d) => (
          <li key={d.task.id} class="entry">
            <details>
              <summary>
                <span class="mono">{shortId(d.task.id)}</span> <strong>{d.task.type}</strong> · {d.error.code} · {d.attempts} attempt{d.attempts === 1 ? "" : "s"} · {fmtTime(d.deadLetteredAt)}
              </summary>
              <p>
                <Link to={`/tasks/${d.task.id}`}>Task page</Link> · reason {d.reason === "max_deliveries" ? "attempts exhausted" : "given up by its worker"}
              </p>
              <p class="error-text">{d.error.message}</p>
              <h3>Payload</h3>
              <pre class="code" tabIndex={0}>
                {json(d.task.payload)}
              </pre>
            </details>
            <div class="actions">
              <ActionButton role={me.role} need="member" onClick={() => run(async () => {
                    await client.dlq.retry(d.task.id);
                    return `Retried ${shortId(d.task.id)}.`;
                  })} busy={busy}>
                Retry
              </ActionButton>
              <ActionButton role={me.role} need="member" kind="danger" onClick={() => run(async () => {
                    await client.dlq.delete(d.task.id);
                    return `Discarded ${shortId(d.task.id)}.`;
                  })} busy={busy}>
                Discard
              </ActionButton>
            </div>
          </li>
        ))}
      </ul>
      <nav class="pager" aria-label="Pages">
        <button type="button" class="btn" disabled={trail.length === 1} onClick={() => setTrail(trail.slice(0, -1))}>
          Previous
        </button>
        <button
          type="button"
          class="btn"
          disabled={!data?.nextCursor || here.start + data.items.length >= data.total}
          onClick={() => data?.nextCursor && setTrail([...trail, { cursor: data.nextCursor, start: here.start + data.items.length }])}
        >
          Next
        </button>
      </nav>
    </main>
  );
}
