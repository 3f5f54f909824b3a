// The shell: who is signed in, the navigation, the banner that says when the API or NATS is
// away, and the page of the current route.
import { useEffect, useMemo, useState } from "preact/hooks";
import { JetqClientError } from "../../client/index.js";
import { Link } from "./components/link.js";
import { describeError, useHealth, type Health } from "./live.js";
import { useRoute } from "./router.js";
import { clientFor, storedKey, storeKey, type Session } from "./session.js";
import { Books } from "./pages/books.js";
import { DeadLetters } from "./pages/dead-letters.js";
import { Overview } from "./pages/overview.js";
import { SignIn } from "./pages/sign-in.js";
import { TaskDetail } from "./pages/task-detail.js";
import { Tasks } from "./pages/tasks.js";

const NAV = [
  { to: "/", label: "Overview", match: (p: string) => p === "/" },
  { to: "/tasks", label: "Tasks", match: (p: string) => p.startsWith("/tasks") },
  { to: "/dlq", label: "Dead letters", match: (p: string) => p.startsWith("/dlq") },
  { to: "/books", label: "Books", match: (p: string) => p.startsWith("/books") },
];

const BANNER: Record<Exclude<Health, "ok" | "unknown">, string> = {
  nats_down: "Degraded: the API cannot reach NATS. Nothing can be queued or read until it is back; this page retries by itself.",
  api_down: "Degraded: the API cannot be reached. This page retries by itself.",
};

/** The task types the server knows, from its OpenAPI document (public). */
function useTaskTypes(session: Session | undefined): string[] {
  const [types, setTypes] = useState<string[]>([]);
  useEffect(() => {
    if (!session) return;
    session.client.openapi().then(
      (doc) => {
        const variants = ((doc as any).components?.schemas?.TaskCreate?.oneOf ?? []) as { properties?: { type?: { const?: string; enum?: string[] } } }[];
        setTypes(variants.map((v) => v.properties?.type?.const ?? v.properties?.type?.enum?.[0]).filter((t): t is string => !!t));
      },
      () => setTypes([]),
    );
  }, [session]);
  return types;
}

type Boot = { state: "checking" } | { state: "signin"; notice?: string } | { state: "ready"; session: Session } | { state: "error"; message: string };

export function App() {
  const [boot, setBoot] = useState<Boot>({ state: "checking" });
  const anonymous = useMemo(() => clientFor(undefined), []);
  const session = boot.state === "ready" ? boot.session : undefined;
  const health = useHealth(session?.client ?? anonymous);
  const route = useRoute();
  const types = useTaskTypes(session);

  // Who are we: the stored key if any, else nobody (a server with JETQ_AUTH=off says admin).
  const check = async () => {
    const key = storedKey();
    const client = clientFor(key);
    try {
      const me = await client.whoami();
      setBoot({ state: "ready", session: { client, me, signedIn: me.via !== "auth_off" } });
    } catch (err) {
      if (err instanceof JetqClientError && err.status === 401) {
        if (key) storeKey(undefined);
        setBoot({ state: "signin", ...(key ? { notice: `Signed out: ${err.message}` } : {}) });
      } else setBoot({ state: "error", message: describeError(err) });
    }
  };
  useEffect(() => void check(), []);
  // Retry the first check once the API is back.
  useEffect(() => {
    if (boot.state === "error" && health === "ok") void check();
  }, [health, boot.state]);

  const signOut = () => {
    storeKey(undefined);
    setBoot({ state: "signin" });
  };

  const banner = health === "nats_down" || health === "api_down" ? BANNER[health] : undefined;
  const path = route.path;
  const taskId = /^\/tasks\/([^/]+)$/.exec(path)?.[1];

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">jetq</span>
        {session && (
          <nav aria-label="Main">
            <ul>
              {NAV.map((n) => (
                <li key={n.to}>
                  <Link to={n.to} current={n.match(path)}>
                    {n.label}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {session && (
          <span class="who">
            <span data-testid="role">{session.me.role}</span>
            {session.me.via === "auth_off" ? " (auth off)" : ` · ${session.me.tenant}`}
            {session.signedIn && (
              <button type="button" class="btn btn-small" onClick={signOut}>
                Sign out
              </button>
            )}
          </span>
        )}
      </header>
      {banner && (
        <div class="banner" role="alert" data-testid="degraded-banner" data-health={health}>
          {banner}
        </div>
      )}
      {boot.state === "checking" && (
        <main id="main">
          <p class="muted">Connecting…</p>
        </main>
      )}
      {boot.state === "error" && (
        <main id="main">
          <p role="alert" class="error">
            {boot.message} Retrying when the API answers.
          </p>
        </main>
      )}
      {boot.state === "signin" && <SignIn onSignedIn={(s) => setBoot({ state: "ready", session: s })} {...(boot.notice ? { notice: boot.notice } : {})} />}
      {session &&
        (taskId ? (
          <TaskDetail session={session} id={decodeURIComponent(taskId)} />
        ) : path === "/" ? (
          <Overview session={session} />
        ) : path === "/tasks" ? (
          <Tasks session={session} route={route} types={types} />
        ) : path === "/dlq" ? (
          <DeadLetters session={session} types={types} />
        ) : path === "/books" ? (
          <Books session={session} />
        ) : (
          <main id="main">
            <h1>Not found</h1>
            <p>
              No page here. <Link to="/">Back to the overview</Link>
            </p>
          </main>
        ))}
    </>
  );
}
