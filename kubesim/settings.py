"""Tunable behaviour of the emulator: simulated delays and limits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from kubesim.resources import CERT_MANAGER_GROUP


@dataclass
class Delays:
    """Seconds each simulated step takes: the `test` profile keeps suites fast, `demo` looks real."""

    schedule: float = 0.05
    """From pod creation to the scheduler binding it to the node."""
    image_pull: float = 0.05
    """From binding to the image being pulled (per container, Pulling then Pulled)."""
    container_start: float = 0.05
    """From image pulled to the container running."""
    readiness: float = 0.1
    """From running to Ready (the readiness probe passing)."""
    job_run: float = 0.2
    """How long a Job's container runs before it exits 0."""
    pvc_bind: float = 0.05
    """From PVC creation to Bound (the provisioner creating a volume)."""
    pod_termination: float = 0.05
    """From a pod's deletion to its removal (graceful shutdown)."""
    namespace_finalize: float = 0.05
    """From the namespace's contents being gone to the namespace itself being removed."""
    crash_restart: float = 0.2
    """Back-off between restarts of a crash-looping container."""
    certificate_issue: float = 0.1
    """From a Certificate's creation to cert-manager having issued it (Ready, its Secret written)."""


PROFILES: dict[str, Delays] = {
    "test": Delays(),
    "demo": Delays(
        schedule=0.5,
        image_pull=3.0,
        container_start=1.0,
        readiness=4.0,
        job_run=8.0,
        pvc_bind=1.5,
        pod_termination=2.0,
        namespace_finalize=1.0,
        crash_restart=5.0,
        certificate_issue=3.0,
    ),
}


@dataclass
class Settings:
    """Everything that shapes kubesim's behaviour."""

    delays: Delays = field(default_factory=Delays)
    event_log_size: int = 50_000
    """Watch events kept for resuming; a watch resumed from before the oldest kept one gets 410 Expired."""
    bookmark_interval: float = 5.0
    """Seconds between BOOKMARKs on watches that allow them (the real server: about one a minute)."""
    watch_queue_size: int = 100_000
    """Events buffered for one slow watch client before the server closes that watch."""
    server_version: str = "v1.34.2"
    """gitVersion reported by /version."""
    cert_manager: bool = True
    """Whether cert-manager is installed: its CRDs exist and cert-manager.io/v1 is served (404 otherwise)."""

    @property
    def absent_groups(self) -> frozenset[str]:
        """API groups kubesim knows but this cluster does not serve, as if their CRDs were not installed."""
        return frozenset() if self.cert_manager else frozenset({CERT_MANAGER_GROUP})


def with_profile(name: str, overrides: dict[str, float]) -> Settings:
    """Settings from a named delay profile with individual delays overridden."""
    delays = dataclasses.replace(PROFILES[name], **overrides)
    return Settings(delays=delays)
