// Three client-side routes need no router library: `/`, `/stores/<id>` and `/signin`.
import { useEffect, useState } from 'react';

export type Route = { page: 'list' } | { page: 'store'; id: string } | { page: 'signin'; error: string | null };

export function parseRoute(pathname: string, search: string): Route {
  const store = /^\/stores\/([^/]+)\/?$/.exec(pathname);
  if (store) return { page: 'store', id: decodeURIComponent(store[1]!) };
  if (pathname === '/signin') return { page: 'signin', error: new URLSearchParams(search).get('error') };
  return { page: 'list' };
}

export function navigate(to: string): void {
  window.history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const read = () => parseRoute(window.location.pathname, window.location.search);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const update = () => setRoute(read());
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return route;
}
