// One websocket (graphql-transport-ws) for every subscription, one urql client for queries and mutations, and
// the connection state the header shows.
//
// The browser sends the session cookie with the websocket handshake and with every fetch, so no token lives
// in this code. A socket that drops is reconnected forever with a short backoff, and graphql-ws then sends
// every active subscription again (see ResumableSubscription for how they continue from their cursor). A
// laptop waking up or a tab regaining focus may hold a socket that looks open but is dead: a ping that gets
// no pong within PONG_TIMEOUT_MS terminates it, which starts the reconnect at once.
import { Client as UrqlClient, fetchExchange, subscriptionExchange } from 'urql';
import { createClient, type Client as WsClient } from 'graphql-ws';
import { GRAPHQL_PATH, websocketUrl } from './endpoint';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'signed-out';

const KEEP_ALIVE_MS = 10_000;
const PONG_TIMEOUT_MS = 4_000;
const RETRY_MAX_MS = 3_000;

type Listener = () => void;

export class Connection {
  state: ConnectionState = 'connecting';
  // Bumped on every reconnect after the first connection: views reload their snapshots when it changes.
  generation = 0;
  private listeners = new Set<Listener>();
  private reconnectListeners = new Set<Listener>();
  private socket: WebSocket | null = null;
  private pongTimer: ReturnType<typeof setTimeout> | null = null;
  private everConnected = false;
  readonly ws: WsClient;
  readonly urql: UrqlClient;

  constructor(url: string = websocketUrl()) {
    this.ws = createClient({
      url,
      lazy: false,
      keepAlive: KEEP_ALIVE_MS,
      retryAttempts: Number.POSITIVE_INFINITY,
      retryWait: (retries) =>
        new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** retries, RETRY_MAX_MS) + Math.random() * 250)),
      // Every close is worth retrying (the server restarting closes with 1012) except refused credentials.
      shouldRetry: (event) => !(typeof event === 'object' && event !== null && (event as CloseEvent).code === 4403),
      on: {
        connecting: () => this.set(this.everConnected ? 'reconnecting' : 'connecting'),
        opened: (socket) => {
          this.socket = socket as WebSocket;
        },
        connected: () => {
          this.set('connected');
          if (this.everConnected) {
            this.generation += 1;
            this.reconnectListeners.forEach((listener) => listener());
          }
          this.everConnected = true;
        },
        closed: (event) => {
          this.socket = null;
          this.clearPong();
          const code = (event as CloseEvent | undefined)?.code;
          this.set(code === 4403 ? 'signed-out' : this.everConnected ? 'reconnecting' : 'connecting');
        },
        ping: (received) => {
          if (!received) this.expectPong();
        },
        pong: (received) => {
          if (received) this.clearPong();
        },
      },
    });
    this.urql = new UrqlClient({
      url: GRAPHQL_PATH,
      requestPolicy: 'network-only',
      fetchOptions: { credentials: 'same-origin' },
      exchanges: [
        fetchExchange,
        subscriptionExchange({
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({
              unsubscribe: this.ws.subscribe({ ...request, query: request.query ?? '' }, sink),
            }),
          }),
        }),
      ],
    });
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onReconnect(listener: Listener): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** Checks that the socket is alive (after a wake-up, on focus, when the network returns). */
  probe(): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || this.pongTimer !== null) return;
    socket.send(JSON.stringify({ type: 'ping' }));
    this.expectPong();
  }

  /** Watches the events that mean the socket may have died unnoticed. Returns the function that stops it. */
  watchWakeUps(): () => void {
    const probe = () => {
      if (document.visibilityState === 'visible') this.probe();
    };
    window.addEventListener('focus', probe);
    window.addEventListener('online', probe);
    document.addEventListener('visibilitychange', probe);
    return () => {
      window.removeEventListener('focus', probe);
      window.removeEventListener('online', probe);
      document.removeEventListener('visibilitychange', probe);
    };
  }

  private expectPong(): void {
    this.clearPong();
    this.pongTimer = setTimeout(() => {
      this.pongTimer = null;
      this.ws.terminate();
    }, PONG_TIMEOUT_MS);
  }

  private clearPong(): void {
    if (this.pongTimer !== null) clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  private set(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.listeners.forEach((listener) => listener());
  }
}
