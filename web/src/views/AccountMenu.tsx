// The owner's name in the header opens this: who is signed in, every browser signed in as them (from
// `mySessions`), a way to sign any other one out (`revokeSession` closes its websockets at once), and this
// browser's own sign-out. A disclosure with a non-modal dialog rather than an ARIA menu: it holds a list and
// sentences, not only commands. Escape, a click outside or tabbing out closes it.
import { useEffect, useId, useRef, useState, type FocusEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { requestError } from '../errors';
import { dateTime } from '../format';
import { MySessionsDocument, RevokeSessionDocument } from '../graphql/generated';
import { orderSessions, relativeTime, shortUserAgent, signedInWith, type Session } from '../sessions';

export function AccountMenu({ owner, role }: { owner: string; role: string }) {
  const [open, setOpen] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);
  const panelId = useId();

  useEffect(() => {
    if (!open) return;
    panel.current?.focus();
    const outside = (event: PointerEvent) => {
      if (!root.current?.contains(event.target as Node)) setOpen(false);
    };
    const escape = (event: KeyboardEvent) => {
      if (event.key !== 'Escape') return;
      event.preventDefault();
      setOpen(false);
      button.current?.focus();
    };
    document.addEventListener('pointerdown', outside);
    document.addEventListener('keydown', escape);
    return () => {
      document.removeEventListener('pointerdown', outside);
      document.removeEventListener('keydown', escape);
    };
  }, [open]);

  // Tabbing out closes it; focus dropping to the page (a removed button) does not.
  const focusLeft = (event: FocusEvent<HTMLDivElement>) => {
    const next = event.relatedTarget as Node | null;
    if (next && !root.current?.contains(next)) setOpen(false);
  };

  const signOut = async () => {
    await fetch('/auth/signout', { method: 'POST', credentials: 'same-origin' });
    window.location.assign('/signin');
  };

  return (
    <div className="account" ref={root} onBlur={focusLeft}>
      <button
        ref={button}
        type="button"
        className="account-button"
        aria-expanded={open}
        aria-controls={open ? panelId : undefined}
        onClick={() => setOpen(!open)}
      >
        <span className="sr-only">Account: </span>
        <span className="owner">{owner}</span>
        <span className="caret" aria-hidden="true" />
      </button>
      {open && (
        <div id={panelId} ref={panel} className="account-menu" role="dialog" aria-label="Account" tabIndex={-1}>
          <p className="account-who">
            Signed in as <strong>{owner}</strong> <span className="role">{role}</span>
          </p>
          <Sessions owner={owner} />
          <div className="account-actions">
            <span className="muted">This browser</span>
            <button type="button" className="button small secondary" onClick={signOut}>
              Sign out
            </button>
          </div>
        </div>
      )}
    </div>
  );
}

function Sessions({ owner }: { owner: string }) {
  const [sessions, refetch] = useQuery({ query: MySessionsDocument });
  const [revoking, revoke] = useMutation(RevokeSessionDocument);
  const [notice, setNotice] = useState<{ text: string; failed: boolean } | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const headingId = useId();
  const now = Date.now();

  const signOutOther = async (session: Session) => {
    setNotice(null);
    const result = await revoke({ id: session.id });
    const outcome = result.data?.revokeSession;
    if (!outcome) setNotice({ text: requestError(result.error), failed: true });
    else if (outcome.__typename === 'NotFound') setNotice({ text: outcome.message, failed: true });
    else setNotice({ text: `Signed out ${shortUserAgent(session.userAgent)}.`, failed: false });
    refetch({ requestPolicy: 'network-only' });
    // Its button is gone: keep the keyboard in the menu.
    heading.current?.focus();
  };

  const list = sessions.data ? orderSessions(sessions.data.mySessions) : [];
  return (
    <section aria-labelledby={headingId}>
      <h2 id={headingId} ref={heading} tabIndex={-1}>
        Your sessions
      </h2>
      {sessions.fetching && !sessions.data && <p className="muted">Loading…</p>}
      {sessions.error && (
        <p className="field-error" role="alert">
          Could not load your sessions: {requestError(sessions.error)}
        </p>
      )}
      {list.length > 0 && (
        <ul className="sessions">
          {list.map((session) => (
            <SessionItem
              key={session.id}
              session={session}
              now={now}
              busy={revoking.fetching}
              onSignOut={() => signOutOther(session)}
            />
          ))}
        </ul>
      )}
      {sessions.data && !list.some((session) => !session.current) && (
        <p className="muted">No other browser is signed in as {owner}.</p>
      )}
      <p className={notice?.failed ? 'field-error' : 'muted'} role="status">
        {notice?.text}
      </p>
    </section>
  );
}

function SessionItem({
  session,
  now,
  busy,
  onSignOut,
}: {
  session: Session;
  now: number;
  busy: boolean;
  onSignOut: () => void;
}) {
  const name = shortUserAgent(session.userAgent);
  const signedIn = relativeTime(session.createdAt, now);
  return (
    <li className="session" data-session-id={session.id} data-current={session.current ? 'true' : undefined}>
      <div className="session-head">
        <span className="session-name" title={session.userAgent ?? undefined}>
          {name}
        </span>
        {session.current ? (
          <span className="this-browser">this browser</span>
        ) : (
          <button type="button" className="button small secondary" disabled={busy} onClick={onSignOut}>
            Sign out<span className="sr-only"> {name}, signed in {signedIn}</span>
          </button>
        )}
      </div>
      <p className="session-facts">
        Signed in <time dateTime={session.createdAt} title={dateTime(session.createdAt)}>{signedIn}</time> with{' '}
        {signedInWith(session.signedInWith)}
        <br />
        Last seen <time dateTime={session.lastSeenAt} title={dateTime(session.lastSeenAt)}>
          {relativeTime(session.lastSeenAt, now)}
        </time>
        {session.clientAddress && <> · from {session.clientAddress}</>} · ends{' '}
        <time dateTime={session.expiresAt} title={dateTime(session.expiresAt)}>
          {relativeTime(session.expiresAt, now)}
        </time>
      </p>
    </li>
  );
}
