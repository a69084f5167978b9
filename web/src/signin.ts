// What the sign-in page says: for the `error` the server redirects to it with, and for the form's answers.

export interface SignInMessage {
  text: string;
  /** A command to show after the text, in code type. */
  command?: string;
  /** Whether it is about the token typed into the form (then the field is marked invalid). */
  aboutToken: boolean;
}

export const NEW_LINK_COMMAND = 'storeplane sign-in-link --owner OWNER';

const INVALID_TOKEN: SignInMessage = { text: 'That token is not valid. Check it and try again.', aboutToken: true };

const REDIRECT_ERRORS: Record<string, SignInMessage> = {
  'invalid-token': INVALID_TOKEN,
  'invalid-link': {
    text: 'This sign-in link has been used or has expired: each link signs in once, within a few minutes. Ask for a new one, or paste a token below:',
    command: NEW_LINK_COMMAND,
    aboutToken: false,
  },
  throttled: {
    text: 'Too many failed sign-ins from this address. Wait a minute and open the link again.',
    aboutToken: false,
  },
  'token-in-url': {
    text: 'Tokens are no longer accepted in the address: an address ends up in browser history and server logs. Paste the token below, or sign in with a one-time link:',
    command: NEW_LINK_COMMAND,
    aboutToken: false,
  },
};

/** The message for `/signin?error=<error>`; null without an error. */
export function redirectError(error: string | null): SignInMessage | null {
  if (!error) return null;
  return REDIRECT_ERRORS[error] ?? { text: 'Sign-in failed. Try again.', aboutToken: false };
}

/** The message for the form's failed `POST /auth/session` (HTTP `status`, `retryAfter` seconds for a 429). */
export function formError(status: number, retryAfter: number | null): SignInMessage {
  if (status === 401) return INVALID_TOKEN;
  if (status === 429) {
    const wait = retryAfter === null ? 'a minute' : retryAfter === 1 ? '1 second' : `${retryAfter} seconds`;
    return { text: `Too many failed sign-ins from this address. Wait ${wait} and try again.`, aboutToken: false };
  }
  return { text: `Sign-in failed (HTTP ${status}).`, aboutToken: false };
}

/** Whole seconds to wait from a Retry-After header (seconds or an HTTP date); null when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now: number = Date.now()): number | null {
  const value = header?.trim();
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - now) / 1000));
}
