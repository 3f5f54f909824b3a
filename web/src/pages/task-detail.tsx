// One task: status, progress bar, attempts and errors with their times, payload and result, and
// its log lines and events streaming live (SSE through the client); cancel, and re-run as a new task.
import { useEffect, useState } from "preact/hooks";
import type { TaskDetailView, TaskLogLineView } from "../../../client/index.js";
import { ActionButton } from "../components/action-button.js";
import { StatusBadge } from "../components/status-badge.js";
import { fmtTime, json } from "../format.js";
import { describeError } from "../live.js";
import { navigate } from "../router.js";
import type { Session } from "../session.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

interface LogLine {
  at: string;
  event: string;
  text: string;
}

type TaskError = NonNullable<TaskDetailView["error"]>;
type FailedAttempt = NonNullable<TaskDetailView["failedAttempts"]>[number];
/** Lines the page holds; the server keeps up to JETQ_TASK_LOG_LINES a task. */
const LOG_LINES_SHOWN = 1_000;

const fieldsText = (fields: Record<string, unknown> | undefined) =>
  fields && Object.keys(fields).length ? Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ") : "";

export function TaskDetail({ session, id }: { session: Session; id: string }) {
  const { client, me } = session;
  const [task, setTask] = useState<TaskDetailView | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [log, setLog] = useState<LogLine[]>([]);
  const [errors, setErrors] = useState<TaskError[]>([]);
  const [attemptsFailed, setAttemptsFailed] = useState<FailedAttempt[]>([]);
  const [lines, setLines] = useState<TaskLogLineView[]>([]);
  const [streaming, setStreaming] = useState(false);
  const [actionError, setActionError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const noteError = (e: TaskError | undefined) => {
    if (!e) return;
    setErrors((list) => (list.some((x) => x.attempt === e.attempt && x.message === e.message) ? list : [...list, e]));
  };

  useEffect(() => {
    const abort = new AbortController();
    let lastEventId: string | undefined;
    setTask(undefined);
    setLog([]);
    setErrors([]);
    setAttemptsFailed([]);
    setLines([]);
    const addLine = (line: TaskLogLineView) => setLines((l) => (l.length && l[l.length - 1]!.seq >= line.seq ? l : [...l.slice(-(LOG_LINES_SHOWN - 1)), line]));
    const seed = (t: TaskDetailView) => {
      setTask(t);
      setAttemptsFailed(t.failedAttempts ?? []);
      noteError(t.error);
    };
    const follow = async () => {
      // The full record once (payload included), then the stream; reconnect with Last-Event-ID.
      while (!abort.signal.aborted) {
        try {
          seed(await client.getTask(id));
          setLoadError(undefined);
          setStreaming(true);
          for await (const e of client.watchTask(id, { logs: true, signal: abort.signal, ...(lastEventId ? { lastEventId } : {}) })) {
            if (e.id) lastEventId = e.id;
            if (e.event === "log") {
              addLine(e.data);
              continue;
            }
            if (e.event === "gone") {
              setLog((l) => [...l, { at: new Date().toISOString(), event: "gone", text: "the task's record expired or was removed" }]);
              break;
            }
            const v = e.data;
            // Events carry the status view without what the task was created with: keep that.
            setTask((prev) => ({ ...v, ...(prev?.payload !== undefined ? { payload: prev.payload } : {}), ...(prev?.idempotencyKey ? { idempotencyKey: prev.idempotencyKey } : {}) }));
            noteError(v.error);
            const text = `${v.status} · ${Math.round(v.progress.percent)} %${v.progress.message ? ` · ${v.progress.message}` : ""}${v.error && e.event !== "progress" ? ` · ${v.error.code}: ${v.error.message}` : ""}`;
            setLog((l) => [...l.slice(-199), { at: new Date().toISOString(), event: e.event, text }]);
          }
          setStreaming(false);
          if (!abort.signal.aborted) seed(await client.getTask(id)); // the final record, with its result and failed attempts
          return;
        } catch (err) {
          if (abort.signal.aborted) return;
          setStreaming(false);
          if ((err as { status?: number }).status === 404) {
            setLoadError("No task has this id (or its record has expired).");
            return;
          }
          setLoadError(describeError(err));
          await new Promise((r) => setTimeout(r, 2_000));
        }
      }
    };
    void follow();
    return () => abort.abort();
  }, [client, id]);

  const act = async (what: () => Promise<void>) => {
    setBusy(true);
    setActionError(undefined);
    try {
      await what();
    } catch (err) {
      setActionError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const cancel = () => act(async () => setTask({ ...(await client.cancelTask(id)), ...(task?.payload !== undefined ? { payload: task.payload } : {}) }));
  const rerun = () =>
    act(async () => {
      const made = await client.createTask({ type: task!.type, payload: task!.payload ?? {}, priority: task!.priority });
      navigate(`/tasks/${made.id}`);
    });

  if (!task)
    return (
      <main id="main">
        <h1>Task</h1>
        <p role={loadError ? "alert" : "status"} class={loadError ? "error" : "muted"}>
          {loadError ?? "Loading…"}
        </p>
      </main>
    );
  const done = TERMINAL.has(task.status);
  return (
    <main id="main">
      <h1>
        Task <span class="mono wrap">{task.id}</span>
      </h1>
      {loadError && (
        <p role="alert" class="error">
          {loadError} Reconnecting…
        </p>
      )}
      <section class="panel" aria-labelledby="state-h">
        <h2 id="state-h">State</h2>
        <p>
          <StatusBadge status={task.status} /> <span data-testid="task-type">{task.type}</span> · priority {task.priority}
          {task.deadLettered && " · in the dead-letter queue"}
        </p>
        <label for="task-progress">Progress</label>
        <div class="progress-row">
          <progress id="task-progress" max={100} value={task.progress.percent} data-testid="progress" aria-valuetext={`${Math.round(task.progress.percent)} %${task.progress.message ? `: ${task.progress.message}` : ""}`} />
          <span data-testid="progress-text">
            {Math.round(task.progress.percent)} %{task.progress.message ? ` · ${task.progress.message}` : ""}
          </span>
        </div>
        <dl class="facts">
          <div>
            <dt>Attempts</dt>
            <dd data-testid="attempts">
              {task.attempts}
              {task.maxAttempts ? ` of ${task.maxAttempts}` : ""}
            </dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{fmtTime(task.createdAt)}</dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>{fmtTime(task.startedAt)}</dd>
          </div>
          <div>
            <dt>Finished</dt>
            <dd>{fmtTime(task.finishedAt)}</dd>
          </div>
          {task.nextAttemptAt && (
            <div>
              <dt>Next attempt</dt>
              <dd>{fmtTime(task.nextAttemptAt)}</dd>
            </div>
          )}
          {task.idempotencyKey && (
            <div>
              <dt>Idempotency key</dt>
              <dd class="mono wrap">{task.idempotencyKey}</dd>
            </div>
          )}
        </dl>
        <div class="actions">
          {!done && (
            <ActionButton role={me.role} need="member" kind="danger" onClick={cancel} busy={busy}>
              Cancel task
            </ActionButton>
          )}
          {done && (
            <ActionButton role={me.role} need="member" kind="primary" onClick={rerun} busy={busy} disabled={task.payload === undefined}>
              Re-run as a new task
            </ActionButton>
          )}
        </div>
        {actionError && (
          <p role="alert" class="error">
            {actionError}
          </p>
        )}
      </section>

      <section class="panel" aria-labelledby="errors-h">
        <h2 id="errors-h">Attempts and errors</h2>
        {attemptsFailed.length === 0 && errors.length === 0 ? (
          <p class="muted">No attempt has failed.</p>
        ) : (
          <ol class="errors" data-testid="attempt-errors">
            {attemptsFailed.map((a) => (
              <li key={`a${a.attempt}`}>
                attempt {a.attempt}: <strong>{a.code}</strong> {a.message}
                {a.retryable ? "" : " (not retried)"} <span class="muted">· {fmtTime(a.startedAt)} → {fmtTime(a.failedAt)} on {a.workerId}</span>
              </li>
            ))}
            {/* An error the stream showed before the record's list caught up, or one with no attempt (dead-lettered after crashes). */}
            {errors
              .filter((e) => !attemptsFailed.some((a) => a.attempt === e.attempt && a.message === e.message))
              .map((e, i) => (
                <li key={`e${i}`}>
                  attempt {e.attempt ?? "?"}: <strong>{e.code}</strong> {e.message}
                  {e.retryable === false ? " (not retried)" : ""}
                </li>
              ))}
          </ol>
        )}
      </section>

      <section class="panel" aria-labelledby="task-log-h">
        <h2 id="task-log-h">Log {streaming && <span class="live-dot">live</span>}</h2>
        {lines.length === 0 ? (
          <p class="muted" data-testid="task-log-empty">
            {done ? "The task logged nothing." : "Nothing logged yet."}
          </p>
        ) : (
          <ol class="log" data-testid="task-log" aria-live="polite" aria-relevant="additions">
            {lines.map((l) => (
              <li key={l.seq} class={`log-${l.level}`}>
                <time dateTime={l.at}>{new Date(l.at).toLocaleTimeString(undefined, { hour12: false })}</time> <strong>{l.level}</strong>
                {l.attempt ? ` #${l.attempt}` : ""} {l.message}
                {fieldsText(l.fields) && <span class="muted"> {fieldsText(l.fields)}</span>}
              </li>
            ))}
          </ol>
        )}
      </section>

      <section class="panel" aria-labelledby="log-h">
        <h2 id="log-h">Events {streaming && <span class="live-dot">live</span>}</h2>
        <ol class="log" data-testid="event-log" aria-live="polite" aria-relevant="additions">
          {log.map((l, i) => (
            <li key={i}>
              <time dateTime={l.at}>{new Date(l.at).toLocaleTimeString(undefined, { hour12: false })}</time> <strong>{l.event}</strong> {l.text}
            </li>
          ))}
        </ol>
      </section>

      <section class="panel two" aria-label="Payload and result">
        <div>
          <h2>Payload</h2>
          <pre class="code" data-testid="payload" tabIndex={0}>
            {json(task.payload)}
          </pre>
        </div>
        <div>
          <h2>Result</h2>
          <pre class="code" data-testid="result" tabIndex={0}>
            {task.result === undefined ? (done ? "none" : "not yet") : json(task.result)}
          </pre>
        </div>
      </section>
    </main>
  );
}
