"""The local checks: the port is free, helm runs and is recent enough, the database opens for writing."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
from pathlib import Path

from storeplane.preflight.wording import StartupError, one_line, os_reason, public_url
from storeplane.settings import Settings

# How long each check may take. Constants rather than settings: they bound a one-off check at start-up, and
# each sits well above what a healthy system needs (the four checks together take 0.9 s against kubesim,
# imports included).
PORT_TIMEOUT = 5.0
"""Resolving the host name may ask DNS."""
HELM_TIMEOUT = 10.0
"""`helm version` reads no cluster, but a first run of a large Go binary from a slow disk takes seconds."""
POSTGRES_TIMEOUT = 10.0
"""Connecting to PostgreSQL: asyncpg's own connect timeout is a minute, far longer than anyone should wait."""
SQLITE_SLACK = 5.0
"""Added to STOREPLANE_DATABASE_BUSY_TIMEOUT_MS for SQLite, so that SQLite's "database is locked" (which
names the cause) arrives before our limit does."""

# helm 4.2.4 is the oldest that works. helm 4: with no state flag `helm list` lists releases in every state
# only since helm 4 (helm 3 lists deployed and failed ones only, so a release left pending by a killed helm
# would be invisible to reconciliation), and helm's stderr is classified against helm 4's texts
# (k8s/helm_stderr.py). 4.2.4: our chart creates its ResourceQuota and a quota-counted PVC in one apply, and
# the API server answers such a create with a 409 Conflict on the quota while it updates the quota's usage;
# helm retries that conflict during a server-side-apply create only since 4.2.4 (helm#32087).
MIN_HELM_VERSION = (4, 2, 4)
_HELM_VERSION_RE = re.compile(r"\bv?(\d+)\.(\d+)\.(\d+)")


# --- the port ------------------------------------------------------------------------------------------


async def check_port(*, host: str, port: int) -> None:
    """Bind every address of host:port the way uvicorn (asyncio's create_server) will, then let go.

    The socket is not handed to uvicorn, which then would not log its "Uvicorn running on" line (bench/ reads
    the port from it). A port taken after this check, while the lifespan starts, still ends as uvicorn's
    own error line (exit status 3)."""
    if port == 0:
        return  # any free port: nothing to collide with
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        async with asyncio.timeout(PORT_TIMEOUT):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
    except TimeoutError:
        raise StartupError(
            f"the host name {host!r} did not resolve within {PORT_TIMEOUT:g} s: set STOREPLANE_HOST "
            "(or --host) to an address of this machine"
        ) from None
    except OSError as exc:
        raise StartupError(
            f"cannot listen on {where}: {os_reason(exc)}: set STOREPLANE_HOST (or --host) to an address of "
            "this machine"
        ) from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            # As asyncio does for a server: a port left in TIME_WAIT by the previous run is free to reuse.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise StartupError(_bind_failure(exc, where=where, port=port)) from None


def _bind_failure(exc: OSError, *, where: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} is already in use on {where}: stop what listens there, or choose another port with "
            "STOREPLANE_PORT (or --port)"
        )
    if exc.errno == errno.EACCES:
        return (
            f"this user may not listen on {where} (ports below 1024 need privileges): choose another port "
            "with STOREPLANE_PORT (or --port)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where} is not an address of this machine: set STOREPLANE_HOST (or --host) to one that is"
    return f"cannot listen on {where}: {os_reason(exc)}: check STOREPLANE_HOST and STOREPLANE_PORT"


# --- helm ----------------------------------------------------------------------------------------------


async def check_helm(settings: Settings) -> None:
    """helm is an executable file and reports a version of at least MIN_HELM_VERSION."""
    from storeplane.cluster import helm_config
    from storeplane.k8s.errors import HelmBinaryNotFound
    from storeplane.k8s.helm_env import helm_environment

    minimum = ".".join(str(part) for part in MIN_HELM_VERSION)
    fix = (
        f"install helm v{minimum} or newer (scripts/bootstrap puts one in .tools/bin) or point "
        "STOREPLANE_HELM_BINARY at it"
    )
    try:
        binary = helm_config(settings).binary
    except HelmBinaryNotFound as exc:
        # Its own text names an explicit binary; without one it speaks of "the settings", so say which.
        what = exc.message if settings.helm_binary is not None else "found no helm in .tools/bin or on PATH"
        raise StartupError(f"{what}: {fix}") from None
    try:
        async with asyncio.timeout(HELM_TIMEOUT):
            status, out = await _run(
                [binary, "version", "--short"],
                env=helm_environment(os.environ, passthrough=settings.helm_env_passthrough),
            )
    except TimeoutError:
        raise StartupError(
            f"helm ({binary}) did not report its version within {HELM_TIMEOUT:g} s: {fix}"
        ) from None
    except OSError as exc:
        raise StartupError(f"helm ({binary}) cannot be run: {os_reason(exc)}: {fix}") from None
    found = _HELM_VERSION_RE.search(out)
    if status != 0 or found is None:
        raise StartupError(f"{binary} did not report a helm version (exit status {status}): {fix}")
    version = tuple(int(part) for part in found.groups())
    if version < MIN_HELM_VERSION:
        shown = ".".join(str(part) for part in version)
        raise StartupError(f"helm ({binary}) is v{shown}, older than v{minimum}: {fix}")


async def _run(args: list[str], *, env: dict[str, str]) -> tuple[int, str]:
    """Exit status and stdout of a short command (never a shell); killed and reaped if cancelled."""
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    try:
        out, _ = await process.communicate()
    except BaseException:
        if process.returncode is None:
            process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


# --- the database --------------------------------------------------------------------------------------


async def check_database(settings: Settings) -> None:
    """Open the database as `storeplane.db.lifecycle.init_db` does and take the write lock once (SQLite) or
    run one query (PostgreSQL); migrations are left to init_db."""
    from tortoise.context import TortoiseContext

    from storeplane.db.config import sqlite_path, tortoise_config

    if settings.is_sqlite:
        where = sqlite_path(settings.database_url)
        limit = settings.database_busy_timeout_ms / 1000 + SQLITE_SLACK
        if where != ":memory:":
            folder = Path(where).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StartupError(
                    f"cannot create the database folder {folder}: {os_reason(exc)}: set STOREPLANE_DATA_DIR "
                    "(or STOREPLANE_DATABASE_URL) to a folder this user can write"
                ) from None
    else:
        where, limit = public_url(settings.database_url), POSTGRES_TIMEOUT
    context = TortoiseContext()
    try:
        async with asyncio.timeout(limit):
            # As in init_db: init() resolves connections through the current context.
            with context:
                await context.init(config=tortoise_config(settings))
            connection = context.connections.get("default")
            if settings.is_sqlite:
                # Takes the write lock: fails on a read-only file, or waits out the busy timeout when another
                # process holds the lock (migrations, the first thing init_db does, would fail the same way).
                await connection.execute_script("BEGIN IMMEDIATE; ROLLBACK;")
                rows = await connection.execute_query_dict("PRAGMA journal_mode")
                mode = str(rows[0]["journal_mode"]).lower()
                if mode not in {"wal", "memory"}:
                    raise StartupError(
                        f"the SQLite database {where} stayed in journal_mode={mode} instead of WAL: put "
                        "STOREPLANE_DATA_DIR on a local filesystem"
                    )
            else:
                await connection.execute_query("SELECT 1")
    except StartupError:
        raise
    except TimeoutError:
        raise StartupError(
            f"the database {where} did not answer within {limit:g} s: check that it is running and "
            "reachable, or fix STOREPLANE_DATABASE_URL"
        ) from None
    except Exception as exc:
        raise StartupError(_database_failure(exc, settings=settings, where=where)) from None
    finally:
        await context.close_connections()


def _database_failure(exc: Exception, *, settings: Settings, where: str) -> str:
    reason = os_reason(exc) if isinstance(exc, OSError) else one_line(exc)
    if not settings.is_sqlite:
        return (
            f"cannot open the PostgreSQL database {where}: {reason}: check that the server runs and accepts "
            "these credentials, or fix STOREPLANE_DATABASE_URL"
        )
    lowered = reason.lower()
    if "locked" in lowered or "busy" in lowered:
        return (
            f"the SQLite database {where} is locked by another process (waited "
            f"{settings.database_busy_timeout_ms} ms): stop the other storeplane serve or tool that holds it"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return (
            f"the SQLite database {where} is read-only for this user: make it and its folder writable, or "
            "set STOREPLANE_DATA_DIR (or STOREPLANE_DATABASE_URL) elsewhere"
        )
    if "unable to open" in lowered:
        return (
            f"cannot open the SQLite database {where}: set STOREPLANE_DATA_DIR (or STOREPLANE_DATABASE_URL) "
            "to a folder this user can write"
        )
    return (
        f"cannot open the SQLite database {where}: {reason}: fix the file or set STOREPLANE_DATA_DIR (or "
        "STOREPLANE_DATABASE_URL) elsewhere"
    )
