import { describe, expect, it } from 'vitest';
import { orderSessions, relativeTime, shortUserAgent, signedInWith, type Session } from './sessions';

describe('shortUserAgent', () => {
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'Chrome 131 on Linux'],
    [
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36',
      'Headless Chrome 131 on Linux',
    ],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0', 'Firefox 128 on macOS'],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70',
      'Edge 131 on Windows',
    ],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
      'Safari 17 on macOS',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      'Safari 17 on iOS',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1',
      'Chrome 131 on iOS',
    ],
    [
      'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
      'Chrome 131 on Android',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0',
      'Opera 115 on Windows',
    ],
    ['curl/8.5.0', 'curl 8'],
    ['python-httpx/0.28.1', 'python-httpx 0'],
  ])('names %s as %s', (agent, expected) => {
    expect(shortUserAgent(agent)).toBe(expected);
  });

  it('says so when there is no user agent', () => {
    expect(shortUserAgent(null)).toBe('Unknown browser');
    expect(shortUserAgent('  ')).toBe('Unknown browser');
  });

  it('cuts an unknown long user agent to 40 characters', () => {
    const shown = shortUserAgent('Some very long agent string that follows no convention at all');
    expect(shown).toHaveLength(40);
    expect(shown.endsWith('…')).toBe(true);
  });
});

describe('signedInWith', () => {
  it('words a sign-in link and a token fingerprint as the end of a sentence', () => {
    expect(signedInWith('sign-in link')).toBe('a sign-in link');
    expect(signedInWith('token sha256:1a2b3c4d')).toBe('a token (sha256:1a2b3c4d)');
  });

  it('passes anything else through', () => {
    expect(signedInWith('something new')).toBe('something new');
  });
});

describe('relativeTime', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');

  it('says just now within 45 seconds either way', () => {
    expect(relativeTime('2026-01-01T11:59:20Z', now)).toBe('just now');
    expect(relativeTime('2026-01-01T12:00:30Z', now)).toBe('just now');
  });

  it('counts back for the past and forward for the future', () => {
    expect(relativeTime('2026-01-01T11:55:00Z', now)).toBe('5 min ago');
    expect(relativeTime('2026-01-01T09:00:00Z', now)).toBe('3 h ago');
    expect(relativeTime('2026-01-08T12:00:00Z', now)).toBe('in 7 d');
  });
});

describe('orderSessions', () => {
  const session = (id: string, current = false): Session => ({
    __typename: 'Session', id, role: 'owner', signedInWith: 'sign-in link', createdAt: '2026-01-01T00:00:00Z',
    lastSeenAt: '2026-01-01T00:00:00Z', expiresAt: '2026-01-08T00:00:00Z', userAgent: null, clientAddress: null, current,
  });

  it('puts this browser first and keeps the others in the server’s order', () => {
    const ordered = orderSessions([session('a'), session('b', true), session('c')]);
    expect(ordered.map((s) => s.id)).toEqual(['b', 'a', 'c']);
  });
});
