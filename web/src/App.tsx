import { createContext, useContext, useEffect, useState, useSyncExternalStore, type MouseEvent, type ReactNode } from 'react';
import { Provider } from 'urql';
import { Connection, type ConnectionState } from './graphql/client';
import { navigate, useRoute } from './router';
import { AccountMenu } from './views/AccountMenu';
import { SignIn } from './views/SignIn';
import { StoreDetail } from './views/StoreDetail';
import { StoreList } from './views/StoreList';

const ConnectionContext = createContext<Connection | null>(null);

export function useConnection(): Connection {
  const connection = useContext(ConnectionContext);
  if (!connection) throw new Error('useConnection outside the signed-in app');
  return connection;
}

export function useConnectionState(connection: Connection): ConnectionState {
  return useSyncExternalStore(
    (listener) => connection.subscribe(listener),
    () => connection.state,
  );
}

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  const follow = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={follow} className={className}>
      {children}
    </a>
  );
}

let shared: Connection | null = null;

function sharedConnection(): Connection {
  shared ??= new Connection();
  return shared;
}

type Session = { state: 'checking' } | { state: 'signed-in'; owner: string; role: string } | { state: 'signed-out' };

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session>({ state: 'checking' });

  useEffect(() => {
    let cancelled = false;
    fetch('/auth/session', { credentials: 'same-origin' })
      .then(async (response) => {
        if (cancelled) return;
        if (!response.ok) return setSession({ state: 'signed-out' });
        const { owner, role } = (await response.json()) as { owner: string; role: string };
        if (!cancelled) setSession({ state: 'signed-in', owner, role });
      })
      .catch(() => !cancelled && setSession({ state: 'signed-out' }));
    return () => {
      cancelled = true;
    };
  }, []);

  if (route.page === 'signin' || session.state === 'signed-out') {
    const error = route.page === 'signin' ? route.error : null;
    return <SignIn key={error} error={error} />;
  }
  if (session.state === 'checking') {
    return (
      <main className="page" aria-busy="true">
        <p className="muted">Loading…</p>
      </main>
    );
  }
  return <SignedIn owner={session.owner} role={session.role} />;
}

function SignedIn({ owner, role }: { owner: string; role: string }) {
  const route = useRoute();
  // One connection for the page's lifetime (a module-level one: StrictMode renders twice in development).
  const connection = sharedConnection();
  useEffect(() => connection.watchWakeUps(), [connection]);
  return (
    <ConnectionContext.Provider value={connection}>
      <Provider value={connection.urql}>
        <Header owner={owner} role={role} connection={connection} />
        <main className="page" id="main">
          {route.page === 'store' ? <StoreDetail key={route.id} id={route.id} /> : <StoreList />}
        </main>
      </Provider>
    </ConnectionContext.Provider>
  );
}

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  'signed-out': 'Signed out',
};

function Header({ owner, role, connection }: { owner: string; role: string; connection: Connection }) {
  const state = useConnectionState(connection);
  return (
    <header className="topbar">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <Link to="/" className="brand">
        Storeplane
      </Link>
      <span className={`connection connection-${state}`} role="status" aria-live="polite" data-testid="connection">
        <span className="dot" aria-hidden="true" />
        {CONNECTION_TEXT[state]}
      </span>
      {state === 'signed-out' && (
        <a href="/signin" className="button small">
          Sign in again
        </a>
      )}
      <AccountMenu owner={owner} role={role} />
    </header>
  );
}
