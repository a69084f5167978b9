import { useState, type FormEvent } from 'react';

const ERRORS: Record<string, string> = { 'invalid-token': 'That token is not valid. Check it and try again.' };

export function SignIn({ error }: { error: string | null }) {
  const [token, setToken] = useState('');
  const [message, setMessage] = useState<string | null>(error ? (ERRORS[error] ?? 'Sign-in failed.') : null);
  const [busy, setBusy] = useState(false);

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
      setMessage(response.status === 401 ? ERRORS['invalid-token']! : `Sign-in failed (HTTP ${response.status}).`);
    } catch {
      setMessage('The server cannot be reached.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="page narrow">
      <h1>Sign in to Storeplane</h1>
      <p>
        Open the address that <code>scripts/run</code> printed (it signs you in), or paste your API token. Without{' '}
        <code>STOREPLANE_API_TOKENS</code>, the development token is in <code>.data/dev-token</code>.
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
          aria-invalid={message ? true : undefined}
          aria-describedby={message ? 'token-error' : undefined}
          required
        />
        {message && (
          <p id="token-error" className="field-error" role="alert">
            {message}
          </p>
        )}
        <button type="submit" className="button" disabled={busy || token.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
