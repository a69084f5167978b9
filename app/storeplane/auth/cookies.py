"""The session cookie on the wire, and the same-origin rule for requests that sign in, out or carry it."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from storeplane.auth.sessions import SESSION_COOKIE
from storeplane.settings import Settings

# Responses that carry or set credentials: never cached, never sent on as a referrer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def same_origin(headers: Headers, settings: Settings) -> bool:
    """False when the browser says the request comes from another site (a missing Origin is not a browser's).

    The origin may be the Host the request reached or, behind a proxy that rewrites Host, the public URL.
    SameSite=Strict already keeps the cookie off cross-site requests; this also covers old browsers and
    cross-site websocket handshakes.
    """
    origin = headers.get("origin")
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower()
    if netloc == headers.get("host", "").lower():
        return True
    return bool(settings.public_url) and netloc == urlsplit(settings.public_url).netloc.lower()


def session_cookie(headers: Headers) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            return value
    return None


def _secure(request: Request, settings: Settings) -> bool:
    # Behind a TLS-terminating proxy the request's scheme is http unless the proxy is trusted: the public URL
    # says what the browser sees.
    return settings.public_url.startswith("https://") or request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, settings: Settings, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(settings.session_max_age_seconds),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request, settings),
    )


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request, settings)
    )
