import { describe, expect, it } from 'vitest';
import type { EventFieldsFragment } from './graphql/generated';
import { filterStores, initialStoreList, newestEventId, storeListReducer, type Store } from './stores';

function event(id: string, storeId = '1'): EventFieldsFragment {
  return {
    __typename: 'StoreEvent', id, storeId, time: '2026-01-01T00:00:00Z', type: 'NORMAL', reason: 'Progress',
    message: `event ${id}`, source: 'KUBERNETES', involvedKind: null, involvedName: null,
  };
}

function store(id: string, overrides: Partial<Store> = {}): Store {
  return {
    __typename: 'Store', id, name: `shop-${id}`, engine: 'woocommerce', status: 'PENDING', namespace: `store-shop-${id}`,
    owner: 'alice', storefrontUrl: null, adminUrl: null, failureReason: null, createdAt: `2026-01-01T00:00:0${id}Z`,
    readyAt: null, deletedAt: null, progress: { __typename: 'StoreProgress', done: 0, total: 4, steps: [] },
    lastEvent: null, ...overrides,
  };
}

describe('storeListReducer', () => {
  it('shows the snapshot, oldest first, without deleted stores', () => {
    const state = storeListReducer(initialStoreList, {
      type: 'loaded', stores: [store('2'), store('1'), store('3', { status: 'DELETED' })],
    });
    expect(state.phase).toBe('ready');
    expect(state.stores.map((s) => s.id)).toEqual(['1', '2']);
  });

  it('adds a created store at once and updates it in place', () => {
    let state = storeListReducer(initialStoreList, { type: 'loaded', stores: [store('1')] });
    state = storeListReducer(state, { type: 'changed', store: store('2') });
    state = storeListReducer(state, { type: 'changed', store: store('1', { status: 'READY' }) });
    expect(state.stores.map((s) => [s.id, s.status])).toEqual([['1', 'READY'], ['2', 'PENDING']]);
  });

  it('removes a store when it is Deleted', () => {
    let state = storeListReducer(initialStoreList, { type: 'loaded', stores: [store('1'), store('2')] });
    state = storeListReducer(state, { type: 'changed', store: store('1', { status: 'DELETED' }) });
    expect(state.stores.map((s) => s.id)).toEqual(['2']);
  });

  it('replays changes that arrived while the snapshot was loading on top of it', () => {
    let state = storeListReducer(initialStoreList, { type: 'loading' });
    state = storeListReducer(state, { type: 'changed', store: store('1', { status: 'PROVISIONING' }) });
    state = storeListReducer(state, { type: 'changed', store: store('2', { status: 'DELETED' }) });
    // The snapshot was read before those changes.
    state = storeListReducer(state, { type: 'loaded', stores: [store('1'), store('2')] });
    expect(state.stores.map((s) => [s.id, s.status])).toEqual([['1', 'PROVISIONING']]);
    expect(state.held).toEqual([]);
  });

  it('keeps the stores on screen when a reload after a reconnect fails', () => {
    let state = storeListReducer(initialStoreList, { type: 'loaded', stores: [store('1')] });
    state = storeListReducer(state, { type: 'loading' });
    state = storeListReducer(state, { type: 'failed', error: 'offline' });
    expect(state.phase).toBe('ready');
    expect(state.stores).toHaveLength(1);
    expect(state.error).toBe('offline');
  });

  it('sets the last event from the event stream and never goes back to an older one', () => {
    let state = storeListReducer(initialStoreList, { type: 'loaded', stores: [store('1')] });
    state = storeListReducer(state, { type: 'event', event: event('10') });
    state = storeListReducer(state, { type: 'changed', store: store('1', { lastEvent: event('9') }) });
    state = storeListReducer(state, { type: 'event', event: event('8') });
    state = storeListReducer(state, { type: 'event', event: event('11', 'unknown') });
    expect(state.stores[0]!.lastEvent!.id).toBe('10');
  });
});

describe('filterStores', () => {
  const stores = [store('1', { name: 'alpha', status: 'READY' }), store('2', { name: 'beta', status: 'FAILED' })];
  it('filters by status and by part of the name', () => {
    expect(filterStores(stores, { status: 'FAILED', search: '' }).map((s) => s.name)).toEqual(['beta']);
    expect(filterStores(stores, { status: 'ALL', search: ' LP ' }).map((s) => s.name)).toEqual(['alpha']);
    expect(filterStores(stores, { status: 'READY', search: 'beta' })).toEqual([]);
  });
  it('starts the event stream after the newest known event, comparing ids as numbers', () => {
    expect(newestEventId([store('1', { lastEvent: event('9') }), store('2', { lastEvent: event('10') })])).toBe('10');
    expect(newestEventId([store('1')])).toBeNull();
  });
});
