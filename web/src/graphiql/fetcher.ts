// GraphiQL's fetcher: queries over same-origin HTTP, subscriptions over graphql-ws on the same host.
//
// The dashboard's HttpOnly session cookie authenticates both (the browser sends it with the fetch and the
// websocket handshake), so a signed-in user needs no token here. Headers typed into GraphiQL's editor go
// with each HTTP request and, for subscriptions, in the connection_init payload, where a pasted
// `Authorization` wins over the cookie.
import { createGraphiQLFetcher, type Fetcher } from '@graphiql/toolkit';
import { GRAPHQL_PATH, websocketUrl } from '../graphql/endpoint';

export function createFetcher(): Fetcher {
  return createGraphiQLFetcher({
    url: GRAPHQL_PATH,
    subscriptionUrl: websocketUrl(),
    // The server speaks neither @defer nor multipart responses: plain JSON POSTs.
    enableIncrementalDelivery: false,
    fetch: (input, init) => fetch(input, { ...init, credentials: 'same-origin' }),
  });
}
