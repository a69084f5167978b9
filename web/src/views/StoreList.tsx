import { useEffect, useState } from 'react';
import { Link, useConnection } from '../App';
import { age, dateTime, SOURCE_LABEL, STATUS_LABEL } from '../format';
import type { StoreStatus } from '../graphql/generated';
import { filterStores, type StoreFilter } from '../stores';
import { useStores } from '../useStores';
import { CreateDialog } from './CreateDialog';
import { StatusBadge } from './StatusBadge';

const FILTERS: StoreFilter['status'][] = ['ALL', 'PENDING', 'PROVISIONING', 'READY', 'FAILED', 'DELETING'];

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

export function StoreList() {
  const connection = useConnection();
  const [state, dispatch] = useStores(connection);
  const [filter, setFilter] = useState<StoreFilter>({ status: 'ALL', search: '' });
  const [creating, setCreating] = useState(false);
  const now = useNow(10_000);
  const shown = filterStores(state.stores, filter);

  return (
    <>
      <div className="toolbar">
        <h1>Stores</h1>
        <button type="button" className="button" onClick={() => setCreating(true)}>
          Create store
        </button>
      </div>
      <div className="filters" role="search">
        <label>
          <span>Search by name</span>
          <input
            type="search"
            value={filter.search}
            onChange={(event) => setFilter({ ...filter, search: event.target.value })}
            placeholder="shop"
          />
        </label>
        <label>
          <span>Status</span>
          <select
            value={filter.status}
            onChange={(event) => setFilter({ ...filter, status: event.target.value as StoreStatus | 'ALL' })}
          >
            {FILTERS.map((status) => (
              <option key={status} value={status}>
                {status === 'ALL' ? 'All' : STATUS_LABEL[status]}
              </option>
            ))}
          </select>
        </label>
      </div>
      {state.error && (
        <p className="error" role="alert">
          Could not load the stores: {state.error}
        </p>
      )}
      {state.phase === 'loading' && (
        <p className="muted" aria-busy="true">
          Loading stores…
        </p>
      )}
      {state.phase === 'ready' && state.stores.length === 0 && (
        <div className="empty card">
          <p>You have no stores yet.</p>
          <button type="button" className="button" onClick={() => setCreating(true)}>
            Create your first store
          </button>
        </div>
      )}
      {state.phase === 'ready' && state.stores.length > 0 && shown.length === 0 && (
        <p className="muted">No store matches this search and filter.</p>
      )}
      {shown.length > 0 && (
        <ul className="stores" aria-label="Stores">
          {shown.map((store) => (
            <li key={store.id} className="store card" data-store={store.name}>
              <div className="store-head">
                <h2>
                  <Link to={`/stores/${encodeURIComponent(store.id)}`}>{store.name}</Link>
                </h2>
                <StatusBadge store={store} />
              </div>
              <dl className="facts">
                <div>
                  <dt>Engine</dt>
                  <dd>{store.engine}</dd>
                </div>
                <div>
                  <dt>Owner</dt>
                  <dd>{store.owner}</dd>
                </div>
                <div>
                  <dt>Created</dt>
                  <dd>
                    <time dateTime={store.createdAt} title={dateTime(store.createdAt)}>
                      {age(store.createdAt, now)} ago
                    </time>
                  </dd>
                </div>
                <div>
                  <dt>Links</dt>
                  <dd>
                    {store.storefrontUrl ? (
                      <a href={store.storefrontUrl} target="_blank" rel="noreferrer">
                        Storefront<span className="sr-only"> of {store.name}</span>
                      </a>
                    ) : (
                      <span className="muted">not yet</span>
                    )}
                    {store.adminUrl && (
                      <>
                        {' · '}
                        <a href={store.adminUrl} target="_blank" rel="noreferrer">
                          Admin<span className="sr-only"> of {store.name}</span>
                        </a>
                      </>
                    )}
                  </dd>
                </div>
              </dl>
              <p className="last-event" data-testid="last-event">
                {store.lastEvent ? (
                  <>
                    <span className={`source source-${store.lastEvent.source.toLowerCase()}`}>
                      {SOURCE_LABEL[store.lastEvent.source]}
                    </span>{' '}
                    {store.lastEvent.message}
                  </>
                ) : (
                  <span className="muted">No events yet</span>
                )}
              </p>
            </li>
          ))}
        </ul>
      )}
      {creating && (
        <CreateDialog
          onClose={() => setCreating(false)}
          onCreated={(store) => {
            dispatch({ type: 'changed', store });
            setCreating(false);
          }}
        />
      )}
    </>
  );
}
