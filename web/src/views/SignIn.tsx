import { useEffect, useState, type FormEvent } from 'react';
import { formError, NEW_LINK_COMMAND, redirectError, retryAfterSeconds, type SignInMessage } from '../signin';

export function SignIn({ error }: { error: string | null }) {
  const [token, setToken] = useState('');
  const [message, setMessage] = useState<SignInMessage | null>(() => redirectError(error));
  const [busy, setBusy] = useState(false);
  // After a 429, the form stays disabled until the server's Retry-After has passed.
  const [waiting, setWaiting] = useState(0);

  useEffect(() => {
    if (waiting <= 0) return;
    const timer = setTimeout(() => setWaiting(0), waiting * 1000);
    return () => clearTimeout(timer);
  }, [waiting]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      const response = await fetch('/auth/session', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      if (response.ok) {
        window.location.assign('/');
        return;
      }
      const retryAfter = response.status === 429 ? retryAfterSeconds(response.headers.get('Retry-After')) : null;
      setMessage(formError(response.status, retryAfter));
      if (response.status === 429) setWaiting(retryAfter ?? 60);
    } catch {
      setMessage({ text: 'The server cannot be reached.', aboutToken: false });
    } finally {
      setBusy(false);
    }
  };

  const invalid = message?.aboutToken === true;
  return (
    <main className="page narrow">
      <h1>Sign in to Storeplane</h1>
      <p>
        Open the one-time sign-in link that <code>scripts/run</code> printed: it signs one browser in, once, within a
        few minutes. <code>{NEW_LINK_COMMAND}</code> prints a new one (with the server’s <code>STOREPLANE_*</code>{' '}
        settings; in a checkout it is <code>.venv/bin/storeplane</code>).
      </p>
      <p>
        Or paste an API token. Without <code>STOREPLANE_API_TOKENS</code>, the development token is in{' '}
        <code>.data/dev-token</code>.
      </p>
      <form onSubmit={submit} className="card form" noValidate>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="current-password"
          value={token}
          onChange={(event) => setToken(event.target.value)}
          aria-invalid={invalid ? true : undefined}
          aria-describedby={message ? 'signin-error' : undefined}
          required
        />
        {message && (
          <p id="signin-error" className="field-error" role="alert">
            {message.text}
            {message.command && (
              <>
                {' '}
                <code>{message.command}</code>
              </>
            )}
          </p>
        )}
        <button type="submit" className="button" disabled={busy || waiting > 0 || token.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
