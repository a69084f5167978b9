"""The objects of one benchmark namespace: a store's worth of workloads, config, network and quota."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_INSTANCE = "app.kubernetes.io/instance"
PART_OF = "storeplane-bench"


def namespace_objects(namespace: str) -> list[tuple[str, Obj]]:
    """(collection path, body) of the 15 objects a store's namespace holds, in creation order."""
    labels = {LABEL_PART_OF: PART_OF, LABEL_INSTANCE: namespace}

    def meta(name: str, component: str) -> Obj:
        return {"name": name, "labels": {**labels, LABEL_COMPONENT: component}}

    def pod_template(component: str, container: Obj) -> Obj:
        return {"metadata": {"labels": {**labels, LABEL_COMPONENT: component}}, "spec": container}

    web_selector = {"matchLabels": {LABEL_INSTANCE: namespace, LABEL_COMPONENT: "web"}}
    db_selector = {"matchLabels": {LABEL_INSTANCE: namespace, LABEL_COMPONENT: "db"}}
    core = f"/api/v1/namespaces/{namespace}"
    apps = f"/apis/apps/v1/namespaces/{namespace}"
    web_container = {
        "serviceAccountName": "store",
        "containers": [
            {
                "name": "wordpress",
                "image": "wordpress:6.8-php8.3-apache",
                "ports": [{"containerPort": 80}],
                "envFrom": [{"configMapRef": {"name": "store-config"}}, {"secretRef": {"name": "store-db"}}],
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                "volumeMounts": [{"name": "uploads", "mountPath": "/var/www/html/wp-content/uploads"}],
            }
        ],
        "volumes": [{"name": "uploads", "persistentVolumeClaim": {"claimName": "uploads"}}],
    }
    db_container = {
        "containers": [
            {
                "name": "mariadb",
                "image": "mariadb:11.4",
                "ports": [{"containerPort": 3306}],
                "envFrom": [{"secretRef": {"name": "store-db"}}],
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}],
            }
        ]
    }
    job_container = {
        "restartPolicy": "Never",
        "containers": [{"name": "migrate", "image": "wordpress:cli-2.11", "args": ["wp", "core", "install"]}],
    }
    return [
        (f"{core}/serviceaccounts", {"metadata": meta("store", "web")}),
        (f"{core}/configmaps", {"metadata": meta("store-config", "web"), "data": {"WP_HOME": namespace}}),
        (f"{core}/secrets", {"metadata": meta("store-db", "db"), "stringData": {"password": "bench"}}),
        (f"{core}/secrets", {"metadata": meta("store-admin", "web"), "stringData": {"password": "bench"}}),
        (
            f"{core}/persistentvolumeclaims",
            {
                "metadata": meta("uploads", "web"),
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            },
        ),
        (
            f"{core}/services",
            {
                "metadata": meta("web", "web"),
                "spec": {"selector": web_selector["matchLabels"], "ports": [{"port": 80, "targetPort": 80}]},
            },
        ),
        (
            f"{core}/services",
            {
                "metadata": meta("db", "db"),
                "spec": {
                    "clusterIP": "None",
                    "selector": db_selector["matchLabels"],
                    "ports": [{"port": 3306}],
                },
            },
        ),
        (
            f"{apps}/deployments",
            {
                "metadata": meta("web", "web"),
                "spec": {
                    "replicas": 1,
                    "selector": web_selector,
                    "template": pod_template("web", web_container),
                },
            },
        ),
        (
            f"{apps}/statefulsets",
            {
                "metadata": meta("db", "db"),
                "spec": {
                    "replicas": 1,
                    "serviceName": "db",
                    "selector": db_selector,
                    "template": pod_template("db", db_container),
                    "volumeClaimTemplates": [
                        {
                            "metadata": {"name": "data"},
                            "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": "2Gi"}},
                            },
                        }
                    ],
                },
            },
        ),
        (
            f"/apis/batch/v1/namespaces/{namespace}/jobs",
            {
                "metadata": meta("migrate", "migrate"),
                "spec": {"backoffLimit": 2, "template": pod_template("migrate", job_container)},
            },
        ),
        (
            f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses",
            {
                "metadata": meta("web", "web"),
                "spec": {
                    "ingressClassName": "nginx",
                    "rules": [
                        {
                            "host": f"{namespace}.stores.example.com",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                    }
                                ]
                            },
                        }
                    ],
                },
            },
        ),
        (
            f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
            {
                "metadata": meta("db-from-web", "db"),
                "spec": {
                    "podSelector": db_selector,
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": web_selector}], "ports": [{"port": 3306}]}],
                },
            },
        ),
        (
            f"{core}/resourcequotas",
            {"metadata": meta("store", "web"), "spec": {"hard": {"pods": "20", "requests.cpu": "4"}}},
        ),
        (
            f"{core}/limitranges",
            {
                "metadata": meta("store", "web"),
                "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "50m"}}]},
            },
        ),
        (
            f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets",
            {"metadata": meta("db", "db"), "spec": {"maxUnavailable": 1, "selector": db_selector}},
        ),
    ]


def namespace_name(index: int) -> str:
    return f"bench-{index:05d}"
