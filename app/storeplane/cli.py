"""`storeplane serve` and `storeplane export-schema`."""

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

    # Everything the server creates is its own: the database with its WAL and SHM (owners, client addresses),
    # the session key and the development token. No other account on the host reads them. Set before the
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
    config = uvicorn.Config(
        create_app(settings, cluster=kube_cluster()),
        host=host,
        port=port,
        lifespan="on",
        # The sans-I/O implementation of the websockets library (its legacy one is deprecated).
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_message_bytes,
        log_config=None,
        # Compression state costs ~45 KiB per websocket; events are small and mostly go to a LAN.
        ws_per_message_deflate=False,
    )
    uvicorn.Server(config).run()
    return 0


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
    else:
        _export_schema(settings, output=args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
