"""The dashboard: the built bundle (web/dist) with a single-page fallback, signing in and out.

Signing in trades a token for a session cookie (HttpOnly, SameSite=Strict; see auth/sessions.py):
`GET /?token=<token>` (the URL `scripts/run` prints) or `POST /auth/session` from the sign-in page. GraphQL
keeps one authentication path, the bearer token: `SessionAuth`, in front of it, turns a valid cookie into
the `Authorization` header of that request or websocket handshake, unless the request already has one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from storeplane.auth.sessions import SESSION_COOKIE, SessionSigner
from storeplane.lifespan_state import lifespan_state
from storeplane.paths import REPO_ROOT

log = logging.getLogger(__name__)

DEFAULT_DIST = REPO_ROOT / "web" / "dist"
SIGN_IN_PATH = "/signin"
_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Storeplane</title>
<p>The dashboard is not built. Run <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>
(<code>scripts/run</code> does it for you) and reload. The API is at <a href="/graphql">/graphql</a>.</p>"""
# Responses that carry or set credentials: never cached, never sent on as a referrer.
_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def same_origin(headers: Headers) -> bool:
    """False when the browser says the request comes from another site (a missing Origin is not a browser's).

    SameSite=Strict already keeps the cookie off cross-site requests; this also covers old browsers and
    cross-site websocket handshakes.
    """
    origin = headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


class SessionAuth:
    """ASGI middleware: a request with a valid session cookie and no Authorization header gets the bearer."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = Headers(scope=scope)
            if "authorization" not in headers and same_origin(headers):
                token = lifespan_state(scope)["sessions"].token_of(_cookie(headers))
                if token is not None:
                    scope = dict(scope)
                    scope["headers"] = [*scope["headers"], (b"authorization", f"Bearer {token}".encode())]
        await self._app(scope, receive, send)


def _cookie(headers: Headers) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            return value
    return None


def _set_session(response: Response, request: Request, value: str, *, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def _sessions(request: Request) -> SessionSigner:
    return lifespan_state(request.scope)["sessions"]


def web_routes(*, dist: Path = DEFAULT_DIST) -> list[Route]:
    """Routes for `/auth/*` and the bundle; the catch-all comes last, after the API's routes."""

    def without_token(request: Request) -> str:
        rest = [(key, value) for key, value in request.query_params.multi_items() if key != "token"]
        return request.url.path + (f"?{urlencode(rest)}" if rest else "")

    async def index(request: Request) -> Response:
        token = request.query_params.get("token")
        if token is None:
            return _bundle_file(dist, request.url.path)
        value = _sessions(request).issue(token)
        if value is None:
            log.info("sign-in refused: unknown token in the sign-in URL")
            return RedirectResponse(f"{SIGN_IN_PATH}?error=invalid-token", status_code=303, headers=_PRIVATE)
        response = RedirectResponse(without_token(request), status_code=303, headers=_PRIVATE)
        _set_session(response, request, value, max_age=_sessions(request).max_age)
        return response

    async def sign_in(request: Request) -> Response:
        form = "json" not in request.headers.get("content-type", "")
        if not same_origin(request.headers):
            return JSONResponse({"error": "cross-site sign-in refused"}, status_code=403, headers=_PRIVATE)
        token: object = None
        if form:
            # A plain urlencoded form (python-multipart, which Starlette's form() needs, is not a dependency).
            token = next(
                iter(parse_qs((await request.body()).decode(errors="replace")).get("token", [])), None
            )
        else:
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
            token = body.get("token") if isinstance(body, dict) else None
        value = _sessions(request).issue(token.strip()) if isinstance(token, str) else None
        if value is None:
            if form:
                return RedirectResponse(
                    f"{SIGN_IN_PATH}?error=invalid-token", status_code=303, headers=_PRIVATE
                )
            return JSONResponse({"error": "This token is not valid."}, status_code=401, headers=_PRIVATE)
        response: Response = RedirectResponse("/", status_code=303) if form else Response(status_code=204)
        response.headers.update(_PRIVATE)
        _set_session(response, request, value, max_age=_sessions(request).max_age)
        return response

    async def who_am_i(request: Request) -> Response:
        token = _sessions(request).token_of(_cookie(request.headers))
        caller = lifespan_state(request.scope)["authenticator"].authenticate(token)
        if caller is None:
            return JSONResponse({"error": "not signed in"}, status_code=401, headers=_PRIVATE)
        return JSONResponse({"owner": caller.owner}, headers=_PRIVATE)

    async def sign_out(request: Request) -> Response:
        if not same_origin(request.headers):
            return JSONResponse({"error": "cross-site sign-out refused"}, status_code=403, headers=_PRIVATE)
        form = "json" not in request.headers.get("content-type", "") and "form" in request.headers.get(
            "content-type", ""
        )
        response: Response = (
            RedirectResponse(SIGN_IN_PATH, status_code=303) if form else Response(status_code=204)
        )
        response.headers.update(_PRIVATE)
        _clear_session(response, request)
        return response

    async def bundle(request: Request) -> Response:
        return _bundle_file(dist, request.url.path)

    return [
        Route("/auth/session", sign_in, methods=["POST"]),
        Route("/auth/session", who_am_i, methods=["GET"]),
        Route("/auth/signout", sign_out, methods=["POST"]),
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
