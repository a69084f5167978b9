import type { EventSource, StoreStatus } from './graphql/generated';

export const STATUS_LABEL: Record<StoreStatus, string> = {
  PENDING: 'Pending',
  PROVISIONING: 'Provisioning',
  READY: 'Ready',
  FAILED: 'Failed',
  DELETING: 'Deleting',
  DELETED: 'Deleted',
};

export const SOURCE_LABEL: Record<EventSource, string> = { API: 'api', HELM: 'helm', KUBERNETES: 'kubernetes' };

/** "5 s", "3 min", "2 h", "4 d": how long ago `iso` was. */
export function age(iso: string, now: number = Date.now()): string {
  return span((now - Date.parse(iso)) / 1000);
}

/** A number of seconds (at least 0) in the largest whole unit: "5 s", "3 min", "2 h", "4 d". */
export function span(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min`;
  if (whole < 86400) return `${Math.floor(whole / 3600)} h`;
  return `${Math.floor(whole / 86400)} d`;
}

export function dateTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function time(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** A failure reason in plain words: a one-line summary, then the server's own sentence. */
export function plainFailure(reason: string | null): { summary: string; detail: string } {
  const detail = reason ?? 'No reason was recorded.';
  if (/^not ready after/i.test(detail)) {
    return { summary: 'The store did not become ready in time: a part of it never started working.', detail };
  }
  if (/helm/i.test(detail)) return { summary: 'Installing the store’s software (helm) failed.', detail };
  if (/quota|exceeded|forbidden/i.test(detail)) {
    return { summary: 'The cluster refused to create part of the store.', detail };
  }
  return { summary: 'Provisioning the store failed.', detail };
}
