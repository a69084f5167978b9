// The account menu's words for a session: which browser it is, how it signed in and when, in a line a person
// can tell apart from the others at a glance.
import { span } from './format';
import type { MySessionsQuery } from './graphql/generated';

export type Session = MySessionsQuery['mySessions'][number];

// Most specific first: Edge, Opera and Samsung Internet also say "Chrome/", Chrome also says "Safari/",
// and every browser says "Mozilla/".
const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
  [/\bOPR\/(\d+)/, 'Opera'],
  [/\bSamsungBrowser\/(\d+)/, 'Samsung Internet'],
  [/\b(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
  [/\bHeadlessChrome\/(\d+)/, 'Headless Chrome'],
  [/\b(?:Chrome|CriOS)\/(\d+)/, 'Chrome'],
  [/\bVersion\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, 'Safari'],
];

// iPhones and iPads also say "like Mac OS X"; Android also says "Linux".
const SYSTEMS: [RegExp, string][] = [
  [/\biPhone\b/, 'iOS'],
  [/\biPad\b/, 'iPadOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

const LONGEST = 40;

/** "Firefox 128 on macOS", "Chrome 131 on Android", "curl 8": a user agent string, shortened to what tells it apart. */
export function shortUserAgent(userAgent: string | null): string {
  const agent = userAgent?.trim() ?? '';
  if (!agent) return 'Unknown browser';
  const system = SYSTEMS.find(([pattern]) => pattern.test(agent))?.[1];
  for (const [pattern, name] of BROWSERS) {
    const match = pattern.exec(agent);
    if (match) return `${name} ${match[1]}${system ? ` on ${system}` : ''}`;
  }
  // Not a browser (curl, python-httpx, a script): its first product and major version.
  const product = /^([A-Za-z][\w.-]*)\/v?(\d+)/.exec(agent);
  if (product && product[1] !== 'Mozilla') return `${product[1]} ${product[2]}`;
  return agent.length > LONGEST ? `${agent.slice(0, LONGEST - 1)}…` : agent;
}

/** "a sign-in link", "a token (sha256:1a2b3c4d)": the server's `signedInWith`, as the end of a sentence. */
export function signedInWith(value: string): string {
  if (value === 'sign-in link') return 'a sign-in link';
  const token = /^token (\S+)$/.exec(value);
  if (token) return `a token (${token[1]})`;
  return value;
}

/** "just now", "5 min ago", "in 7 d": when `iso` is, seen from `now`. */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const seconds = (Date.parse(iso) - now) / 1000;
  if (Math.abs(seconds) < 45) return 'just now';
  return seconds < 0 ? `${span(-seconds)} ago` : `in ${span(seconds)}`;
}

/** This browser's session first, then the others in the server's order (newest first). */
export function orderSessions(sessions: readonly Session[]): Session[] {
  return [...sessions.filter((session) => session.current), ...sessions.filter((session) => !session.current)];
}
