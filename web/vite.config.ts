/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// `npm run dev` serves the dashboard with hot reload and sends the API's paths to a running server
// (scripts/run, or `storeplane serve`): STOREPLANE_API overrides where it listens.
const api = process.env.STOREPLANE_API ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  server: {
    // The Host header stays the dev server's, so the API's same-origin check on websockets passes.
    proxy: {
      '/graphql': { target: api, ws: true },
      '/auth': { target: api },
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: true,
    // Two pages: the dashboard, and GraphiQL, which the server answers browsers with at /graphql.
    rolldownOptions: {
      input: {
        index: fileURLToPath(new URL('index.html', import.meta.url)),
        graphiql: fileURLToPath(new URL('graphiql.html', import.meta.url)),
      },
      onwarn(warning, warn) {
        // GraphiQL's modules open with "use no memo", a hint for the React Compiler that built them: moot here.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
