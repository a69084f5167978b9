"""The dashboard: the built bundle (web/dist) with a single-page fallback.

Signing in is auth/routes.py. A credential never belongs in a URL: the retired `/?token=` sign-in URL is
answered with the sign-in page's explanation, and the token is not looked at.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from storeplane.auth.cookies import PRIVATE_HEADERS
from storeplane.auth.routes import SIGN_IN_PATH
from storeplane.paths import REPO_ROOT

DEFAULT_DIST = REPO_ROOT / "web" / "dist"
IDE_PAGE_PATH = "/graphiql.html"
_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Storeplane</title>
<p>The dashboard is not built. Run <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>
(<code>scripts/run</code> does it for you) and reload. The API is at <a href="/graphql">/graphql</a>.</p>"""


def web_routes(*, dist: Path = DEFAULT_DIST) -> list[Route]:
    """Routes for the bundle; the catch-all comes last, after the API's and sign-in's routes."""

    async def index(request: Request) -> Response:
        if "token" in request.query_params:
            return RedirectResponse(
                f"{SIGN_IN_PATH}?error=token-in-url", status_code=303, headers=PRIVATE_HEADERS
            )
        return _bundle_file(dist, request.url.path)

    async def bundle(request: Request) -> Response:
        if request.url.path == IDE_PAGE_PATH:
            # GraphiQL's page is served at /graphql, under its Content-Security-Policy (graphql/ide.py).
            return RedirectResponse("/graphql", status_code=308)
        return _bundle_file(dist, request.url.path)

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/{path:path}", bundle, methods=["GET", "HEAD"]),
    ]


def _bundle_file(dist: Path, path: str) -> Response:
    """A file of the bundle, or index.html for a client-side route (a path without a file)."""
    index = dist / "index.html"
    if not index.is_file():
        return HTMLResponse(_NOT_BUILT, status_code=503)
    root = dist.resolve()
    candidate = (root / path.lstrip("/")).resolve()
    if candidate.is_relative_to(root) and candidate.is_file() and candidate != index.resolve():
        # Vite puts a content hash in every name under assets/: those never change.
        immutable = candidate.is_relative_to(root / "assets")
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return FileResponse(candidate, headers={"Cache-Control": cache})
    if path.startswith("/assets/"):
        return Response("Not Found", status_code=404)
    return FileResponse(index, headers={"Cache-Control": "no-cache"})
