"""GraphiQL's page: the bundle's `graphiql.html`, under a policy that allows nothing but this origin.

The page and everything it loads (scripts, styles, Monaco's workers and fonts) come from the bundle that
`npm run build` writes to web/dist, so it works offline and runs no third-party script; the policy makes a
stray reference to another host fail loudly in the browser's console instead of loading.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Storeplane · GraphiQL</title>
<p>GraphiQL comes with the dashboard's bundle, which is not built. Run
<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code> (<code>scripts/run</code> does it for you)
and reload. The API itself answers at this address: <code>POST</code> for queries and mutations,
websockets for subscriptions.</p>"""

# A Host header as browsers send it (a name or an address, maybe a port): anything else is left out of the
# policy rather than echoed into a header.
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def content_security_policy(host: str | None) -> str:
    """Only this origin; `host` adds its ws: and wss: URLs for subscriptions."""
    # CSP Level 3 lets 'self' cover the page's own host over ws/wss (Chromium 156 connects with 'self' alone);
    # naming them keeps subscriptions working in engines without that rule, and behind a TLS proxy whichever
    # scheme the browser sees.
    sockets = f" ws://{host} wss://{host}" if host and _HOST.match(host) else ""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            # Needed: Monaco and GraphiQL's popovers set inline styles at run time; without 'unsafe-inline',
            # Chromium refuses about a hundred of them while a query and a subscription run.
            "style-src 'self' 'unsafe-inline'",
            # GraphiQL's stylesheet embeds its fonts and icons as data: URLs (inside our own file).
            "font-src 'self' data:",
            "img-src 'self' data:",
            "worker-src 'self'",
            f"connect-src 'self'{sockets}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def ide_response(page: Path, request: Request) -> Response:
    """`page` under the policy, or a 503 that says how to build it."""
    headers = {
        "Content-Security-Policy": content_security_policy(request.headers.get("host")),
        # The bundle's asset names change with every build: the page is checked each time.
        "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    if not page.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers=headers)
    return FileResponse(page, media_type="text/html", headers=headers)
