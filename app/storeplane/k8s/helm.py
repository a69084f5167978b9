"""The helm wrapper: argument lists built by pure functions, one helm process per call, typed errors.

Every call runs the real `helm` binary with `asyncio.create_subprocess_exec` (never a shell), under a hard
deadline. On that deadline, or when the calling task is cancelled, helm's process group gets SIGTERM, then
SIGKILL after a grace period, and is always reaped. Helm runs in its own session (a Ctrl-C or a signal to the
server's group does not reach it mid-write) and, on Linux, with a parent-death signal, so that no helm
outlives the server even when the server is SIGKILLed.

Installs run without `--wait`: readiness comes from the watches (`storeplane.k8s.watching`), not from a helm
process held open for minutes. Per-store values are written to a 0600 temp file that is removed when the call
ends, never passed with `--set`. helm gets an allowlist of the server's environment
(`storeplane.k8s.helm_env`), never its API tokens or database URL: helm hands its environment on to plugins
and exec credential plugins.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from storeplane.k8s.errors import (
    HelmBinaryNotFound,
    HelmTimeout,
    ReleaseNotFound,
)
from storeplane.k8s.helm_args import (
    HelmConfig,
    ReleaseState,
    get_manifest_args,
    get_values_args,
    helm_duration,
    history_args,
    install_args,
    list_args,
    resolve_helm_binary,
    rollback_args,
    status_args,
    uninstall_args,
    upgrade_args,
    validate_namespace,
    validate_release_name,
)
from storeplane.k8s.helm_env import helm_environment
from storeplane.k8s.helm_release import Release, Revision, parse_time
from storeplane.k8s.helm_stderr import REDACTED, classify, redact, stderr_excerpt

# --- running helm --------------------------------------------------------------------------------------

# PR_SET_PDEATHSIG from <linux/prctl.h>: the kernel sends the child this signal when the thread that forked it
# exits. libc is loaded here, before any fork: dlopen in the forked child of a threaded process may deadlock.
_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None
if sys.platform == "linux":
    with contextlib.suppress(OSError):
        _libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A `preexec_fn` (runs in the child between fork and exec) that makes the child get SIGKILL when the
    server dies, even by SIGKILL, which no handler or `finally` in the server can react to. helm runs in its
    own session (so a signal to the server's process group does not hit it mid-write), which is exactly why
    it needs this to not outlive the server. The signal survives exec (helm is not set-user-ID). Caveat: it
    fires when the forking *thread* exits, so start helm from a long-lived thread (the event loop's).
    On other systems this is a no-op."""

    def preexec() -> None:
        if _libc is None:
            return
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The server may have died between fork and prctl: then nobody will send the signal.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _string_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _string_leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _string_leaves(item)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield str(value)


@dataclass
class Helm:
    """Runs helm for the control plane. Methods raise `HelmError` subclasses (see `storeplane.k8s.errors`)."""

    config: HelmConfig
    _running: dict[int, list[str]] = field(default_factory=dict, init=False, repr=False)

    @property
    def running(self) -> Mapping[int, Sequence[str]]:
        """pid -> argv of the helm processes this instance has running now (for tests and diagnostics)."""
        return dict(self._running)

    async def install(
        self,
        *,
        release: str,
        namespace: str,
        chart: Path | str,
        values: Sequence[Path | Mapping[str, Any]] = (),
    ) -> Release:
        """Install `chart` as `release` into the existing `namespace`. `values` apply in order: paths are
        passed as they are, mappings are written to a temp values file first."""
        with self._values_files(values) as (files, sensitive):
            args = install_args(
                self.config, release=release, namespace=namespace, chart=chart, values_files=files
            )
            out = await self._run(args, self.config.mutation_timeout, release, namespace, sensitive)
        return Release.from_release_json(json.loads(out))

    async def upgrade(
        self,
        *,
        release: str,
        namespace: str,
        chart: Path | str,
        values: Sequence[Path | Mapping[str, Any]] = (),
    ) -> Release:
        """Upgrade `release` to `chart` with exactly `values` (nothing is reused from earlier revisions)."""
        with self._values_files(values) as (files, sensitive):
            args = upgrade_args(
                self.config, release=release, namespace=namespace, chart=chart, values_files=files
            )
            out = await self._run(args, self.config.mutation_timeout, release, namespace, sensitive)
        return Release.from_release_json(json.loads(out))

    async def rollback(self, *, release: str, namespace: str, revision: int | None = None) -> None:
        args = rollback_args(self.config, release=release, namespace=namespace, revision=revision)
        await self._run(args, self.config.mutation_timeout, release, namespace)

    async def uninstall(self, *, release: str, namespace: str, ignore_not_found: bool = False) -> None:
        args = uninstall_args(
            self.config, release=release, namespace=namespace, ignore_not_found=ignore_not_found
        )
        await self._run(args, self.config.mutation_timeout, release, namespace)

    async def status(self, *, release: str, namespace: str) -> Release:
        """The release's newest revision (pending and failed ones included); ReleaseNotFound if none."""
        out = await self._run(
            status_args(self.config, release=release, namespace=namespace), None, release, namespace
        )
        entries = json.loads(out)
        if not entries:
            raise ReleaseNotFound(f"helm history of {release} in {namespace} is empty", command="history")
        return Release.from_revision(Revision.from_json(entries[-1]), name=release, namespace=namespace)

    async def history(
        self, *, release: str, namespace: str, max_revisions: int | None = None
    ) -> list[Revision]:
        args = history_args(self.config, release=release, namespace=namespace, max_revisions=max_revisions)
        return [
            Revision.from_json(item) for item in json.loads(await self._run(args, None, release, namespace))
        ]

    async def list_releases(
        self,
        *,
        namespace: str | None,
        filter_regex: str | None = None,
        states: Iterable[ReleaseState] = (),
        limit: int = 256,
    ) -> list[Release]:
        """Releases in `namespace`, or in every namespace when it is None."""
        args = list_args(
            self.config, namespace=namespace, filter_regex=filter_regex, states=states, limit=limit
        )
        out = await self._run(args, None, None, namespace)
        # Defensive: an empty stdout reads as no releases (helm 4.1.4 prints "[]").
        return [Release.from_list_item(item) for item in json.loads(out or "[]")]

    async def get_values(self, *, release: str, namespace: str, all_values: bool = False) -> dict[str, Any]:
        args = get_values_args(self.config, release=release, namespace=namespace, all_values=all_values)
        values = json.loads(await self._run(args, None, release, namespace))
        return dict(values or {})

    async def get_manifest(self, *, release: str, namespace: str) -> str:
        """The rendered manifest. It contains the chart's Secrets: never log it."""
        return await self._run(
            get_manifest_args(self.config, release=release, namespace=namespace), None, release, namespace
        )

    @contextlib.contextmanager
    def _values_files(
        self, values: Sequence[Path | Mapping[str, Any]]
    ) -> Iterator[tuple[list[Path], list[str]]]:
        """Paths for `values`, writing mappings to 0600 temp files that are removed on exit (even when the
        call is cancelled); also the strings of those mappings, which errors must not echo."""
        files: list[Path] = []
        sensitive: list[str] = []
        created: list[Path] = []
        try:
            for item in values:
                if isinstance(item, Mapping):
                    # mkstemp creates the file 0600 with O_EXCL.
                    fd, name = tempfile.mkstemp(
                        prefix="storeplane-values-", suffix=".yaml", dir=self.config.values_dir
                    )
                    path = Path(name)
                    created.append(path)
                    with os.fdopen(fd, "w", encoding="utf-8") as handle:
                        yaml.safe_dump(dict(item), handle, sort_keys=False)
                    files.append(path)
                    sensitive.extend(_string_leaves(item))
                else:
                    files.append(Path(item))
            yield files, sensitive
        finally:
            for path in created:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    async def _run(
        self,
        args: list[str],
        timeout: float | None,
        release: str | None,
        namespace: str | None,
        sensitive: Sequence[str] = (),
    ) -> str:
        """Run helm; its stdout on success, else the classified error. `timeout` None = query_timeout."""
        deadline = self.config.query_timeout if timeout is None else timeout
        command = " ".join(a for a in args[1:3] if not a.startswith("-"))
        # Names in argv are public already: masking them would only make messages unreadable.
        masked = [s for s in sensitive if s not in (release, namespace)]
        # Read per call: never the server's whole environment (API tokens, the database URL), see helm_env.
        env = helm_environment(
            os.environ if self.config.env is None else self.config.env,
            passthrough=self.config.env_passthrough,
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise HelmBinaryNotFound(
                f"cannot run helm at {args[0]!r}: {exc.strerror}", command=command
            ) from exc
        self._running[proc.pid] = args
        try:
            async with asyncio.timeout(deadline):
                out, err = await proc.communicate()
        except TimeoutError:
            subject = f" {release}" if release else ""
            raise HelmTimeout(
                f"helm {command}{subject} did not finish within {deadline}s and was killed",
                command=command,
                release=release,
                namespace=namespace,
            ) from None
        finally:
            if proc.returncode is None:
                await self._stop(proc)
            self._running.pop(proc.pid, None)
        if proc.returncode != 0:
            raise classify(
                err.decode(errors="replace"),
                exit_code=proc.returncode,
                command=command,
                release=release,
                namespace=namespace,
                sensitive=masked,
            )
        return out.decode()

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM helm's process group, SIGKILL after the grace period, reap. Runs to completion even if the
        calling task is cancelled again meanwhile (a half-done stop would leave an orphan or a zombie)."""
        stopping = asyncio.ensure_future(self._terminate(proc))
        cancelled = False
        while not stopping.done():
            try:
                await asyncio.shield(stopping)
            except asyncio.CancelledError:
                cancelled = True
        stopping.result()
        if cancelled:
            raise asyncio.CancelledError

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        # The group id is helm's pid (own session); it is only signalled while helm is unreaped, so the id
        # cannot have been reused by then.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.config.kill_grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


__all__ = [
    "REDACTED",
    "Helm",
    "HelmConfig",
    "Release",
    "ReleaseState",
    "Revision",
    "classify",
    "get_manifest_args",
    "get_values_args",
    "helm_duration",
    "history_args",
    "install_args",
    "list_args",
    "parse_time",
    "redact",
    "resolve_helm_binary",
    "rollback_args",
    "status_args",
    "stderr_excerpt",
    "uninstall_args",
    "upgrade_args",
    "validate_namespace",
    "validate_release_name",
]
