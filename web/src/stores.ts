// The store list's state: a snapshot from the `stores` query plus live `storeChanged` and `storeEvents` pushes.
//
// Changes that arrive while a snapshot is loading (the first load, or the reload after a reconnect) are held
// and replayed on top of it, so a push is never lost to an older snapshot.
import type { EventFieldsFragment, StoreFieldsFragment, StoreStatus } from './graphql/generated';
import { compareIds } from './events';

export type Store = StoreFieldsFragment;

export type Change = { type: 'changed'; store: Store } | { type: 'event'; event: EventFieldsFragment };

export interface StoreListState {
  phase: 'loading' | 'ready' | 'error';
  stores: Store[];
  // A snapshot is being fetched (the first load, or a reload after the socket came back).
  syncing: boolean;
  // Changes received while a snapshot was being loaded: applied once it arrives.
  held: Change[];
  error: string | null;
}

export type StoreListAction =
  | { type: 'loading' }
  | { type: 'loaded'; stores: Store[] }
  | { type: 'failed'; error: string }
  | Change;

export const initialStoreList: StoreListState = {
  phase: 'loading',
  stores: [],
  syncing: true,
  held: [],
  error: null,
};

function apply(stores: Store[], change: Change): Store[] {
  if (change.type === 'changed') {
    const { store } = change;
    const index = stores.findIndex((item) => item.id === store.id);
    if (store.status === 'DELETED') return index < 0 ? stores : stores.filter((item) => item.id !== store.id);
    if (index < 0) return [...stores, store].sort(byCreation);
    const previous = stores[index]!;
    // storeChanged may carry an older lastEvent than one the event stream already delivered.
    const lastEvent = newerEvent(previous.lastEvent, store.lastEvent);
    const next = stores.slice();
    next[index] = { ...store, lastEvent };
    return next;
  }
  const { event } = change;
  const index = stores.findIndex((item) => item.id === event.storeId);
  if (index < 0) return stores;
  const previous = stores[index]!;
  if (previous.lastEvent && compareIds(previous.lastEvent.id, event.id) >= 0) return stores;
  const next = stores.slice();
  next[index] = { ...previous, lastEvent: event };
  return next;
}

function newerEvent(
  a: EventFieldsFragment | null,
  b: EventFieldsFragment | null,
): EventFieldsFragment | null {
  if (!a) return b;
  if (!b) return a;
  return compareIds(a.id, b.id) >= 0 ? a : b;
}

function byCreation(a: Store, b: Store): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : compareIds(a.id, b.id);
}

export function storeListReducer(state: StoreListState, action: StoreListAction): StoreListState {
  switch (action.type) {
    case 'loading':
      return { ...state, phase: state.phase === 'ready' ? 'ready' : 'loading', syncing: true, held: [] };
    case 'loaded': {
      const stores = action.stores.filter((store) => store.status !== 'DELETED').sort(byCreation);
      return { phase: 'ready', stores: state.held.reduce(apply, stores), syncing: false, held: [], error: null };
    }
    case 'failed':
      return {
        ...state,
        phase: state.phase === 'ready' ? 'ready' : 'error',
        syncing: false,
        held: [],
        error: action.error,
      };
    default:
      // Applied at once so the screen stays live, and held for the snapshot that is on its way.
      return {
        ...state,
        stores: apply(state.stores, action),
        held: state.syncing ? [...state.held, action] : state.held,
      };
  }
}

export interface StoreFilter {
  status: StoreStatus | 'ALL';
  search: string;
}

export function filterStores(stores: Store[], filter: StoreFilter): Store[] {
  const search = filter.search.trim().toLowerCase();
  return stores.filter(
    (store) =>
      (filter.status === 'ALL' || store.status === filter.status) &&
      (search === '' || store.name.toLowerCase().includes(search)),
  );
}

/** The newest event id among the stores: where the list's event stream starts. */
export function newestEventId(stores: Store[]): string | null {
  let newest: string | null = null;
  for (const store of stores) {
    const id = store.lastEvent?.id;
    if (id && (newest === null || compareIds(id, newest) > 0)) newest = id;
  }
  return newest;
}
