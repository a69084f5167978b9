// Typed GraphQL error results mapped to where the dashboard shows them: on a form field, or for the form.
import type { CreateStoreMutation } from './graphql/generated';

export type CreateField = 'name' | 'engine' | 'form';

export interface FieldError {
  field: CreateField;
  message: string;
}

type CreateResult = CreateStoreMutation['createStore'];

/** Null for success; otherwise the field the error concerns and a message written for people. */
export function createStoreError(result: CreateResult): FieldError | null {
  switch (result.__typename) {
    case 'CreateStoreSuccess':
      return null;
    case 'NameTaken':
      return { field: 'name', message: `A store named “${result.name}” already exists: choose another name.` };
    case 'ValidationError':
      return { field: result.field === 'engine' ? 'engine' : result.field === 'name' ? 'name' : 'form', message: result.message };
    case 'QuotaExceeded':
      return {
        field: 'form',
        message: `You already have ${result.limit} stores, the most you may have: delete one to create another.`,
      };
    case 'UnknownEngine':
      return { field: 'engine', message: `${result.message} Known engines: ${result.known.join(', ')}.` };
  }
}

/** A failed request (network, HTTP status or GraphQL errors) as one sentence. */
export function requestError(error: { message: string; networkError?: unknown; response?: unknown } | undefined): string {
  if (!error) return 'Something went wrong.';
  if (isUnauthenticated(error)) return 'You are signed out: sign in again.';
  if (error.networkError) return 'The server cannot be reached. It will be retried when the connection is back.';
  return error.message.replace(/^\[(GraphQL|Network)\] /, '');
}

export function isUnauthenticated(error: { response?: unknown } | undefined): boolean {
  const response = error?.response as { status?: number } | undefined;
  return response?.status === 401;
}

// The rules of app/storeplane/stores/names.py, shown before submit and checked as the user types.
export const NAME_RULES = [
  'Lowercase letters (a–z), digits and hyphens only',
  'Starts with a letter, ends with a letter or digit',
  'At most 40 characters; becomes the store’s host name',
];

export const RESERVED_NAMES = new Set([
  'default', 'kube-system', 'kube-public', 'kube-node-lease', 'admin', 'api', 'app', 'auth', 'dashboard',
  'graphql', 'healthz', 'readyz', 'ingress', 'ingress-nginx', 'cert-manager', 'localhost', 'mail', 'smtp',
  'ftp', 'ns1', 'ns2', 'root', 'static', 'status', 'storeplane', 'system', 'www',
]);

/** The first name rule `name` breaks, as the server would word it; null when it looks valid. */
export function checkName(name: string): string | null {
  if (!name) return 'A store name is required.';
  if (name.length > 40) return `A store name has at most 40 characters (this one has ${name.length}).`;
  if (/[A-Z]/.test(name)) return 'A store name is lowercase: use a-z, not A-Z.';
  const bad = /[^a-z0-9-]/.exec(name);
  if (bad) return `A store name has only lowercase letters, digits and '-' (found '${bad[0]}').`;
  if (!/^[a-z]/.test(name)) return 'A store name starts with a letter.';
  if (name.endsWith('-')) return 'A store name ends with a letter or a digit.';
  if (RESERVED_NAMES.has(name)) return `'${name}' is reserved: choose another store name.`;
  return null;
}
