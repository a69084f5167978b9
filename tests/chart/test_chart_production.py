"""The chart's production path (k3s, Traefik, cert-manager), on the rendered manifests and on docs/chart.md.

Nothing here runs the real images or controllers: the manifests are checked for what they ask of them, the
Certificate and the documented ClusterIssuer against cert-manager's CRD schemas, and the documented Traefik
HelmChartConfig against the values schema of the Traefik chart k3s bundles (tests/chart/schemas/).
"""

from __future__ import annotations

import copy
import hashlib
import re
import textwrap
from typing import Any

import pytest
import yaml

from tests.chart.chart_helpers import (
    RELEASE,
    REPO,
    STORE_VALUES,
    Helm,
    Manifest,
    chart_values,
    env_values,
    named,
    of_kind,
    one,
    pod_spec,
    pod_template,
)
from tests.chart.schema_helpers import TRAEFIK_PORTS_SCHEMA, crd_errors, load_schema, schema_errors

DOCS = REPO / "docs" / "chart.md"
STORE_ID = STORE_VALUES["store"]["id"]
PHP_INI_PATH = "/usr/local/etc/php/conf.d/zz-storeplane.ini"
# The Traefik chart version k3s bundles (as traefik-40.1.4+up40.1.0); its values schema is in schemas/.
TRAEFIK_CHART = "40.1.0"
# A fenced ```yaml block, also when indented under a list item.
YAML_BLOCK = re.compile(r"^( *)```yaml\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def container(workload: Manifest, name: str) -> dict[str, Any]:
    spec = pod_spec(workload)
    containers: list[dict[str, Any]] = spec.get("initContainers", []) + spec["containers"]
    (found,) = [c for c in containers if c["name"] == name]
    return found


def env(workload: Manifest, name: str) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(workload, name).get("env", [])}


# -- TLS: the store's Certificate ------------------------------------------------------------------


def test_prod_renders_the_store_certificate_for_the_ingress_secret_and_host(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["prod"]
    certificate = one(manifests, "Certificate")
    ingress = one(manifests, "Ingress")
    (tls,) = ingress["spec"]["tls"]
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    assert certificate["metadata"]["name"] == tls["secretName"] == f"{RELEASE}-tls"
    assert certificate["metadata"]["labels"]["storeplane.io/store-id"] == STORE_ID
    spec = certificate["spec"]
    assert spec["secretName"] == tls["secretName"]
    assert spec["dnsNames"] == tls["hosts"] == [rule["host"] for rule in ingress["spec"]["rules"]]
    issuer = env_values("prod")["environment"]["tls"]["clusterIssuer"]
    assert spec["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer}
    # The issued Secret is selectable by store too, without claiming that helm manages it.
    secret_labels = spec["secretTemplate"]["labels"]
    assert secret_labels["storeplane.io/store-id"] == STORE_ID
    assert "app.kubernetes.io/managed-by" not in secret_labels


def test_no_certificate_without_tls_or_without_an_issuer(
    helm: Helm, rendered: dict[str, list[Manifest]]
) -> None:
    assert not of_kind(rendered["local"], "Certificate")
    bring_your_own = helm.render("prod", extra={"environment": {"tls": {"clusterIssuer": ""}}})
    assert not of_kind(bring_your_own, "Certificate")
    assert one(bring_your_own, "Ingress")["spec"]["tls"][0]["secretName"] == f"{RELEASE}-tls"


def test_the_certificate_is_valid_for_cert_manager(rendered: dict[str, list[Manifest]]) -> None:
    certificate = one(rendered["prod"], "Certificate")
    assert crd_errors(certificate) == []
    # The validation is strict, so a misspelt field cannot pass unnoticed.
    misspelt = copy.deepcopy(certificate)
    misspelt["spec"]["dnsName"] = misspelt["spec"].pop("dnsNames")
    assert crd_errors(misspelt)


# -- WordPress: probe and php.ini ------------------------------------------------------------------


def test_readiness_probe_says_https_exactly_when_tls_is_on(
    manifests: list[Manifest], environment: str
) -> None:
    wordpress = container(one(manifests, "Deployment"), "wordpress")
    probe = wordpress["readinessProbe"]["httpGet"]
    assert probe["path"] == "/wp-login.php"
    if env_values(environment)["environment"]["tls"]["enabled"]:
        assert probe["httpHeaders"] == [{"name": "X-Forwarded-Proto", "value": "https"}]
    else:
        assert "httpHeaders" not in probe
    assert "tcpSocket" in wordpress["livenessProbe"], "a path-based liveness probe would need the header too"


def php_ini(manifests: list[Manifest]) -> str:
    text: str = named(manifests, "ConfigMap", f"{RELEASE}-php")["data"]["storeplane.ini"]
    return text


def ini_settings(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith(";"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_php_ini_from_the_values_is_mounted_into_wordpress_and_the_cron(manifests: list[Manifest]) -> None:
    php = chart_values()["php"]
    assert ini_settings(php_ini(manifests)) == {
        "upload_max_filesize": php["uploadMaxSize"],
        "post_max_size": php["uploadMaxSize"],
        "memory_limit": php["memoryLimit"],
    }
    for workload, name in ((one(manifests, "Deployment"), "wordpress"), (one(manifests, "CronJob"), "cron")):
        (mount,) = [m for m in container(workload, name)["volumeMounts"] if m["mountPath"] == PHP_INI_PATH]
        # One file, not the directory: conf.d also holds the images' own ini files (extensions, opcache).
        assert mount["subPath"] == "storeplane.ini"
        (volume,) = [v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"]]
        assert volume["configMap"]["name"] == f"{RELEASE}-php"


def test_changing_a_php_value_changes_the_ini_and_restarts_wordpress(
    helm: Helm, rendered: dict[str, list[Manifest]]
) -> None:
    def checksum(manifests: list[Manifest]) -> str:
        value: str = pod_template(one(manifests, "Deployment"))["metadata"]["annotations"]["checksum/php-ini"]
        return value

    before = rendered["prod"]
    after = helm.render("prod", extra={"php": {"uploadMaxSize": "128M"}})
    assert ini_settings(php_ini(after))["upload_max_filesize"] == "128M"
    assert checksum(after) != checksum(before)
    # The hash of the file itself (the text the ConfigMap holds, minus the block's last newline).
    assert checksum(before) == hashlib.sha256(php_ini(before).rstrip("\n").encode()).hexdigest()


def test_the_default_upload_limit_matches_the_local_ingress_body_limit() -> None:
    annotations = env_values("local")["environment"]["ingress"]["annotations"]
    body = annotations["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert chart_values()["php"]["uploadMaxSize"].lower() == body.lower()


# -- WP-Cron -----------------------------------------------------------------------------------------


def test_cron_runs_wp_cron_every_minute_one_run_at_a_time(manifests: list[Manifest]) -> None:
    cronjob = one(manifests, "CronJob")
    values = chart_values()["cron"]
    spec = cronjob["spec"]
    assert cronjob["metadata"]["name"] == f"{RELEASE}-cron"
    assert spec["schedule"] == "* * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == values["startingDeadlineSeconds"] < 60
    assert spec["successfulJobsHistoryLimit"] == values["successfulJobsHistoryLimit"]
    assert spec["failedJobsHistoryLimit"] == values["failedJobsHistoryLimit"]
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["activeDeadlineSeconds"] == values["activeDeadlineSeconds"]
    assert pod_spec(cronjob)["restartPolicy"] == "Never"
    assert container(cronjob, "cron")["command"] == ["/bin/bash", "/opt/storeplane/setup/cron.sh"]


def test_cron_pod_is_the_setup_pod_in_miniature(manifests: list[Manifest]) -> None:
    cronjob, setup = one(manifests, "CronJob"), one(manifests, "Job")
    cron_spec, setup_spec = pod_spec(cronjob), pod_spec(setup)
    # wp-cli from the setup image, against core copied by the same init container.
    assert container(cronjob, "cron")["image"] == container(setup, "setup")["image"]
    assert cron_spec["initContainers"] == setup_spec["initContainers"]
    assert cron_spec["securityContext"] == setup_spec["securityContext"]
    assert cron_spec["affinity"] == setup_spec["affinity"]

    def volume(spec: dict[str, Any], name: str) -> dict[str, Any]:
        volumes: list[dict[str, Any]] = spec["volumes"]
        (found,) = [v for v in volumes if v["name"] == name]
        return found

    for name in ("wp-content", "scripts", "db-secret"):
        assert volume(cron_spec, name) == volume(setup_spec, name), name
    keys = {item["key"] for item in volume(cron_spec, "wordpress-secret")["secret"]["items"]}
    assert not keys & {"admin-user", "admin-password"}, "the cron needs no admin login"
    assert env(cronjob, "cron")["WORDPRESS_DB_HOST"] == env(setup, "setup")["WORDPRESS_DB_HOST"]


def test_cron_follows_wordpress_to_its_node_only_when_wp_content_is_read_write_once(
    helm: Helm, manifests: list[Manifest]
) -> None:
    assert chart_values()["wordpress"]["persistence"]["accessMode"] == "ReadWriteOnce"
    (term,) = pod_spec(one(manifests, "CronJob"))["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    wordpress_labels = pod_template(one(manifests, "Deployment"))["metadata"]["labels"]
    assert term["labelSelector"]["matchLabels"].items() <= wordpress_labels.items()
    assert term["topologyKey"] == "kubernetes.io/hostname"
    shared = helm.render("prod", extra={"wordpress": {"persistence": {"accessMode": "ReadWriteMany"}}})
    assert "affinity" not in pod_spec(one(shared, "CronJob"))


def test_wordpress_disables_wp_cron_exactly_when_the_cron_runs_it(
    helm: Helm, manifests: list[Manifest]
) -> None:
    for workload, name in (
        (one(manifests, "Deployment"), "wordpress"),
        (one(manifests, "Job"), "setup"),
        (one(manifests, "CronJob"), "cron"),
    ):
        assert "define('DISABLE_WP_CRON', true)" in env(workload, name)["WORDPRESS_CONFIG_EXTRA"], name
    without = helm.render("prod", extra={"cron": {"enabled": False}})
    assert not of_kind(without, "CronJob")
    assert "WORDPRESS_CONFIG_EXTRA" not in env(one(without, "Deployment"), "wordpress")
    assert "cron.sh" in named(without, "ConfigMap", f"{RELEASE}-setup")["data"], "the scripts stay one set"


# -- the cluster set-up in docs/chart.md -----------------------------------------------------------


def documented(kind: str) -> Manifest:
    """The one object of that kind among the YAML examples of docs/chart.md."""
    text = DOCS.read_text()
    found = [
        doc
        for indent, block in YAML_BLOCK.findall(text)
        for doc in yaml.safe_load_all(textwrap.dedent(block) if indent else block)
        if isinstance(doc, dict) and doc.get("kind") == kind
    ]
    assert len(found) == 1, f"expected one {kind} example in {DOCS.name}, found {len(found)}"
    example: Manifest = found[0]
    return example


def test_docs_cluster_issuer_solves_http01_with_a_cluster_ip_service(
    rendered: dict[str, list[Manifest]],
) -> None:
    issuer = documented("ClusterIssuer")
    prod = env_values("prod")["environment"]
    assert crd_errors(issuer) == []
    assert issuer["metadata"]["name"] == prod["tls"]["clusterIssuer"]
    solvers = [s["http01"]["ingress"] for s in issuer["spec"]["acme"]["solvers"] if "http01" in s]
    assert solvers
    for solver in solvers:
        # The solver's default NodePort Service would be refused by the store quota.
        assert solver["serviceType"] == "ClusterIP"
        assert solver["ingressClassName"] == prod["ingress"]["className"]
    assert one(rendered["prod"], "ResourceQuota")["spec"]["hard"]["services.nodeports"] == "0"


def test_docs_traefik_redirect_uses_the_syntax_of_the_chart_k3s_bundles() -> None:
    config = documented("HelmChartConfig")
    assert config["apiVersion"] == "helm.cattle.io/v1"
    assert (config["metadata"]["name"], config["metadata"]["namespace"]) == ("traefik", "kube-system")
    values = yaml.safe_load(config["spec"]["valuesContent"])
    assert schema_errors(values, load_schema(TRAEFIK_PORTS_SCHEMA)) == []
    redirect = values["ports"]["web"]["http"]["redirections"]["entryPoint"]
    # The chart fails to render a redirect to an unknown entrypoint, or to a TLS one with another scheme.
    assert redirect["to"] == "websecure"
    assert redirect["scheme"] == "https"
    assert f"Traefik chart {TRAEFIK_CHART}" in DOCS.read_text()


@pytest.mark.parametrize(
    "ports",
    [
        {"web": {"redirectTo": {"port": "websecure"}}},  # charts up to 33
        {"web": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https"}}}},  # charts 34 to 38
    ],
    ids=["redirectTo", "redirections-without-http"],
)
def test_the_traefik_schema_refuses_the_old_redirect_syntaxes(ports: dict[str, Any]) -> None:
    # Guards the docs test above: these are the forms that break k3s's Traefik install.
    assert schema_errors({"ports": ports}, load_schema(TRAEFIK_PORTS_SCHEMA))
