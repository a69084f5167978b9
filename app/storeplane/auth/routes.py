"""Signing in and out of the dashboard: a one-time sign-in link or a pasted token becomes a session cookie.

- `GET /auth/link?code=...`: the link `storeplane sign-in-link` prints. Redeemed only when the browser says
  the navigation did not come from another site (`Sec-Fetch-Site: none` or `same-origin`); otherwise, so that
  a tenant cannot sign a victim into the tenant's account (login CSRF), a page asks to confirm with a POST.
- `POST /auth/link`: that confirmation, from our own page only.
- `POST /auth/session`: a token typed into the sign-in page (form or JSON); never a URL.
- `GET /auth/session`: who the cookie signs in; `POST /auth/signout` revokes the session on the server.

Failed attempts are counted per client address (auth/throttle.py); past the limit, 429 with Retry-After.
"""

from __future__ import annotations

import html
import json
import logging
import math
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from storeplane.auth.cookies import (
    PRIVATE_HEADERS,
    clear_session_cookie,
    same_origin,
    session_cookie,
    set_session_cookie,
)
from storeplane.auth.tokens import OWNER_ROLE, SIGNED_IN_WITH_LINK, token_fingerprint
from storeplane.lifespan_state import LifespanState, lifespan_state
from storeplane.settings import Settings

log = logging.getLogger(__name__)

SIGN_IN_PATH = "/signin"
# Navigations the browser started itself (typed, pasted, opened from a terminal) or from our own pages.
_TRUSTED_FETCH_SITES = ("none", "same-origin")
_CONFIRM_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in - Storeplane</title>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>Sign in to Storeplane?</h1>
<p>This sign-in link was opened from another site. Continue only if you asked for it yourself: a link
somebody else sent you may sign you in as them.</p>
<form method="post" action="/auth/link"><input type="hidden" name="code" value="{code}">
<button type="submit">Sign in</button> <a href="/signin">Cancel</a></form></body></html>"""
_CONFIRM_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"


def _state(request: Request) -> LifespanState:
    return lifespan_state(request.scope)


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _throttled(request: Request) -> Response | None:
    wait = _state(request)["sign_in_throttle"].retry_after(_address(request))
    if wait is None:
        return None
    return JSONResponse(
        {"error": "Too many failed sign-ins from this address: wait and try again."},
        status_code=429,
        headers={**PRIVATE_HEADERS, "Retry-After": str(math.ceil(wait))},
    )


def _refused(request: Request, *, form: bool, error: str, message: str) -> Response:
    _state(request)["sign_in_throttle"].failed(_address(request))
    log.info("sign-in refused from %s: %s", _address(request) or "?", error)
    if form:
        return RedirectResponse(f"{SIGN_IN_PATH}?error={error}", status_code=303, headers=PRIVATE_HEADERS)
    return JSONResponse({"error": message}, status_code=401, headers=PRIVATE_HEADERS)


async def _signed_in(
    request: Request, settings: Settings, response: Response, *, owner: str, role: str, signed_in_with: str
) -> Response:
    cookie, _ = await _state(request)["sessions"].start(
        owner=owner,
        role=role,
        signed_in_with=signed_in_with,
        user_agent=request.headers.get("user-agent"),
        client_address=_address(request),
    )
    response.headers.update(PRIVATE_HEADERS)
    set_session_cookie(response, request, settings, cookie)
    return response


async def _form_field(request: Request, name: str) -> str | None:
    # A plain urlencoded form (python-multipart, which Starlette's form() needs, is not a dependency).
    values = parse_qs((await request.body()).decode(errors="replace")).get(name, [])
    return values[0] if values else None


def auth_routes(settings: Settings) -> list[Route]:
    async def redeem_link(request: Request, code: str | None) -> Response:
        if _throttled(request) is not None:
            # A browser's navigation: the sign-in page says to wait, rather than a JSON body.
            return RedirectResponse(
                f"{SIGN_IN_PATH}?error=throttled", status_code=303, headers=PRIVATE_HEADERS
            )
        redeemed = await _state(request)["sign_in_codes"].redeem(code)
        if redeemed is None or not _state(request)["authenticator"].knows_owner(redeemed.owner):
            return _refused(
                request, form=True, error="invalid-link", message="This sign-in link is not valid."
            )
        return await _signed_in(
            request,
            settings,
            RedirectResponse("/", status_code=303),
            owner=redeemed.owner,
            role=redeemed.role,
            signed_in_with=SIGNED_IN_WITH_LINK,
        )

    async def open_link(request: Request) -> Response:
        code = request.query_params.get("code")
        if request.headers.get("sec-fetch-site") in _TRUSTED_FETCH_SITES:
            return await redeem_link(request, code)
        # Another site sent the browser here, or it does not say (an old browser, a script): ask first.
        page = _CONFIRM_PAGE.format(code=html.escape(code or "", quote=True))
        return HTMLResponse(page, headers={**PRIVATE_HEADERS, "Content-Security-Policy": _CONFIRM_CSP})

    async def confirm_link(request: Request) -> Response:
        if not same_origin(request.headers, settings):
            return JSONResponse(
                {"error": "cross-site sign-in refused"}, status_code=403, headers=PRIVATE_HEADERS
            )
        return await redeem_link(request, await _form_field(request, "code"))

    async def sign_in(request: Request) -> Response:
        form = "json" not in request.headers.get("content-type", "")
        if not same_origin(request.headers, settings):
            return JSONResponse(
                {"error": "cross-site sign-in refused"}, status_code=403, headers=PRIVATE_HEADERS
            )
        if (throttled := _throttled(request)) is not None:
            return throttled
        token: object = None
        if form:
            token = await _form_field(request, "token")
        else:
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
            token = body.get("token") if isinstance(body, dict) else None
        caller = (
            _state(request)["authenticator"].authenticate(token.strip()) if isinstance(token, str) else None
        )
        if caller is None or not isinstance(token, str):
            return _refused(request, form=form, error="invalid-token", message="This token is not valid.")
        response: Response = RedirectResponse("/", status_code=303) if form else Response(status_code=204)
        return await _signed_in(
            request,
            settings,
            response,
            owner=caller.owner,
            role=OWNER_ROLE,
            signed_in_with=token_fingerprint(token.strip()),
        )

    async def who_am_i(request: Request) -> Response:
        session = await _state(request)["sessions"].resolve(session_cookie(request.headers))
        if session is None:
            return JSONResponse({"error": "not signed in"}, status_code=401, headers=PRIVATE_HEADERS)
        return JSONResponse(
            {"owner": session.owner, "role": session.role, "sessionId": session.id}, headers=PRIVATE_HEADERS
        )

    async def sign_out(request: Request) -> Response:
        if not same_origin(request.headers, settings):
            return JSONResponse(
                {"error": "cross-site sign-out refused"}, status_code=403, headers=PRIVATE_HEADERS
            )
        sessions = _state(request)["sessions"]
        session = await sessions.resolve(session_cookie(request.headers))
        if session is not None:
            await sessions.revoke(owner=session.owner, id=session.id)
        form = "form" in request.headers.get("content-type", "")
        response: Response = (
            RedirectResponse(SIGN_IN_PATH, status_code=303) if form else Response(status_code=204)
        )
        response.headers.update(PRIVATE_HEADERS)
        clear_session_cookie(response, request, settings)
        return response

    return [
        Route("/auth/link", open_link, methods=["GET"]),
        Route("/auth/link", confirm_link, methods=["POST"]),
        Route("/auth/session", sign_in, methods=["POST"]),
        Route("/auth/session", who_am_i, methods=["GET"]),
        Route("/auth/signout", sign_out, methods=["POST"]),
    ]
