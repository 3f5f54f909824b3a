// Books: upload several files (drag and drop or a file picker), each followed through
// process_book → generate_embeddings; the library with its books; search; a quiz from a book.
import { useEffect, useRef, useState } from "preact/hooks";
import type { BookPage, JetqClient, SearchResults, TaskStatusView } from "../../../client/index.js";
import { ActionButton } from "../components/action-button.js";
import { Link } from "../components/link.js";
import { StatusBadge } from "../components/status-badge.js";
import { fmtTime, shortId } from "../format.js";
import { describeError, usePoll } from "../live.js";
import type { Session } from "../session.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

interface Step {
  name: "process_book" | "generate_embeddings";
  taskId?: string;
  task?: TaskStatusView;
}
interface Upload {
  key: string;
  filename: string;
  bookId?: string;
  duplicate?: boolean;
  error?: string;
  steps: Step[];
}

/** Follows an upload's two tasks: the first from the upload's answer, the second from its result. */
function useUploadTracking(client: JetqClient, uploads: Upload[], setUploads: (f: (u: Upload[]) => Upload[]) => void) {
  const current = useRef(uploads);
  current.current = uploads;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const tick = async () => {
      for (const u of current.current) {
        for (const [i, step] of u.steps.entries()) {
          if (!step.taskId || (step.task && TERMINAL.has(step.task.status))) continue;
          try {
            const task = await client.getTask(step.taskId);
            const embeddingTaskId = step.name === "process_book" && task.status === "succeeded" ? (task.result as { embeddingTaskId?: string } | undefined)?.embeddingTaskId : undefined;
            if (stopped) return;
            setUploads((all) =>
              all.map((x) =>
                x.key !== u.key
                  ? x
                  : { ...x, steps: x.steps.map((s, j) => (j === i ? { ...s, task } : j === i + 1 && embeddingTaskId && !s.taskId ? { ...s, taskId: embeddingTaskId } : s)) },
              ),
            );
          } catch {
            /* the next tick tries again; the banner says when the API is away */
          }
        }
      }
      if (!stopped) timer = setTimeout(tick, 700);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [client]);
}

function StepView({ step }: { step: Step }) {
  const t = step.task;
  const state = !step.taskId ? "waiting" : !t ? "queued" : t.status;
  return (
    <li class="step" data-step={step.name} data-state={state}>
      <span class="step-name">{step.name}</span> <StatusBadge status={state} />
      {t && !TERMINAL.has(t.status) && <progress max={100} value={t.progress.percent} aria-label={`${step.name} progress`} />}
      {t?.error && <span class="error-text"> {t.error.message}</span>}
      {step.taskId && (
        <>
          {" "}
          <Link to={`/tasks/${step.taskId}`}>task {shortId(step.taskId)}</Link>
        </>
      )}
    </li>
  );
}

export function Books({ session }: { session: Session }) {
  const { client, me } = session;
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [dragging, setDragging] = useState(false);
  const [uploadError, setUploadError] = useState<string | undefined>();
  const fileInput = useRef<HTMLInputElement>(null);
  useUploadTracking(client, uploads, setUploads);
  const [cursors, setCursors] = useState<string[]>([]);
  const books = usePoll<BookPage>(() => client.books.list({ limit: 20, ...(cursors.at(-1) ? { cursor: cursors.at(-1) } : {}) }), 3_000, [client, cursors.at(-1)]);

  const upload = async (files: File[]) => {
    if (files.length === 0) return;
    setUploadError(undefined);
    try {
      const res = await client.books.upload(files.map((f) => ({ name: f.name, data: f, contentType: f.type || undefined })));
      const made: Upload[] = res.books.map((b, i) => ({
        key: `${Date.now()}-${i}-${b.bookId}`,
        filename: b.filename,
        bookId: b.bookId,
        ...(b.duplicate ? { duplicate: true } : {}),
        steps: [{ name: "process_book", ...(b.taskId ? { taskId: b.taskId } : {}) }, { name: "generate_embeddings" }],
      }));
      setUploads((u) => [...made, ...u]);
      books.refresh();
    } catch (err) {
      setUploadError(describeError(err));
    }
  };
  const canUpload = me.role !== "viewer";

  return (
    <main id="main">
      <h1>Books</h1>
      <section class="panel" aria-labelledby="upload-h">
        <h2 id="upload-h">Upload</h2>
        <div
          class={`dropzone${dragging ? " dragging" : ""}${canUpload ? "" : " disabled"}`}
          data-testid="dropzone"
          onDragOver={(e) => {
            e.preventDefault();
            if (canUpload) setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e) => {
            e.preventDefault();
            setDragging(false);
            if (canUpload) void upload([...(e.dataTransfer?.files ?? [])]);
          }}
        >
          <p>Drop PDF, EPUB, HTML, Markdown or text files here, or</p>
          <label for="book-files" class="visually-hidden">
            Book files
          </label>
          <input id="book-files" ref={fileInput} type="file" multiple class="visually-hidden" onChange={(e) => void upload([...((e.target as HTMLInputElement).files ?? [])])} disabled={!canUpload} />
          <ActionButton role={me.role} need="member" kind="primary" onClick={() => fileInput.current?.click()}>
            Choose files…
          </ActionButton>
        </div>
        {uploadError && (
          <p role="alert" class="error">
            {uploadError}
          </p>
        )}
        {uploads.length > 0 && (
          <ul class="uploads" data-testid="uploads" aria-live="polite">
            {uploads.map((u) => (
              <li key={u.key} class="upload">
                <strong>{u.filename}</strong>
                {u.duplicate && " (already in the library: the existing book)"}
                <ol class="steps">
                  {u.steps.map((s) => (
                    <StepView key={s.name} step={s} />
                  ))}
                </ol>
              </li>
            ))}
          </ul>
        )}
      </section>

      <SearchPanel client={client} />

      <section class="panel" aria-labelledby="library-h">
        <h2 id="library-h">Library</h2>
        {books.error && (
          <p role="alert" class="error">
            {describeError(books.error)}
          </p>
        )}
        <ul class="entries" data-testid="book-list">
          {books.data?.items.map((b) => (
            <BookRow key={b.bookId} session={session} book={b} />
          ))}
        </ul>
        {books.data && books.data.items.length === 0 && <p class="muted">No books yet.</p>}
        <nav class="pager" aria-label="Pages of books">
          <button type="button" class="btn" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
            Previous
          </button>
          <button type="button" class="btn" disabled={!books.data?.nextCursor} onClick={() => books.data?.nextCursor && setCursors([...cursors, books.data.nextCursor])}>
            Next
          </button>
        </nav>
      </section>
    </main>
  );
}

function SearchPanel({ client }: { client: JetqClient }) {
  const [q, setQ] = useState("");
  const [results, setResults] = useState<SearchResults | undefined>();
  const [error, setError] = useState<string | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      setResults(await client.search(q, { k: 5 }));
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <section class="panel" aria-labelledby="search-h">
      <h2 id="search-h">Search the library</h2>
      <form class="inline-form" onSubmit={submit} role="search">
        <label for="search-q">Search text</label>
        <input id="search-q" type="search" required value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        <button type="submit" class="btn btn-primary">
          Search
        </button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {results && (
        <ol class="results" data-testid="search-results" aria-live="polite">
          {results.results.length === 0 && <li class="muted">Nothing matches.</li>}
          {results.results.map((r) => (
            <li key={r.chunkId}>
              <p class="muted">
                {r.title ?? shortId(r.bookId)} · page {r.page} · score {r.score.toFixed(3)}
              </p>
              <p>{r.text.length > 400 ? `${r.text.slice(0, 400)}…` : r.text}</p>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

interface QuizQuestion {
  question: string;
  choices: string[];
  answer: string;
  page: number;
}

function BookRow({ session, book }: { session: Session; book: BookPage["items"][number] }) {
  const { client, me } = session;
  const [quizTask, setQuizTask] = useState<string | undefined>();
  const [quiz, setQuiz] = useState<QuizQuestion[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const task = usePoll<TaskStatusView | undefined>(async () => (quizTask ? client.getTask(quizTask) : undefined), quizTask && !quiz ? 700 : 0, [client, quizTask, !quiz]);
  useEffect(() => {
    const t = task.data;
    if (!t || !TERMINAL.has(t.status) || quiz) return;
    if (t.status !== "succeeded") return setError(t.error ? `${t.error.code}: ${t.error.message}` : `the quiz task ended ${t.status}`);
    const quizId = (t.result as { quizId?: string } | undefined)?.quizId;
    if (quizId) client.quizzes.get(quizId).then((qz) => setQuiz(((qz as { questions?: QuizQuestion[] }).questions ?? []) as QuizQuestion[]), (err: unknown) => setError(describeError(err)));
  }, [task.data]);
  const make = async () => {
    setError(undefined);
    setQuiz(undefined);
    try {
      setQuizTask((await client.createTask({ type: "create_quiz", payload: { bookId: book.bookId, questionCount: 5 } })).id);
    } catch (err) {
      setError(describeError(err));
    }
  };
  const title = (book as { title?: string }).title ?? book.filename ?? book.bookId;
  return (
    <li class="entry" data-book={book.bookId}>
      <p>
        <strong>{title}</strong>
        {book.filename && book.filename !== title && <span class="muted"> ({book.filename})</span>} <StatusBadge status={book.status} /> {book.pages !== undefined && `· ${book.pages} pages`} {book.chunks !== undefined && `· ${book.chunks} chunks`} · {fmtTime(book.createdAt)}
      </p>
      <div class="actions">
        <ActionButton role={me.role} need="member" onClick={make} disabled={book.status !== "ready" || (!!quizTask && !quiz && !error)}>
          Make a quiz
        </ActionButton>
        {quizTask && !quiz && !error && <span class="muted">Making the quiz… {task.data ? `${task.data.status}` : ""}</span>}
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {quiz && (
        <ol class="quiz" data-testid="quiz">
          {quiz.map((q, i) => (
            <li key={i}>
              <p>{q.question}</p>
              <ul>
                {q.choices.map((c) => (
                  <li key={c}>{c}</li>
                ))}
              </ul>
              <details>
                <summary>Answer</summary>
                {q.answer} (page {q.page})
              </details>
            </li>
          ))}
        </ol>
      )}
    </li>
  );
}
