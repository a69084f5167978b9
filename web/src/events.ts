// Event ids are the cursors of `storeEvents`: decimal integers that only grow. A store's timeline keeps each
// id once, in id order, whatever order (and however many times) a replay and live pushes deliver them.
import type { EventFieldsFragment } from './graphql/generated';

export type StoreEvent = EventFieldsFragment;

export function compareIds(a: string, b: string): number {
  // Compared as numbers of any length: by length first, then digit by digit.
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface Timeline {
  events: StoreEvent[];
  ids: Set<string>;
}

export const emptyTimeline: Timeline = { events: [], ids: new Set() };

/** The timeline with `incoming` merged in: duplicates dropped, oldest first. */
export function mergeEvents(timeline: Timeline, incoming: StoreEvent[]): Timeline {
  const fresh = incoming.filter((event) => !timeline.ids.has(event.id));
  if (fresh.length === 0) return timeline;
  const ids = new Set(timeline.ids);
  const unique: StoreEvent[] = [];
  for (const event of fresh) {
    if (ids.has(event.id)) continue;
    ids.add(event.id);
    unique.push(event);
  }
  const last = timeline.events[timeline.events.length - 1];
  const inOrder = unique.every((event, i) => compareIds(event.id, (i === 0 ? last?.id : unique[i - 1]!.id) ?? '') > 0);
  const events = [...timeline.events, ...unique];
  if (!inOrder) events.sort((a, b) => compareIds(a.id, b.id));
  return { events, ids };
}

/** Subscribes to a stream of events (graphql-ws's `subscribe`, reduced to what is needed here). */
export interface Subscriber {
  subscribe(
    payload: { query: string; variables: Record<string, unknown> },
    sink: {
      next(value: { data?: unknown; errors?: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }> }): void;
      error(error: unknown): void;
      complete(): void;
    },
  ): () => void;
}

export interface ResumableOptions<T> {
  client: Subscriber;
  query: string;
  variables: Record<string, unknown>;
  // The event in one `next` payload's data.
  pick(data: unknown): T | undefined;
  // The item's cursor; without it, items are neither deduplicated nor resumed from (storeChanged).
  idOf?: (item: T) => string;
  onItem(item: T): void;
  onFatal(message: string): void;
  // Delay before subscribing again after the server ended the stream (it restarts, or drops a slow reader).
  resubscribeDelayMs?: number;
}

/**
 * A subscription that continues from its last cursor, however it was interrupted.
 *
 * `variables.after` always holds the id of the newest item delivered. graphql-ws sends the subscribe message
 * again from the same payload object whenever it reconnects a dropped socket, so a reconnect asks for what
 * came after that id; when the server ends the stream itself (a restart completes every subscription, or a
 * SUBSCRIPTION_DROPPED error), this subscribes again from it. Items already delivered are dropped, so a
 * replay that overlaps never shows twice.
 */
export class ResumableSubscription<T> {
  private readonly payload: { query: string; variables: Record<string, unknown> };
  private readonly seen = new Set<string>();
  private dispose: (() => void) | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(private readonly options: ResumableOptions<T>) {
    this.payload = { query: options.query, variables: { ...options.variables } };
  }

  get cursor(): string | null {
    return (this.payload.variables.after as string | null | undefined) ?? null;
  }

  start(): this {
    this.stopped = false;
    this.open();
    return this;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.dispose?.();
    this.dispose = null;
  }

  /** Accepts an item; false for one already delivered. Exposed for the tests. */
  accept(item: T): boolean {
    if (!this.options.idOf) return true;
    const id = this.options.idOf(item);
    const cursor = this.cursor;
    if (this.seen.has(id) || (cursor !== null && compareIds(id, cursor) <= 0)) return false;
    this.seen.add(id);
    if (cursor === null || compareIds(id, cursor) > 0) this.payload.variables.after = id;
    return true;
  }

  private open(): void {
    let ended = false;
    const again = () => {
      if (ended) return;
      ended = true;
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.stopped) this.open();
      }, this.options.resubscribeDelayMs ?? 500);
    };
    this.dispose = this.options.client.subscribe(this.payload, {
      next: (result) => {
        if (result.errors?.length) {
          const dropped = result.errors.some((error) => error.extensions?.code === 'SUBSCRIPTION_DROPPED');
          if (dropped) return again();
          ended = true;
          this.options.onFatal(result.errors.map((error) => error.message).join(' '));
          return;
        }
        const item = this.options.pick(result.data);
        if (item !== undefined && this.accept(item)) this.options.onItem(item);
      },
      // A socket closed for good (graphql-ws gave up, or refused credentials): the connection state says so.
      error: (error) => {
        if (Array.isArray(error)) {
          // The server refused the operation itself (graphql-ws's `error` message): asking again won't help.
          ended = true;
          this.options.onFatal(error.map((item: { message?: string }) => item.message ?? 'Error').join(' '));
          return;
        }
        if (isUnauthorized(error)) {
          ended = true;
          this.options.onFatal('Signed out: sign in again.');
          return;
        }
        again();
      },
      complete: again,
    });
  }
}

export function isUnauthorized(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && (error as { code: unknown }).code === 4403;
}
