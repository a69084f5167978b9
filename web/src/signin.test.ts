import { describe, expect, it } from 'vitest';
import { formError, NEW_LINK_COMMAND, redirectError, retryAfterSeconds } from './signin';

describe('redirectError', () => {
  it('is nothing without an error', () => {
    expect(redirectError(null)).toBeNull();
  });

  it('explains a used or expired link and how to get a new one', () => {
    const message = redirectError('invalid-link');
    expect(message?.text).toMatch(/used or has expired/);
    expect(message?.command).toBe(NEW_LINK_COMMAND);
    expect(message?.aboutToken).toBe(false);
  });

  it('explains why a token in the address is refused', () => {
    const message = redirectError('token-in-url');
    expect(message?.text).toMatch(/no longer accepted in the address/);
    expect(message?.text).toMatch(/browser history and server logs/);
    expect(message?.command).toBe(NEW_LINK_COMMAND);
  });

  it('says to wait when a link was opened after too many failed sign-ins', () => {
    expect(redirectError('throttled')?.text).toMatch(/Too many failed sign-ins .* Wait a minute/);
  });

  it('marks the token field for a refused token', () => {
    expect(redirectError('invalid-token')?.aboutToken).toBe(true);
  });

  it('still says something for an error it does not know', () => {
    expect(redirectError('something-new')?.text).toBe('Sign-in failed. Try again.');
  });
});

describe('formError', () => {
  it('says the token is wrong for 401', () => {
    expect(formError(401, null)).toMatchObject({ aboutToken: true, text: expect.stringMatching(/not valid/) });
  });

  it('says how long to wait for 429', () => {
    expect(formError(429, 42).text).toBe('Too many failed sign-ins from this address. Wait 42 seconds and try again.');
    expect(formError(429, 1).text).toMatch(/Wait 1 second and/);
    expect(formError(429, null).text).toMatch(/Wait a minute and/);
  });

  it('names the status otherwise', () => {
    expect(formError(403, null).text).toBe('Sign-in failed (HTTP 403).');
  });
});

describe('retryAfterSeconds', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');

  it('reads seconds', () => {
    expect(retryAfterSeconds('17', now)).toBe(17);
  });

  it('reads an HTTP date as the seconds until then', () => {
    expect(retryAfterSeconds('Thu, 01 Jan 2026 12:00:30 GMT', now)).toBe(30);
    expect(retryAfterSeconds('Thu, 01 Jan 2026 11:00:00 GMT', now)).toBe(0);
  });

  it('is null when absent or unreadable', () => {
    expect(retryAfterSeconds(null, now)).toBeNull();
    expect(retryAfterSeconds('soon', now)).toBeNull();
  });
});
