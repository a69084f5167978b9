"""The environment helm runs with: an allowlist of the server's variables, never the server's secrets.

helm hands its whole environment to its plugins and, through client-go, to kubeconfig exec credential plugins
(`aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`). The server's environment holds
`STOREPLANE_API_TOKENS` and may hold a PostgreSQL URL with its password, so helm gets only the variables
below, plus what the operator names in `STOREPLANE_HELM_ENV_PASSTHROUGH`; `STOREPLANE_*` variables and
database URLs are dropped even then.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Exact names helm may get. PATH finds plugins and exec credential plugins; HOME is where helm and client-go
# find ~/.kube/config and helm's default folders. KUBECONFIG is the kubeconfig when no --kubeconfig is passed.
# Go's net/http reads the proxy variables in both cases. TMPDIR: Go's os.TempDir (helm unpacks charts
# there). LANG and TZ: plugins are often shell or Python scripts that decode text by the locale; TZ keeps
# helm's local times in the server's zone. SSL_CERT_FILE/SSL_CERT_DIR: Go reads extra CA roots from them,
# needed behind a TLS-inspecting proxy or with a private registry.
HELM_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "KUBECONFIG",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "TMPDIR",
        "LANG",
        "TZ",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        # helm's default cache, config and data folders are under these when HELM_*_HOME is unset
        # (helm's helmpath/lazypath); dropping them would silently move helm's repositories and registry
        # logins. The other XDG_* variables are desktop-session state that helm never reads.
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
    }
)
# Prefixes helm may get. HELM_*: helm's own settings (HELM_*_HOME, HELM_DRIVER, ...). KUBERNETES_SERVICE_*:
# client-go's in-cluster config in a pod. AWS_*, GOOGLE_*, AZURE_*: the credentials and settings of the
# clouds' exec credential plugins, which need them by design. LC_*: the locale categories, as LANG.
HELM_ENV_PREFIXES = ("HELM_", "KUBERNETES_SERVICE_", "AWS_", "GOOGLE_", "AZURE_", "LC_")

# Never passed, whatever the allowlist or the passthrough says. Matched on the upper-cased name, because
# pydantic-settings reads `storeplane_api_tokens` as readily as `STOREPLANE_API_TOKENS`.
_DENIED_PREFIX = "STOREPLANE_"
_DENIED_INFIX = "DATABASE_URL"
# A value that is a database URL is dropped whatever its name (`HELM_X=postgres://user:pw@db/x`).
_DATABASE_URL_VALUE = re.compile(r"^\s*(postgres(ql)?|sqlite|mysql|mariadb)(\+[\w.]+)?://", re.IGNORECASE)
# An entry of the passthrough setting: a variable name, or a prefix followed by `*`.
_PASSTHROUGH_ENTRY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\*?$")


def is_denied(name: str, value: str = "") -> bool:
    """Whether the variable `name` (with `value`) must never reach helm: a storeplane setting or a
    database URL."""
    upper = name.upper()
    return (
        upper.startswith(_DENIED_PREFIX) or _DENIED_INFIX in upper or bool(_DATABASE_URL_VALUE.match(value))
    )


def _refusal(entry: str) -> str | None:
    """Why the passthrough `entry` is refused, None when it is acceptable."""
    if entry == "*":
        return "would pass the whole environment"
    if not _PASSTHROUGH_ENTRY.fullmatch(entry):
        return "is not a variable name or a PREFIX_* pattern"
    upper = entry.upper()
    if upper.endswith("*"):
        prefix = upper[:-1]
        # `STORE*` matches STOREPLANE_API_TOKENS as surely as `STOREPLANE_*` does.
        if _DENIED_PREFIX.startswith(prefix) or prefix.startswith(_DENIED_PREFIX):
            return "would pass STOREPLANE_* variables (API tokens, the database URL)"
        if _DENIED_INFIX.startswith(prefix) or _DENIED_INFIX in prefix:
            return "would pass a database URL"
        return None
    if is_denied(entry):
        return "names a STOREPLANE_* variable or a database URL, which helm never gets"
    return None


def parse_passthrough(raw: str | Iterable[str]) -> tuple[str, ...]:
    """The entries of `STOREPLANE_HELM_ENV_PASSTHROUGH` (`NAME,PREFIX_*,...`, or already a list).

    ValueError names the first refused entry: a malformed one, `*`, or one that could pass a denied variable.
    """
    entries = raw.split(",") if isinstance(raw, str) else list(raw)
    parsed: list[str] = []
    for position, entry in enumerate(entries, start=1):
        entry = entry.strip()
        if not entry:
            continue  # tolerate a trailing comma or an empty variable
        reason = _refusal(entry)
        if reason is not None:
            raise ValueError(f"helm_env_passthrough entry {position} ({entry!r}) {reason}")
        if entry not in parsed:
            parsed.append(entry)
    return tuple(parsed)


def _allowed(name: str, passthrough: Iterable[str]) -> bool:
    if name in HELM_ENV_NAMES or name.startswith(HELM_ENV_PREFIXES):
        return True
    return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in passthrough)


def helm_environment(source: Mapping[str, str], *, passthrough: Iterable[str] = ()) -> dict[str, str]:
    """The variables of `source` that helm gets: the allowlist above and `passthrough` (names and `PREFIX_*`
    patterns, see `parse_passthrough`), minus every `STOREPLANE_*` variable and database URL."""
    patterns = tuple(passthrough)
    return {
        name: value
        for name, value in source.items()
        if _allowed(name, patterns) and not is_denied(name, value)
    }
