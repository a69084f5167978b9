// GraphiQL, bundled with the dashboard and served at /graphql (app/storeplane/graphql/view.py), so it needs no
// CDN: the Monaco editor's workers are built by Vite from the imports of `graphiql/setup-workers/vite`.
import 'graphiql/setup-workers/vite';
import { explorerPlugin } from '@graphiql/plugin-explorer';
import { GraphiQL } from 'graphiql';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createFetcher } from './fetcher';
import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';
import './graphiql.css';

const DEFAULT_QUERY = `# Signed in to the dashboard? This page uses
# its session. Otherwise, under Headers, add
# {"Authorization": "Bearer <token>"}
{
  engines {
    key
    displayName
  }
}
`;

const fetcher = createFetcher();
const plugins = [explorerPlugin()];

createRoot(document.getElementById('graphiql')!).render(
  <StrictMode>
    <GraphiQL fetcher={fetcher} plugins={plugins} defaultQuery={DEFAULT_QUERY} />
  </StrictMode>,
);
