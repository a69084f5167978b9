import { describe, expect, it } from 'vitest';
import { websocketUrl } from './endpoint';

describe('websocketUrl', () => {
  it('keeps the page’s host and port and secures the socket when the page is', () => {
    expect(websocketUrl({ protocol: 'http:', host: '127.0.0.1:8000' })).toBe('ws://127.0.0.1:8000/graphql');
    expect(websocketUrl({ protocol: 'https:', host: 'storeplane.example' })).toBe('wss://storeplane.example/graphql');
  });
});
