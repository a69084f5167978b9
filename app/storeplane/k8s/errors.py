"""The exception tree of `storeplane.k8s`, drawn once.

Helm failures are classified from helm's stderr by `storeplane.k8s.helm.classify`; the message of every error
carries a redacted excerpt of stderr only (never stdout, which may hold rendered Secrets, and never the
contents of a values file).
"""

from __future__ import annotations


class HelmError(Exception):
    """A helm call failed. Subclasses say why; catch this for any helm failure."""

    def __init__(
        self,
        message: str,
        *,
        command: str = "",
        release: str | None = None,
        namespace: str | None = None,
        exit_code: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        #: The helm subcommand ("install", "status", ...), empty when helm never ran.
        self.command = command
        self.release = release
        self.namespace = namespace
        #: helm's exit status; None when helm never ran or we killed it.
        self.exit_code = exit_code
        #: A redacted excerpt of helm's stderr (log lines dropped, values and secret-looking text masked).
        self.stderr = stderr


class HelmBinaryNotFound(HelmError):
    """No helm executable at the configured path, in `.tools/bin` or on PATH."""


class InvalidName(HelmError, ValueError):
    """A release name or namespace is not a DNS-1123 label; raised before helm is started."""


class ReleaseExists(HelmError):
    """Install of a name that is still in use (any state, pending-install included)."""


class ReleaseNotFound(HelmError):
    """The release does not exist in the namespace."""


class HelmTimeout(HelmError):
    """Our deadline killed helm (exit_code None), or helm's own `--timeout` expired."""


class ClusterUnreachable(HelmError):
    """The Kubernetes API could not be reached or answered 5xx."""


class InvalidChart(HelmError):
    """The chart is missing or broken, the values fail its schema, or a template failed to render."""


class OperationInProgress(HelmError):
    """The release is pending-install/-upgrade/-rollback: another helm holds it, or one died mid-way."""


class HelmCommandFailed(HelmError):
    """Any other helm failure; see `exit_code` and `stderr`."""
