// Where the API lives for a page served by the same server: the dashboard and GraphiQL share these.

export const GRAPHQL_PATH = '/graphql';

/** The graphql-transport-ws endpoint on the page's own host: wss on an https page, ws otherwise. */
export function websocketUrl(location: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${GRAPHQL_PATH}`;
}
