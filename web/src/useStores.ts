// The live store list: a snapshot, storeChanged for every change and storeEvents for each store's last event.
import { useEffect, useReducer } from 'react';
import { stringifyDocument } from 'urql';
import type { Connection } from './graphql/client';
import {
  StoreChangedDocument,
  StoreEventsDocument,
  StoresDocument,
  type EventFieldsFragment,
  type StoreChangedSubscription,
  type StoreEventsSubscription,
} from './graphql/generated';
import { ResumableSubscription } from './events';
import { requestError } from './errors';
import { initialStoreList, newestEventId, storeListReducer, type Store, type StoreListAction } from './stores';

const PAGE_SIZE = 100;

export async function loadStores(connection: Connection): Promise<Store[]> {
  const stores: Store[] = [];
  let after: string | null = null;
  for (;;) {
    const result = await connection.urql.query(StoresDocument, { first: PAGE_SIZE, after }).toPromise();
    if (result.error || !result.data) throw new Error(requestError(result.error));
    stores.push(...result.data.stores.edges.map((edge) => edge.node));
    if (!result.data.stores.pageInfo.hasNextPage) return stores;
    after = result.data.stores.pageInfo.endCursor;
  }
}

export function useStores(connection: Connection): [ReturnType<typeof storeListReducer>, (action: StoreListAction) => void] {
  const [state, dispatch] = useReducer(storeListReducer, initialStoreList);

  useEffect(() => {
    let stopped = false;
    let events: ResumableSubscription<EventFieldsFragment> | null = null;
    // Subscribed before the snapshot is read: changes in between are held by the reducer, not lost.
    const changes = new ResumableSubscription<Store>({
      client: connection.ws,
      query: stringifyDocument(StoreChangedDocument),
      variables: {},
      pick: (data) => (data as StoreChangedSubscription | undefined)?.storeChanged,
      onItem: (store) => dispatch({ type: 'changed', store }),
      onFatal: (error) => dispatch({ type: 'failed', error }),
    }).start();
    const load = async () => {
      dispatch({ type: 'loading' });
      try {
        const stores = await loadStores(connection);
        if (stopped) return;
        dispatch({ type: 'loaded', stores });
        events ??= new ResumableSubscription<EventFieldsFragment>({
          client: connection.ws,
          query: stringifyDocument(StoreEventsDocument),
          variables: { after: newestEventId(stores) },
          pick: (data) => (data as StoreEventsSubscription | undefined)?.storeEvents,
          idOf: (event) => event.id,
          onItem: (event) => dispatch({ type: 'event', event }),
          onFatal: () => undefined,
        }).start();
      } catch (error) {
        if (!stopped) dispatch({ type: 'failed', error: (error as Error).message });
      }
    };
    void load();
    // storeChanged has no cursor: after a reconnect, a fresh snapshot covers whatever changed meanwhile.
    const unlisten = connection.onReconnect(() => void load());
    return () => {
      stopped = true;
      unlisten();
      changes.stop();
      events?.stop();
    };
  }, [connection]);

  return [state, dispatch];
}
