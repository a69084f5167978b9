"""Pure classification of helm's stderr into typed errors, with secrets redacted."""

from __future__ import annotations

import re
from collections.abc import Iterable

from storeplane.k8s.errors import (
    ClusterUnreachable,
    HelmCommandFailed,
    HelmError,
    HelmTimeout,
    InvalidChart,
    OperationInProgress,
    ReleaseExists,
    ReleaseNotFound,
)
from storeplane.k8s.helm_args import STDERR_EXCERPT_MAX

# --- stderr classification (pure) ----------------------------------------------------------------------

# Matched against helm v4.1.4's stderr, first match wins; each message was provoked against kubesim
# (tests/app/k8s/test_helm_args.py keeps the real texts). Earlier rules are the more specific ones.
_RULES: tuple[tuple[type[HelmError], re.Pattern[str]], ...] = (
    # pkg/action errPending: "UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress".
    (OperationInProgress, re.compile(r"another operation \(install/upgrade/rollback\) is in progress")),
    # "INSTALLATION FAILED: release name check failed: cannot reuse a name that is still in use"
    # (helm 3 wrote "re-use").
    (ReleaseExists, re.compile(r"cannot re-?use a name that is still in use")),
    # driver.ErrReleaseNotFound "release: not found" (status, history, get, rollback, and uninstall's
    # "Release not loaded: <name>: release: not found"); `upgrade` of a name that never existed says
    # "<name>" has no deployed releases.
    (ReleaseNotFound, re.compile(r"release: not found|has no deployed releases")),
    # Network errors, and client-go's texts for 5xx answers (503, 500/502, 504). Checked before timeouts
    # because client-go's own request timeouts also say "deadline exceeded".
    (
        ClusterUnreachable,
        re.compile(
            r"kubernetes cluster unreachable|connection refused|no such host|no route to host"
            r"|network is unreachable|i/o timeout|connection reset by peer|TLS handshake timeout"
            r"|Client\.Timeout exceeded"
            r"|the server is currently unable to handle the request"
            r"|an error on the server \(.*\) has prevented the request from succeeding"
            r"|the server was unable to return a response in the time allotted",
            re.IGNORECASE,
        ),
    ),
    # helm's `--timeout` expiring: "context deadline exceeded" (also "timed out waiting for the condition").
    (HelmTimeout, re.compile(r"context deadline exceeded|timed out waiting for the condition")),
    (
        InvalidChart,
        re.compile(
            r"values don't meet the specifications of the schema"
            r"|execution error at \("  # `fail`/`required` in a template
            r"|parse error at \("  # template syntax
            r"|YAML parse error on"  # a template rendered to invalid YAML
            r"|failed to parse .*: cannot unmarshal"  # a values file that is not YAML
            r"|error converting YAML to JSON"
            r"|path \".*\" not found"  # chart directory missing
            r"|expected a gzipped archive|Chart\.yaml file is missing|validation: chart\."
            r"|unable to build kubernetes objects from release manifest|resource mapping not found"
        ),
    ),
)

# stderr lines that are logging, not the error: helm 4's slog duplicates ("level=ERROR msg=...") and klog
# lines from client-go ("E1128 19:16:48.477470   11376 memcache.go:265] ...").
_LOG_LINE = re.compile(r"^(level=\w+ |[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s)")
# A value helm echoes back: schema errors quote the offending value after its path
# ("at '/woocommerce/currency': 'usd' does not match"); YAML decode errors quote it in backticks.
_SCHEMA_VALUE = re.compile(r"(at '[^']*': )'(?:[^'\\]|\\.)*'")
_BACKTICKED = re.compile(r"`[^`]*`")
_SECRETISH = re.compile(
    r"(?i)\b(password|passwd|secret|token|api[-_]?key|authorization|bearer)(\"?\s*[:=]\s*|\s+)(\"[^\"]*\"|\S+)"
)
REDACTED = "***"


def redact(text: str, sensitive: Iterable[str] = ()) -> str:
    """`text` with every `sensitive` string (values we passed), schema-echoed values, YAML-echoed snippets
    and secret-looking `key: value` pairs masked."""
    for value in sorted({s for s in sensitive if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = _SCHEMA_VALUE.sub(rf"\1'{REDACTED}'", text)
    text = _BACKTICKED.sub(f"`{REDACTED}`", text)
    return _SECRETISH.sub(rf"\1\2{REDACTED}", text)


def stderr_excerpt(stderr: str, sensitive: Iterable[str] = ()) -> str:
    """The error part of helm's stderr, redacted and capped at STDERR_EXCERPT_MAX characters."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip() and not _LOG_LINE.match(line)]
    excerpt = redact("\n".join(lines) or stderr.strip(), sensitive)
    if len(excerpt) > STDERR_EXCERPT_MAX:
        excerpt = excerpt[: STDERR_EXCERPT_MAX - 3] + "..."
    return excerpt


def classify(
    stderr: str,
    *,
    exit_code: int | None,
    command: str,
    release: str | None = None,
    namespace: str | None = None,
    sensitive: Iterable[str] = (),
) -> HelmError:
    """The typed error for a failed helm call (not raised: the caller raises it)."""
    kind: type[HelmError] = HelmCommandFailed
    for candidate, pattern in _RULES:
        if pattern.search(stderr):
            kind = candidate
            break
    excerpt = stderr_excerpt(stderr, sensitive)
    subject = f" {release}" if release else ""
    where = f" in {namespace}" if namespace else ""
    return kind(
        f"helm {command}{subject}{where} failed (exit {exit_code}): {excerpt}",
        command=command,
        release=release,
        namespace=namespace,
        exit_code=exit_code,
        stderr=excerpt,
    )
