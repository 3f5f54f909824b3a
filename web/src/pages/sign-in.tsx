// Sign in with an API key: checked against the server (GET /api/whoami) before it is kept, in
// sessionStorage only.
import { useState } from "preact/hooks";
import { describeError } from "../live.js";
import { clientFor, storeKey, type Session } from "../session.js";

export function SignIn({ onSignedIn, notice }: { onSignedIn: (s: Session) => void; notice?: string }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const client = clientFor(key.trim());
    try {
      const me = await client.whoami();
      storeKey(key.trim());
      onSignedIn({ client, me, signedIn: true });
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>Sign in to jetq</h1>
      {notice && <p class="notice">{notice}</p>}
      <form onSubmit={submit}>
        <label for="api-key">API key</label>
        <input id="api-key" name="api-key" type="password" autocomplete="off" spellcheck={false} required placeholder="jetq_…" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} aria-describedby="api-key-help" />
        <p id="api-key-help" class="help">
          The key is kept in this tab only (sessionStorage) and sent to this server alone. An admin makes keys with <code>jetq keys create</code>.
        </p>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" class="btn btn-primary" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
