"""Pure helm argument lists: configuration, name checks and one builder per helm command."""

from __future__ import annotations

import enum
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from storeplane.k8s.errors import (
    HelmBinaryNotFound,
    InvalidName,
)
from storeplane.k8s.helm_env import parse_passthrough
from storeplane.paths import REPO_ROOT

# helm's own limit on release names (its regex also allows dots; we do not, names are labels here).
RELEASE_NAME_MAX = 53
NAMESPACE_MAX = 63
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Go's reference-time layout for `helm list --time-format`: RFC 3339 with microseconds, which
# `datetime.fromisoformat` reads (helm's default list format, "2006-01-02 15:04:05.999 -0700 MST", is not).
_LIST_TIME_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
STDERR_EXCERPT_MAX = 1500


@dataclass(frozen=True)
class HelmConfig:
    """How to run helm. Timeouts are seconds."""

    binary: str
    """Path of the helm executable (see `resolve_helm_binary`)."""
    kubeconfig: str | None = None
    """Passed as `--kubeconfig`; None lets helm use KUBECONFIG, ~/.kube/config or the in-cluster config."""
    kube_context: str | None = None
    """Passed as `--kube-context`; None uses the kubeconfig's current context."""
    history_max: int = 10
    """`--history-max` for upgrade and rollback: revisions (release Secrets) helm keeps per release."""
    operation_timeout: float = 300.0
    """helm's own `--timeout` for install, upgrade, rollback and uninstall: how long helm waits for any one
    Kubernetes operation (hooks; we never pass `--wait`). On expiry helm records the release as failed."""
    mutation_timeout: float = 360.0
    """Our hard deadline for install/upgrade/rollback/uninstall before we kill helm. Longer than
    `operation_timeout` so helm normally fails by itself and records the release as failed; killing it
    mid-write can leave the release pending-install/-upgrade (which reconciliation then has to repair)."""
    query_timeout: float = 30.0
    """Hard deadline for read-only calls (status, list, history, get): a few API requests each."""
    kill_grace: float = 5.0
    """Seconds between SIGTERM and SIGKILL when we stop helm: SIGTERM lets helm cancel its context and
    record the release as failed instead of leaving it pending."""
    env: Mapping[str, str] | None = None
    """The variables helm's environment is taken from (tests give their HELM_*_HOME, KUBECONFIG, ...); None =
    the server's. Either way helm gets only what `storeplane.k8s.helm_env.helm_environment` lets through."""
    env_passthrough: tuple[str, ...] = ()
    """Variable names and `PREFIX_*` patterns helm gets besides the allowlist (see `parse_passthrough`);
    `STOREPLANE_*` variables and database URLs are refused."""
    values_dir: Path | None = None
    """Where per-store values files are written (0600, removed after the call); None = the system temp dir."""

    def __post_init__(self) -> None:
        # Checked here too, not only in the settings: a config built in code must not widen helm's env.
        object.__setattr__(self, "env_passthrough", parse_passthrough(self.env_passthrough))


def resolve_helm_binary(explicit: str | None = None, *, repo_root: Path = REPO_ROOT) -> str:
    """The helm to run: `explicit` (a path, or a name looked up on PATH), else `<repo>/.tools/bin/helm`,
    else `helm` on PATH."""
    if explicit:
        found = explicit if os.sep in explicit else shutil.which(explicit)
        if found is None or not os.access(found, os.X_OK):
            raise HelmBinaryNotFound(f"helm binary {explicit!r} is not an executable file")
        return found
    local = repo_root / ".tools" / "bin" / "helm"
    if os.access(local, os.X_OK):
        return str(local)
    on_path = shutil.which("helm")
    if on_path is None:
        raise HelmBinaryNotFound(
            f"helm not found: set the helm binary in settings, run scripts/bootstrap ({local}) "
            "or put helm on PATH"
        )
    return on_path


# --- names --------------------------------------------------------------------------------------------


def validate_release_name(name: str) -> str:
    """`name` if it is a DNS-1123 label of at most 53 characters (helm's limit), else InvalidName."""
    if len(name) > RELEASE_NAME_MAX or not _DNS1123_LABEL.match(name):
        raise InvalidName(
            f"invalid release name {name[:80]!r}: must be a DNS-1123 label (lowercase letters, digits and "
            f"'-', starting and ending with a letter or digit) of at most {RELEASE_NAME_MAX} characters"
        )
    return name


def validate_namespace(namespace: str) -> str:
    """`namespace` if it is a DNS-1123 label of at most 63 characters, else InvalidName."""
    if len(namespace) > NAMESPACE_MAX or not _DNS1123_LABEL.match(namespace):
        raise InvalidName(
            f"invalid namespace {namespace[:80]!r}: must be a DNS-1123 label of at most "
            f"{NAMESPACE_MAX} characters"
        )
    return namespace


# --- argument lists (pure) -----------------------------------------------------------------------------
# Values that are not validated names go in one token (`--flag=value`), and positional arguments come after
# `--`, so nothing can be read as a flag.


def helm_duration(seconds: float) -> str:
    """A Go duration for `--timeout`: whole seconds as "300s", anything finer in milliseconds."""
    if seconds <= 0:
        raise ValueError(f"timeout must be positive, got {seconds}")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


def _scope(config: HelmConfig, namespace: str) -> list[str]:
    args = ["-n", validate_namespace(namespace)]
    if config.kubeconfig:
        args.append(f"--kubeconfig={config.kubeconfig}")
    if config.kube_context:
        args.append(f"--kube-context={config.kube_context}")
    return args


def _cluster_wide_scope(config: HelmConfig) -> list[str]:
    args = ["--all-namespaces"]
    if config.kubeconfig:
        args.append(f"--kubeconfig={config.kubeconfig}")
    if config.kube_context:
        args.append(f"--kube-context={config.kube_context}")
    return args


def _values(files: Sequence[Path | str]) -> list[str]:
    return [f"--values={path}" for path in files]


def install_args(
    config: HelmConfig, *, release: str, namespace: str, chart: Path | str, values_files: Sequence[Path | str]
) -> list[str]:
    """`helm install`: no `--wait` (readiness comes from watches), no `--create-namespace` (the control
    plane creates and labels the namespace). `--history-max` is not an install flag in helm 4."""
    validate_release_name(release)
    return [
        config.binary,
        "install",
        *_scope(config, namespace),
        "--output=json",
        f"--timeout={helm_duration(config.operation_timeout)}",
        *_values(values_files),
        "--",
        release,
        str(chart),
    ]


def upgrade_args(
    config: HelmConfig, *, release: str, namespace: str, chart: Path | str, values_files: Sequence[Path | str]
) -> list[str]:
    """`helm upgrade` with exactly the given values: `--reset-values`, because helm reuses the previous
    release's values when an upgrade gets none, and a store's values must never depend on its history."""
    validate_release_name(release)
    return [
        config.binary,
        "upgrade",
        *_scope(config, namespace),
        "--output=json",
        f"--timeout={helm_duration(config.operation_timeout)}",
        f"--history-max={config.history_max}",
        "--reset-values",
        *_values(values_files),
        "--",
        release,
        str(chart),
    ]


def rollback_args(
    config: HelmConfig, *, release: str, namespace: str, revision: int | None = None
) -> list[str]:
    """`helm rollback` to `revision` (None = the previous one); also repairs a release left pending by a
    killed helm."""
    validate_release_name(release)
    if revision is not None and revision < 1:
        raise ValueError(f"revision must be >= 1, got {revision}")
    return [
        config.binary,
        "rollback",
        *_scope(config, namespace),
        f"--timeout={helm_duration(config.operation_timeout)}",
        f"--history-max={config.history_max}",
        "--",
        release,
        *(() if revision is None else (str(revision),)),
    ]


def uninstall_args(
    config: HelmConfig, *, release: str, namespace: str, ignore_not_found: bool = False
) -> list[str]:
    """`helm uninstall` (no `-o json` in helm; no `--wait`: deleting the namespace is what waits)."""
    validate_release_name(release)
    return [
        config.binary,
        "uninstall",
        *_scope(config, namespace),
        f"--timeout={helm_duration(config.operation_timeout)}",
        *(("--ignore-not-found",) if ignore_not_found else ()),
        "--",
        release,
    ]


def history_args(
    config: HelmConfig, *, release: str, namespace: str, max_revisions: int | None = None
) -> list[str]:
    """`helm history -o json`, oldest first; `max_revisions` keeps the newest N."""
    validate_release_name(release)
    if max_revisions is not None and max_revisions < 1:
        raise ValueError(f"max_revisions must be >= 1, got {max_revisions}")
    return [
        config.binary,
        "history",
        *_scope(config, namespace),
        "--output=json",
        *(() if max_revisions is None else (f"--max={max_revisions}",)),
        "--",
        release,
    ]


def status_args(config: HelmConfig, *, release: str, namespace: str) -> list[str]:
    """What `Helm.status` runs: the newest history entry. helm 4's `status -o json` has no chart name or app
    version, but does carry the rendered manifest and the user values (Secrets included); the history
    entry has every summary field and nothing sensitive."""
    return history_args(config, release=release, namespace=namespace, max_revisions=1)


class ReleaseState(enum.StrEnum):
    """helm's release states (`helm.sh/helm/v4/pkg/release/common`)."""

    UNKNOWN = "unknown"
    DEPLOYED = "deployed"
    UNINSTALLED = "uninstalled"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    UNINSTALLING = "uninstalling"
    PENDING_INSTALL = "pending-install"
    PENDING_UPGRADE = "pending-upgrade"
    PENDING_ROLLBACK = "pending-rollback"

    @classmethod
    def _missing_(cls, value: object) -> ReleaseState:
        return cls.UNKNOWN

    @property
    def is_pending(self) -> bool:
        return self in (self.PENDING_INSTALL, self.PENDING_UPGRADE, self.PENDING_ROLLBACK)


# `helm list` has one flag per state it may be narrowed to; without any it lists every state.
_LIST_STATE_FLAGS = {
    ReleaseState.DEPLOYED: "--deployed",
    ReleaseState.FAILED: "--failed",
    ReleaseState.PENDING_INSTALL: "--pending",
    ReleaseState.PENDING_UPGRADE: "--pending",
    ReleaseState.PENDING_ROLLBACK: "--pending",
    ReleaseState.SUPERSEDED: "--superseded",
    ReleaseState.UNINSTALLED: "--uninstalled",
    ReleaseState.UNINSTALLING: "--uninstalling",
}


def list_args(
    config: HelmConfig,
    *,
    namespace: str | None,
    filter_regex: str | None = None,
    states: Iterable[ReleaseState] = (),
    limit: int = 256,
) -> list[str]:
    """`helm list -o json` in `namespace`, or in every namespace when it is None. helm 4 lists every state by
    default (there is no `--all` any more); `states` narrows it. `filter_regex` is a Perl-style regex on
    the release name."""
    if limit < 1:
        # `--max 0` means "the server's default", not "no limit".
        raise ValueError(f"limit must be >= 1, got {limit}")
    scope = _cluster_wide_scope(config) if namespace is None else _scope(config, namespace)
    flags = sorted({_LIST_STATE_FLAGS[state] for state in states if state in _LIST_STATE_FLAGS})
    return [
        config.binary,
        "list",
        *scope,
        "--output=json",
        f"--time-format={_LIST_TIME_LAYOUT}",
        f"--max={limit}",
        *flags,
        *(() if filter_regex is None else (f"--filter={filter_regex}",)),
    ]


def get_values_args(
    config: HelmConfig, *, release: str, namespace: str, all_values: bool = False, revision: int | None = None
) -> list[str]:
    """`helm get values -o json`: the user-supplied values, or every computed value with `all_values`."""
    validate_release_name(release)
    return [
        config.binary,
        "get",
        "values",
        *_scope(config, namespace),
        "--output=json",
        *(("--all",) if all_values else ()),
        *(() if revision is None else (f"--revision={revision}",)),
        "--",
        release,
    ]


def get_manifest_args(
    config: HelmConfig, *, release: str, namespace: str, revision: int | None = None
) -> list[str]:
    """`helm get manifest` (YAML only; it includes rendered Secrets)."""
    validate_release_name(release)
    return [
        config.binary,
        "get",
        "manifest",
        *_scope(config, namespace),
        *(() if revision is None else (f"--revision={revision}",)),
        "--",
        release,
    ]
