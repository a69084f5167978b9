"""`storeplane serve`, `storeplane sign-in-link` and `storeplane export-schema`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from storeplane.paths import REPO_ROOT
from storeplane.settings import Settings


def _serve(settings: Settings, *, host: str, port: int) -> int:
    from storeplane.cluster import kube_cluster
    from storeplane.preflight import StartupError, preflight
    from storeplane.server import create_app
    from storeplane.serving import uvicorn_config

    # Everything the server creates is its own: the database with its WAL and SHM (owners, client addresses),
    # the development token. No other account on the host reads them. Set before the
    # checks, which create the data folder and the database file.
    os.umask(0o077)
    try:
        asyncio.run(preflight(settings, host=host, port=port))
    except StartupError as exc:
        # Something outside the code is wrong (helm, the cluster, the database, the port): say what to fix.
        print(f"storeplane: {exc.sentence}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130  # Ctrl-C while a check waits: the shell's status for SIGINT, without a traceback
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = uvicorn_config(create_app(settings, cluster=kube_cluster()), settings, host=host, port=port)
    uvicorn.Server(config).run()
    return 0


def _sign_in_link(settings: Settings, *, owner: str | None) -> int:
    from storeplane.auth.tokens import load_tokens
    from storeplane.preflight import StartupError

    os.umask(0o077)
    owners = sorted(set(load_tokens(settings).values()))
    if owner is None and len(owners) == 1:
        owner = owners[0]
    if owner not in owners:
        known = ", ".join(owners)
        print(
            f"storeplane: {'--owner is needed' if owner is None else f'no token is for owner {owner!r}'}: "
            f"the owners in STOREPLANE_API_TOKENS are {known}",
            file=sys.stderr,
        )
        return 2
    try:
        code = asyncio.run(_mint(settings, owner=owner))
    except StartupError as exc:
        print(f"storeplane: {exc.sentence}", file=sys.stderr)
        return 2
    print(f"{settings.base_url(host=settings.host, port=settings.port)}/auth/link?code={code}")
    print(
        f"storeplane: a sign-in link for {owner}: valid once, for {settings.signin_code_ttl_seconds:g} s",
        file=sys.stderr,
    )
    return 0


async def _mint(settings: Settings, *, owner: str) -> str:
    from storeplane.auth.sign_in_codes import SignInCodes
    from storeplane.auth.tokens import OWNER_ROLE
    from storeplane.db.lifecycle import close_db, init_db
    from storeplane.preflight.local import check_database

    await check_database(settings)  # a plain sentence (StartupError) for a database that cannot be opened
    await init_db(settings)
    try:
        return await SignInCodes(ttl_seconds=settings.signin_code_ttl_seconds).mint(
            owner=owner, role=OWNER_ROLE
        )
    finally:
        await close_db()


def _export_schema(settings: Settings, *, output: Path) -> None:
    from storeplane.graphql.schema import schema_sdl

    output.write_text(schema_sdl(settings))
    print(f"wrote {output}")


def settings_error(exc: ValidationError) -> str:
    """One line per invalid setting, named as the STOREPLANE_* variable that sets it."""
    lines = ["storeplane: invalid settings:"]
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"])
        name = f"STOREPLANE_{field.upper()}" if field else "settings"
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="storeplane", description="Storeplane control plane")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host", help="address to bind (default: STOREPLANE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: STOREPLANE_PORT or 8000)")
    link = commands.add_parser(
        "sign-in-link", help="print a one-time link that signs a browser in to the dashboard"
    )
    link.add_argument("--owner", help="whose dashboard (default: the only owner, when there is one)")
    export = commands.add_parser("export-schema", help="write the GraphQL schema (SDL)")
    export.add_argument(
        "--output",
        type=Path,
        default=REPO_ROOT / "schema.graphql",
        help="file to write (default: schema.graphql)",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        # A person mistyped a variable: say which and why, without a traceback (inputs are hidden).
        print(settings_error(exc), file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(
            settings,
            host=args.host if args.host is not None else settings.host,
            port=args.port if args.port is not None else settings.port,
        )
    if args.command == "sign-in-link":
        return _sign_in_link(settings, owner=args.owner)
    _export_schema(settings, output=args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
