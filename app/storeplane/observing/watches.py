"""What Storeplane watches: one watch per kind, whatever the number of stores, selected by our labels."""

from __future__ import annotations

from storeplane.k8s.watching import WatchSpec
from storeplane.labels import MANAGED_BY, MANAGED_BY_LABEL, STORE_ID_LABEL


def _by_store(
    name: str, kind: str, plural: str, *, group: str = "", version: str = "v1", omit: tuple[str, ...] = ()
) -> WatchSpec:
    return WatchSpec(
        name, kind, version, plural, group=group, label_selector=STORE_ID_LABEL, omit_fields=omit
    )


NAMESPACES = WatchSpec(
    "namespaces", "Namespace", "v1", "namespaces", label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}"
)
# Every watched object stays in memory for as long as it exists, so what no consumer reads is dropped: a pod's
# spec and a workload's pod template are most of their size (the observer reads status, replicas, rules).
PODS = _by_store("pods", "Pod", "pods", omit=("spec",))
STATEFULSETS = _by_store(
    "statefulsets",
    "StatefulSet",
    "statefulsets",
    group="apps",
    omit=("spec.template", "spec.volumeClaimTemplates"),
)
DEPLOYMENTS = _by_store("deployments", "Deployment", "deployments", group="apps", omit=("spec.template",))
JOBS = _by_store("jobs", "Job", "jobs", group="batch", omit=("spec.template",))
PVCS = _by_store("persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaims")
INGRESSES = _by_store("ingresses", "Ingress", "ingresses", group="networking.k8s.io")
# helm keeps each release revision in a Secret labelled owner=helm (and name, status, version); the selector
# cannot say "in store namespaces", so callers drop releases outside them. Its data is the whole gzipped
# release, rendered manifests included (with any password the chart generated): the labels say all the
# callers need, so the payload is neither kept in memory nor handed on.
HELM_RELEASES = WatchSpec(
    "helm-releases", "Secret", "v1", "secrets", label_selector="owner=helm", omit_fields=("data",)
)
# core/v1 Events carry no labels to select on and a selector cannot match a namespace prefix, so this one
# watch sees every Event in the cluster and callers keep those in store namespaces. It is the only watch
# whose traffic grows with the rest of the cluster rather than with Storeplane's own stores.
EVENTS = WatchSpec("events", "Event", "v1", "events")

# cert-manager's kind: watched only where it exists and matters (TLS on, its CRD installed), since a watch
# on a kind the API does not serve answers 404 for ever.
CERTIFICATES = _by_store("certificates", "Certificate", "certificates", group="cert-manager.io")

STOREPLANE_WATCHES: tuple[WatchSpec, ...] = (
    NAMESPACES,
    PODS,
    STATEFULSETS,
    DEPLOYMENTS,
    JOBS,
    PVCS,
    INGRESSES,
    HELM_RELEASES,
    EVENTS,
)
"""Every watch Storeplane runs everywhere: one per kind, whatever the number of stores."""


def storeplane_watches(features: frozenset[str]) -> tuple[WatchSpec, ...]:
    """The watches for an environment with these features: the Certificate watch only with "tls"."""
    return (*STOREPLANE_WATCHES, CERTIFICATES) if "tls" in features else STOREPLANE_WATCHES
