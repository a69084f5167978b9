"""The CustomResourceDefinitions a cluster with cert-manager installed holds (names as in its deploy/crds).

Only what a client reads to learn that a kind is served: group, names, scope, the served version and the
Established condition. The OpenAPI schemas are left out: kubesim validates no schema anyway.
"""

from __future__ import annotations

from kubesim.object_store import Obj
from kubesim.resources import ResourceType, resource
from kubesim.timeutil import now_rfc3339

CRDS = resource("apiextensions.k8s.io", "customresourcedefinitions")
CERT_MANAGER_TYPES = (
    resource("cert-manager.io", "certificates"),
    resource("cert-manager.io", "issuers"),
    resource("cert-manager.io", "clusterissuers"),
)


def crd_body(rt: ResourceType) -> Obj:
    """The CRD object for `rt`, named `<plural>.<group>` as the API server requires."""
    names = {
        "plural": rt.plural,
        "singular": rt.singular,
        "kind": rt.kind,
        "listKind": f"{rt.kind}List",
        "categories": list(rt.categories),
    }
    if rt.short_names:
        names["shortNames"] = list(rt.short_names)
    return {
        "metadata": {
            "name": f"{rt.plural}.{rt.group}",
            "labels": {"app": "cert-manager", "app.kubernetes.io/name": "cert-manager"},
        },
        "spec": {
            "group": rt.group,
            "names": names,
            "scope": "Namespaced" if rt.namespaced else "Cluster",
            "versions": [
                {
                    "name": rt.version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def crd_status(rt: ResourceType) -> dict[str, object]:
    """Established and NamesAccepted, as the apiextensions controllers set them on a healthy CRD."""
    now = now_rfc3339()
    return {
        "acceptedNames": crd_body(rt)["spec"]["names"],
        "storedVersions": [rt.version],
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": now,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": now,
            },
        ],
    }
