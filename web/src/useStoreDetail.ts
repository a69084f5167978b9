// One store, live: its fields from storeChanged, its whole history from storeEvents (resumed by cursor), and
// its Kubernetes objects re-read as events about them arrive.
import { useCallback, useEffect, useRef, useState } from 'react';
import { stringifyDocument } from 'urql';
import type { Connection } from './graphql/client';
import {
  StoreChangedDocument,
  StoreDetailDocument,
  StoreEventsDocument,
  type StoreChangedSubscription,
  type StoreDetailQuery,
  type StoreEventsSubscription,
} from './graphql/generated';
import { emptyTimeline, mergeEvents, ResumableSubscription, type StoreEvent, type Timeline } from './events';
import { requestError } from './errors';
import type { Store } from './stores';

export type DetailStore = NonNullable<StoreDetailQuery['store']>;

// Events come in bursts (a pod starting reports several): re-read the resources once per burst.
const RESOURCES_DEBOUNCE_MS = 250;

export interface StoreDetailState {
  phase: 'loading' | 'ready' | 'missing' | 'error';
  store: DetailStore | null;
  timeline: Timeline;
  error: string | null;
  timelineError: string | null;
}

export function useStoreDetail(connection: Connection, id: string) {
  const [state, setState] = useState<StoreDetailState>({
    phase: 'loading',
    store: null,
    timeline: emptyTimeline,
    error: null,
    timelineError: null,
  });
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const reload = useCallback(async () => {
    const result = await connection.urql.query(StoreDetailDocument, { id }).toPromise();
    setState((previous) => {
      if (result.error || !result.data) return { ...previous, phase: previous.store ? previous.phase : 'error', error: requestError(result.error) };
      const store = result.data.store;
      if (!store) return { ...previous, phase: 'missing', store: null, error: null };
      return { ...previous, phase: 'ready', store, error: null };
    });
  }, [connection, id]);

  const applyStore = useCallback((store: Store) => {
    setState((previous) => {
      const resources = previous.store?.resources ?? [];
      return { ...previous, phase: 'ready', store: { ...store, resources } };
    });
  }, []);

  useEffect(() => {
    const reloadSoon = () => {
      if (timer.current !== null) clearTimeout(timer.current);
      timer.current = setTimeout(() => void reload(), RESOURCES_DEBOUNCE_MS);
    };
    const changes = new ResumableSubscription<Store>({
      client: connection.ws,
      query: stringifyDocument(StoreChangedDocument),
      variables: { storeId: id },
      pick: (data) => (data as StoreChangedSubscription | undefined)?.storeChanged,
      onItem: applyStore,
      onFatal: (error) => setState((previous) => ({ ...previous, error })),
    }).start();
    // From the beginning: the replay is the timeline's history, then live events follow.
    const events = new ResumableSubscription<StoreEvent>({
      client: connection.ws,
      query: stringifyDocument(StoreEventsDocument),
      variables: { storeId: id, after: null },
      pick: (data) => (data as StoreEventsSubscription | undefined)?.storeEvents,
      idOf: (event) => event.id,
      onItem: (event) => {
        setState((previous) => ({ ...previous, timeline: mergeEvents(previous.timeline, [event]) }));
        if (event.source === 'KUBERNETES' || event.involvedKind) reloadSoon();
      },
      onFatal: (error) => setState((previous) => ({ ...previous, timelineError: error })),
    }).start();
    void reload();
    const unlisten = connection.onReconnect(() => void reload());
    return () => {
      unlisten();
      changes.stop();
      events.stop();
      if (timer.current !== null) clearTimeout(timer.current);
    };
  }, [connection, id, reload, applyStore]);

  return { state, reload, applyStore };
}
