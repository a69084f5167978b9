"""The resource types kubesim serves, as the real discovery documents describe them."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_ONLY_STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and how discovery lists it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    has_status: bool = False
    categories: tuple[str, ...] = ()
    # Names of cluster-scoped objects and namespaces are DNS-1123 labels; most others are subdomains.
    name_is_label: bool = False
    verbs: tuple[str, ...] = field(default=ALL_VERBS)

    @property
    def has_scale(self) -> bool:
        """Whether the type serves the autoscaling/v1 `scale` subresource (kubectl scale uses it)."""
        return self.kind in ("Deployment", "ReplicaSet", "StatefulSet")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> str:
        """Unique key of the type: `plural.group/version`."""
        return f"{self.plural}.{self.group}/{self.version}"


def _core(plural: str, kind: str, **kw: object) -> ResourceType:
    return ResourceType(group="", version="v1", plural=plural, kind=kind, **kw)  # type: ignore[arg-type]


def _g(group: str, version: str, plural: str, kind: str, **kw: object) -> ResourceType:
    return ResourceType(group=group, version=version, plural=plural, kind=kind, **kw)  # type: ignore[arg-type]


_ALL = ("all",)
CERT_MANAGER_GROUP = "cert-manager.io"

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    _core(
        "namespaces", "Namespace", namespaced=False, short_names=("ns",), has_status=True, name_is_label=True
    ),
    _core("nodes", "Node", namespaced=False, short_names=("no",), has_status=True),
    _core("pods", "Pod", namespaced=True, short_names=("po",), has_status=True, categories=_ALL),
    _core(
        "services",
        "Service",
        namespaced=True,
        short_names=("svc",),
        has_status=True,
        categories=_ALL,
        name_is_label=True,
    ),
    _core("endpoints", "Endpoints", namespaced=True, short_names=("ep",)),
    _core("configmaps", "ConfigMap", namespaced=True, short_names=("cm",)),
    _core("secrets", "Secret", namespaced=True),
    _core("serviceaccounts", "ServiceAccount", namespaced=True, short_names=("sa",)),
    _core(
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        namespaced=True,
        short_names=("pvc",),
        has_status=True,
    ),
    _core("persistentvolumes", "PersistentVolume", namespaced=False, short_names=("pv",), has_status=True),
    _core("events", "Event", namespaced=True, short_names=("ev",)),
    _core("resourcequotas", "ResourceQuota", namespaced=True, short_names=("quota",), has_status=True),
    _core("limitranges", "LimitRange", namespaced=True, short_names=("limits",)),
    _g(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        namespaced=True,
        short_names=("deploy",),
        has_status=True,
        categories=_ALL,
    ),
    _g(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        namespaced=True,
        short_names=("sts",),
        has_status=True,
        categories=_ALL,
    ),
    _g(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        namespaced=True,
        short_names=("rs",),
        has_status=True,
        categories=_ALL,
    ),
    _g(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        namespaced=True,
        short_names=("ds",),
        has_status=True,
        categories=_ALL,
    ),
    _g("apps", "v1", "controllerrevisions", "ControllerRevision", namespaced=True),
    _g("batch", "v1", "jobs", "Job", namespaced=True, has_status=True, categories=_ALL),
    _g(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        namespaced=True,
        short_names=("cj",),
        has_status=True,
        categories=_ALL,
    ),
    _g(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        namespaced=True,
        short_names=("ing",),
        has_status=True,
    ),
    _g("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False),
    _g(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        namespaced=True,
        short_names=("netpol",),
    ),
    _g(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        namespaced=True,
        short_names=("pdb",),
        has_status=True,
    ),
    _g("rbac.authorization.k8s.io", "v1", "roles", "Role", namespaced=True),
    _g("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", namespaced=True),
    _g("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    _g("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _g("coordination.k8s.io", "v1", "leases", "Lease", namespaced=True),
    _g("events.k8s.io", "v1", "events", "Event", namespaced=True, short_names=("ev",)),
    _g("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False, short_names=("sc",)),
    _g(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        namespaced=True,
        short_names=("hpa",),
        has_status=True,
        categories=_ALL,
    ),
    # What a cluster with cert-manager installed serves (its CRDs, deploy/crds in cert-manager/cert-manager):
    # the CRD objects themselves are seeded by controllers/cluster.py so clients can check they exist.
    _g(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        has_status=True,
    ),
    _g(
        CERT_MANAGER_GROUP,
        "v1",
        "certificates",
        "Certificate",
        namespaced=True,
        short_names=("cert", "certs"),
        has_status=True,
        categories=("cert-manager",),
    ),
    _g(
        CERT_MANAGER_GROUP,
        "v1",
        "issuers",
        "Issuer",
        namespaced=True,
        has_status=True,
        categories=("cert-manager",),
    ),
    _g(
        CERT_MANAGER_GROUP,
        "v1",
        "clusterissuers",
        "ClusterIssuer",
        namespaced=False,
        has_status=True,
        categories=("cert-manager",),
    ),
)

_BY_PATH = {(rt.group, rt.version, rt.plural): rt for rt in RESOURCE_TYPES}
_BY_KIND = {(rt.api_version, rt.kind): rt for rt in RESOURCE_TYPES}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    return _BY_PATH.get((group, version, plural))


def lookup_kind(api_version: str, kind: str) -> ResourceType | None:
    return _BY_KIND.get((api_version, kind))


def resource(group: str, plural: str, version: str = "v1") -> ResourceType:
    """A type the emulator itself relies on (raises KeyError if it is not served)."""
    return _BY_PATH[(group, version, plural)]


def group_versions(absent: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """Served versions per group, core group as "", leaving out the `absent` groups (not installed)."""
    out: dict[str, list[str]] = {}
    for rt in RESOURCE_TYPES:
        if rt.group in absent:
            continue
        versions = out.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
    return out


def types_in(group: str, version: str, absent: frozenset[str] = frozenset()) -> list[ResourceType]:
    if group in absent:
        return []
    return [rt for rt in RESOURCE_TYPES if rt.group == group and rt.version == version]
