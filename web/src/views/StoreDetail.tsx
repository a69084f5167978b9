import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useMutation } from 'urql';
import { Link, useConnection } from '../App';
import { requestError } from '../errors';
import { dateTime, plainFailure, SOURCE_LABEL, time } from '../format';
import { DeleteStoreDocument, RetryStoreDocument } from '../graphql/generated';
import { navigate } from '../router';
import { useStoreDetail, type DetailStore } from '../useStoreDetail';
import { StatusBadge } from './StatusBadge';

export function StoreDetail({ id }: { id: string }) {
  const connection = useConnection();
  const { state, applyStore } = useStoreDetail(connection, id);
  const [retry, runRetry] = useMutation(RetryStoreDocument);
  const [actionError, setActionError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState(false);
  const { store, timeline } = state;

  if (state.phase === 'loading') {
    return (
      <p className="muted" aria-busy="true">
        Loading the store…
      </p>
    );
  }
  if (state.phase === 'error' && !store) {
    return (
      <div className="card" role="alert">
        <p>Could not load this store: {state.error}</p>
        <Link to="/">Back to the stores</Link>
      </div>
    );
  }
  if (state.phase === 'missing' || !store) {
    return (
      <div className="card empty">
        <p>This store does not exist or has been deleted.</p>
        <Link to="/">Back to the stores</Link>
      </div>
    );
  }

  const doRetry = async () => {
    setActionError(null);
    const result = await runRetry({ id: store.id });
    const outcome = result.data?.retryStore;
    if (!outcome) setActionError(requestError(result.error));
    else if (outcome.__typename === 'RetryStoreSuccess') applyStore(outcome.store);
    else setActionError(outcome.message);
  };

  const failure = store.status === 'FAILED' ? plainFailure(store.failureReason) : null;
  return (
    <article className="detail" aria-labelledby="store-title">
      <p>
        <Link to="/">← All stores</Link>
      </p>
      <div className="toolbar">
        <h1 id="store-title">{store.name}</h1>
        <StatusBadge store={store} />
      </div>
      {store.status === 'DELETED' && (
        <p className="card" role="status">
          This store has been deleted. Its history stays below.
        </p>
      )}
      {failure && (
        <div className="failure card" role="alert" data-testid="failure">
          <h2>Why it failed</h2>
          <p>{failure.summary}</p>
          <p className="muted">{failure.detail}</p>
          <button type="button" className="button" onClick={doRetry} disabled={retry.fetching}>
            {retry.fetching ? 'Retrying…' : 'Retry'}
          </button>
        </div>
      )}
      {actionError && (
        <p className="error" role="alert">
          {actionError}
        </p>
      )}
      <dl className="facts card">
        <div>
          <dt>Engine</dt>
          <dd>{store.engine}</dd>
        </div>
        <div>
          <dt>Owner</dt>
          <dd>{store.owner}</dd>
        </div>
        <div>
          <dt>Namespace</dt>
          <dd>
            <code>{store.namespace}</code>
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{dateTime(store.createdAt)}</dd>
        </div>
        {store.readyAt && (
          <div>
            <dt>Ready</dt>
            <dd>{dateTime(store.readyAt)}</dd>
          </div>
        )}
        <div>
          <dt>Storefront</dt>
          <dd>{store.storefrontUrl ? <a href={store.storefrontUrl}>{store.storefrontUrl}</a> : <span className="muted">not yet</span>}</dd>
        </div>
        <div>
          <dt>Admin</dt>
          <dd>{store.adminUrl ? <a href={store.adminUrl}>{store.adminUrl}</a> : <span className="muted">not yet</span>}</dd>
        </div>
      </dl>
      {store.progress.total > 0 && (
        <section aria-labelledby="steps-title" className="card">
          <h2 id="steps-title">
            Progress: {store.progress.done} of {store.progress.total} steps
          </h2>
          <ol className="steps-list">
            {store.progress.steps.map((step) => (
              <li key={step.id} className={step.done ? 'done' : ''}>
                <span aria-hidden="true">{step.done ? '✓' : '○'}</span> {step.title}
                <span className="sr-only">{step.done ? ' (done)' : ' (not done yet)'}</span>
              </li>
            ))}
          </ol>
        </section>
      )}
      <Resources store={store} />
      <section aria-labelledby="timeline-title" className="card">
        <h2 id="timeline-title">Events</h2>
        {state.timelineError && (
          <p className="error" role="alert">
            The event stream stopped: {state.timelineError}
          </p>
        )}
        {timeline.events.length === 0 ? (
          <p className="muted">No events yet.</p>
        ) : (
          <Timeline events={timeline.events} />
        )}
      </section>
      {store.status !== 'DELETED' && (
      <section aria-labelledby="danger-title" className="card danger">
        <h2 id="danger-title">Delete</h2>
        <p>Deleting removes the store’s namespace with everything in it, including its database.</p>
        <button type="button" className="button danger" onClick={() => setDeleting(true)} disabled={store.status === 'DELETING'}>
          {store.status === 'DELETING' ? 'Deleting…' : 'Delete store'}
        </button>
      </section>
      )}
      {deleting && <DeleteDialog store={store} onClose={() => setDeleting(false)} />}
    </article>
  );
}

function Resources({ store }: { store: DetailStore }) {
  return (
    <section aria-labelledby="resources-title" className="card">
      <h2 id="resources-title">Kubernetes objects</h2>
      {store.resources.length === 0 ? (
        <p className="muted">None seen yet.</p>
      ) : (
        <table className="resources">
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Name</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {store.resources.map((resource) => (
              <tr key={`${resource.kind}/${resource.name}`} data-resource={`${resource.kind}/${resource.name}`}>
                <td>{resource.kind}</td>
                <td>
                  <code>{resource.name}</code>
                </td>
                <td>
                  <span className={`state state-${resource.state.toLowerCase()}`}>{resource.state}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Timeline({ events }: { events: DetailStore['lastEvent'][] }) {
  const end = useRef<HTMLLIElement>(null);
  const count = events.length;
  useEffect(() => {
    end.current?.scrollIntoView?.({ block: 'nearest' });
  }, [count]);
  return (
    <ol className="timeline" aria-label="Events, oldest first" aria-live="polite" aria-relevant="additions">
      {events.map((event, index) =>
        event ? (
          <li
            key={event.id}
            ref={index === count - 1 ? end : undefined}
            className={`event event-${event.type.toLowerCase()}`}
            data-event-id={event.id}
          >
            <time dateTime={event.time}>{time(event.time)}</time>
            <span className={`source source-${event.source.toLowerCase()}`}>{SOURCE_LABEL[event.source]}</span>
            <span className="reason">{event.reason}</span>
            <span className="message">
              {event.message}
              {event.involvedKind && (
                <span className="muted">
                  {' '}
                  ({event.involvedKind}
                  {event.involvedName ? ` ${event.involvedName}` : ''})
                </span>
              )}
            </span>
          </li>
        ) : null,
      )}
    </ol>
  );
}

function DeleteDialog({ store, onClose }: { store: DetailStore; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [typed, setTyped] = useState('');
  const [result, runDelete] = useMutation(DeleteStoreDocument);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (typed !== store.name) return;
    const outcome = await runDelete({ id: store.id });
    const value = outcome.data?.deleteStore;
    if (!value) setError(requestError(outcome.error));
    else if (value.__typename === 'DeleteStoreSuccess') navigate('/');
    else setError(value.message);
  };
  return (
    <dialog ref={dialog} className="dialog" aria-labelledby="delete-title" onClose={onClose} onCancel={onClose}>
      <form onSubmit={submit} className="form">
        <h2 id="delete-title">Delete {store.name}?</h2>
        <p>
          This deletes the store and all its data. Type <strong>{store.name}</strong> to confirm.
        </p>
        <label htmlFor="confirm-name">Store name</label>
        <input
          id="confirm-name"
          value={typed}
          autoComplete="off"
          spellCheck={false}
          autoFocus
          onChange={(event) => setTyped(event.target.value)}
        />
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" className="button secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button danger" disabled={typed !== store.name || result.fetching}>
            {result.fetching ? 'Deleting…' : 'Delete'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
