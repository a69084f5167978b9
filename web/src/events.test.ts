import { describe, expect, it, vi } from 'vitest';
import type { EventFieldsFragment } from './graphql/generated';
import { compareIds, emptyTimeline, mergeEvents, ResumableSubscription, type Subscriber } from './events';

function event(id: string): EventFieldsFragment {
  return {
    __typename: 'StoreEvent', id, storeId: '1', time: '2026-01-01T00:00:00Z', type: 'NORMAL', reason: 'Progress',
    message: `event ${id}`, source: 'API', involvedKind: null, involvedName: null,
  };
}

type Sink = Parameters<Subscriber['subscribe']>[1];

/** A graphql-ws stand-in: records each subscribe message as sent (serialised, as graphql-ws does on every (re)send). */
class FakeClient implements Subscriber {
  sent: Array<Record<string, unknown>> = [];
  sinks: Sink[] = [];
  private payloads: Array<{ variables: Record<string, unknown> }> = [];
  subscribe(payload: { query: string; variables: Record<string, unknown> }, sink: Sink) {
    this.payloads.push(payload);
    this.sent.push(JSON.parse(JSON.stringify(payload.variables)));
    this.sinks.push(sink);
    return () => undefined;
  }
  /** What graphql-ws does when the socket comes back: sends the same payload object again. */
  reconnect() {
    this.sent.push(JSON.parse(JSON.stringify(this.payloads[this.payloads.length - 1]!.variables)));
  }
  push(...ids: string[]) {
    for (const id of ids) this.sinks[this.sinks.length - 1]!.next({ data: { storeEvents: event(id) } });
  }
}

function follow(client: FakeClient, onItem = vi.fn(), onFatal = vi.fn()) {
  const stream = new ResumableSubscription<EventFieldsFragment>({
    client, query: 'subscription', variables: { storeId: '1', after: null },
    pick: (data) => (data as { storeEvents?: EventFieldsFragment }).storeEvents,
    idOf: (item) => item.id, onItem, onFatal, resubscribeDelayMs: 0,
  }).start();
  return { stream, onItem, onFatal };
}

describe('compareIds', () => {
  it('compares decimal ids of any length as numbers', () => {
    expect(compareIds('9', '10')).toBeLessThan(0);
    expect(compareIds('123456789012345678901', '123456789012345678900')).toBeGreaterThan(0);
    expect(compareIds('7', '7')).toBe(0);
  });
});

describe('mergeEvents', () => {
  it('keeps each event once, oldest first, whatever order they come in', () => {
    let timeline = mergeEvents(emptyTimeline, [event('1'), event('2')]);
    timeline = mergeEvents(timeline, [event('2'), event('10'), event('3'), event('10')]);
    expect(timeline.events.map((e) => e.id)).toEqual(['1', '2', '3', '10']);
    expect(mergeEvents(timeline, [event('3')])).toBe(timeline);
  });
});

describe('ResumableSubscription', () => {
  it('resumes from the last id received when the socket reconnects', () => {
    const client = new FakeClient();
    const { onItem } = follow(client);
    client.push('1', '2', '3');
    client.reconnect();
    expect(client.sent).toEqual([{ storeId: '1', after: null }, { storeId: '1', after: '3' }]);
    expect(onItem).toHaveBeenCalledTimes(3);
  });

  it('drops events it has already delivered, so an overlapping replay shows nothing twice', () => {
    const client = new FakeClient();
    const { onItem } = follow(client);
    client.push('1', '2', '2', '1', '3');
    expect(onItem.mock.calls.map(([item]) => item.id)).toEqual(['1', '2', '3']);
  });

  it('subscribes again from its cursor when the server ends the stream (a restart)', async () => {
    const client = new FakeClient();
    const { stream } = follow(client);
    client.push('5');
    client.sinks[0]!.complete();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(client.sent).toEqual([{ storeId: '1', after: null }, { storeId: '1', after: '5' }]);
    stream.stop();
  });

  it('subscribes again after a SUBSCRIPTION_DROPPED error, and stops on any other error', async () => {
    const client = new FakeClient();
    const { onFatal } = follow(client);
    client.push('5');
    client.sinks[0]!.next({ errors: [{ message: 'dropped', extensions: { code: 'SUBSCRIPTION_DROPPED' } }] });
    client.sinks[0]!.complete();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(client.sent).toHaveLength(2);
    client.sinks[1]!.next({ errors: [{ message: 'No such store.', extensions: { code: 'NOT_FOUND' } }] });
    client.sinks[1]!.complete();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(client.sent).toHaveLength(2);
    expect(onFatal).toHaveBeenCalledWith('No such store.');
  });

  it('reports refused credentials (close code 4403) instead of retrying', async () => {
    const client = new FakeClient();
    const { onFatal } = follow(client);
    client.sinks[0]!.error({ code: 4403, reason: 'Forbidden' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(client.sent).toHaveLength(1);
    expect(onFatal).toHaveBeenCalledWith('Signed out: sign in again.');
  });
});
