"""Isolation and hardening guardrails, checked on the manifests rendered with each environment's values."""

from __future__ import annotations

import base64
import re
from typing import Any

import yaml

from tests.chart.chart_helpers import (
    NAMESPACE,
    RELEASE,
    STORE_VALUES,
    WORKLOAD_KINDS,
    Helm,
    Manifest,
    all_containers,
    chart_values,
    env_values,
    of_kind,
    one,
    pod_spec,
    pod_template,
    workloads,
)

STORE_ID = STORE_VALUES["store"]["id"]
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
FACTORS = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
}
FACTORS["Ti"] = 2**40
# What cert-manager's HTTP-01 solver pod asks for by default (its controller's flags
# --acme-http01-solver-resource-{request,limits}-{cpu,memory}): it runs in the store's namespace while a
# certificate is issued or renewed, so the quota must leave room for it.
ACME_SOLVER = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}


def quantity(value: str | int) -> float:
    match = QUANTITY.match(str(value))
    assert match, f"not a quantity: {value!r}"
    return float(match.group(1)) * FACTORS[match.group(2)]


# -- containers ------------------------------------------------------------------------------------


def test_every_container_sets_cpu_and_memory_requests_and_limits(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        for container in all_containers(workload):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert set(resources.get(kind, {})) >= {"cpu", "memory"}, (
                    workload["kind"],
                    container["name"],
                )


def test_every_container_is_non_root_read_only_and_drops_all_capabilities(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        pod_context = pod_spec(workload)["securityContext"]
        assert pod_context["runAsNonRoot"] is True
        assert pod_context["runAsUser"] >= 10000
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in all_containers(workload):
            context = container["securityContext"]
            where = (workload["kind"], container["name"])
            assert context["runAsNonRoot"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["privileged"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where


def test_no_pod_mounts_a_service_account_token(manifests: list[Manifest]) -> None:
    account = one(manifests, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    for workload in workloads(manifests):
        spec = pod_spec(workload)
        assert spec["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == account["metadata"]["name"]


def test_no_pod_shares_host_namespaces(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        spec = pod_spec(workload)
        assert not any(spec.get(key) for key in ("hostNetwork", "hostPID", "hostIPC"))
        assert not any("hostPath" in volume for volume in spec.get("volumes", []))


def test_images_are_pinned_to_exact_versions(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        for container in all_containers(workload):
            repository, _, tag = container["image"].rpartition(":")
            assert repository, container["image"]
            assert re.search(r"[0-9]", tag), f"{container['image']}: not an exact version tag"


def test_database_and_wordpress_have_startup_readiness_and_liveness_probes(manifests: list[Manifest]) -> None:
    for kind in ("StatefulSet", "Deployment"):
        (container,) = pod_spec(one(manifests, kind))["containers"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, (kind, probe)


# -- network policies ------------------------------------------------------------------------------


def policies(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {
        p["metadata"]["name"].removeprefix(f"{RELEASE}-"): p["spec"]
        for p in of_kind(manifests, "NetworkPolicy")
    }


def test_network_policies_deny_all_traffic_by_default(manifests: list[Manifest]) -> None:
    deny = policies(manifests)["default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_every_pod_is_covered_by_ingress_and_egress_policies(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        labels = pod_template(workload)["metadata"]["labels"]
        covering = [
            spec
            for spec in policies(manifests).values()
            if all(labels.get(k) == v for k, v in spec["podSelector"].get("matchLabels", {}).items())
        ]
        types = {t for spec in covering for t in spec["policyTypes"]}
        assert types == {"Ingress", "Egress"}, workload["metadata"]["name"]


def test_only_the_ingress_controller_reaches_wordpress(manifests: list[Manifest], environment: str) -> None:
    controller = env_values(environment)["environment"]["ingress"]["controller"]
    (rule,) = policies(manifests)["wordpress"]["ingress"]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": controller["namespace"]}},
            "podSelector": {"matchLabels": controller["podLabels"]},
        }
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]


def test_only_wordpress_the_setup_job_and_the_cron_reach_mariadb(manifests: list[Manifest]) -> None:
    mariadb = policies(manifests)["mariadb"]
    (rule,) = mariadb["ingress"]
    components = sorted(
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]
    )
    assert components == ["cron", "setup", "wordpress"]
    assert all(set(peer) == {"podSelector"} for peer in rule["from"]), (
        "peers must be in the store's namespace"
    )
    assert rule["ports"] == [{"protocol": "TCP", "port": 3306}]
    assert mariadb["egress"] == []


def test_dns_is_the_only_egress_every_pod_shares(manifests: list[Manifest]) -> None:
    dns = policies(manifests)["allow-dns"]
    assert dns["podSelector"] == {"matchLabels": {"app.kubernetes.io/instance": RELEASE}}
    (rule,) = dns["egress"]
    assert sorted(p["protocol"] for p in rule["ports"]) == ["TCP", "UDP"]
    assert {p["port"] for p in rule["ports"]} == {53}
    assert rule["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}


def test_setup_job_downloads_only_over_https_outside_private_ranges(manifests: list[Manifest]) -> None:
    egress = policies(manifests)["setup"]["egress"]
    internet = [rule for rule in egress if "ipBlock" in rule["to"][0]]
    (rule,) = internet
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    assert "10.0.0.0/8" in rule["to"][0]["ipBlock"]["except"]
    assert policies(manifests)["setup"]["ingress"] == []


def test_offline_setup_gets_no_internet_egress(helm: Helm) -> None:
    manifests = helm.render("local", extra={"setup": {"offlinePackagesDir": "/opt/storeplane/packages"}})
    egress = policies(manifests)["setup"]["egress"]
    assert not [rule for rule in egress if "ipBlock" in rule["to"][0]]


def test_wordpress_egress_is_limited_to_mariadb_unless_extended(manifests: list[Manifest]) -> None:
    (rule,) = policies(manifests)["wordpress"]["egress"]
    assert rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "mariadb"


def test_cron_reaches_only_mariadb_and_dns_and_nothing_reaches_it(manifests: list[Manifest]) -> None:
    cron = policies(manifests)["cron"]
    assert cron["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "cron"
    assert cron["ingress"] == []
    (rule,) = cron["egress"]
    assert rule["to"] == [
        {"podSelector": {"matchLabels": policies(manifests)["mariadb"]["podSelector"]["matchLabels"]}}
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 3306}]


def test_disabling_the_cron_removes_its_policy_and_its_database_access(helm: Helm) -> None:
    manifests = helm.render("prod", extra={"cron": {"enabled": False}})
    assert "cron" not in policies(manifests)
    (rule,) = policies(manifests)["mariadb"]["ingress"]
    assert "cron" not in str(rule["from"])


def test_acme_solver_is_reachable_only_where_cert_manager_issues_certificates(
    manifests: list[Manifest], environment: str
) -> None:
    tls = env_values(environment)["environment"]["tls"]
    assert ("acme-solver" in policies(manifests)) == bool(tls["enabled"] and tls["clusterIssuer"])


# -- quota and limits ------------------------------------------------------------------------------


def test_quota_values_come_from_the_environment_values_file(
    manifests: list[Manifest], environment: str
) -> None:
    expected = {k: str(v) for k, v in env_values(environment)["environment"]["quota"].items()}
    assert one(manifests, "ResourceQuota")["spec"]["hard"] == expected


def test_quota_follows_a_changed_value(helm: Helm) -> None:
    manifests = helm.render("prod", extra={"environment": {"quota": {"limits.cpu": "42"}}})
    assert one(manifests, "ResourceQuota")["spec"]["hard"]["limits.cpu"] == "42"


def test_limit_range_comes_from_the_environment_values_file(
    manifests: list[Manifest], environment: str
) -> None:
    values = env_values(environment)["environment"]["limitRange"]
    container, pvc = one(manifests, "LimitRange")["spec"]["limits"]
    assert container == {
        "type": "Container",
        "defaultRequest": values["defaultRequest"],
        "default": values["default"],
    }
    assert pvc == {"type": "PersistentVolumeClaim", "max": {"storage": values["maxPvcSize"]}}


def pod_usage(workload: Manifest, kind: str, resource: str) -> float:
    """What the quota charges for a pod: the larger of its containers' sum and its largest init container."""
    spec = pod_spec(workload)
    main = sum(quantity(c["resources"][kind][resource]) for c in spec["containers"])
    init = max(
        (quantity(c["resources"][kind][resource]) for c in spec.get("initContainers", [])), default=0.0
    )
    return max(main, init)


def test_quota_fits_every_pod_of_the_store_at_once(manifests: list[Manifest], environment: str) -> None:
    # One pod per workload, a cron run included (concurrencyPolicy Forbid: never two), and cert-manager's
    # solver pod where the chart requests a certificate.
    hard = env_values(environment)["environment"]["quota"]
    assert [c["spec"]["concurrencyPolicy"] for c in of_kind(manifests, "CronJob")] == ["Forbid"]
    solvers = of_kind(manifests, "Certificate")
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            used = sum(pod_usage(w, kind, resource) for w in workloads(manifests))
            used += len(solvers) * quantity(ACME_SOLVER[kind][resource])
            assert used <= quantity(hard[f"{kind}.{resource}"]), (kind, resource, used)
    claims = [
        c["spec"]["resources"]["requests"]["storage"] for c in of_kind(manifests, "PersistentVolumeClaim")
    ]
    claims += [
        t["spec"]["resources"]["requests"]["storage"]
        for s in of_kind(manifests, "StatefulSet")
        for t in s["spec"]["volumeClaimTemplates"]
    ]
    assert len(claims) <= int(hard["persistentvolumeclaims"])
    assert sum(quantity(c) for c in claims) <= quantity(hard["requests.storage"])
    max_pvc = quantity(env_values(environment)["environment"]["limitRange"]["maxPvcSize"])
    assert all(quantity(c) <= max_pvc for c in claims)


def test_environment_scale_picks_the_resource_preset(manifests: list[Manifest], environment: str) -> None:
    scale = env_values(environment)["environment"]["scale"]
    preset = chart_values()["resourcePresets"][scale]
    (container,) = pod_spec(one(manifests, "StatefulSet"))["containers"]
    assert container["resources"] == preset["mariadb"]


# -- secrets ---------------------------------------------------------------------------------------


def secret_values(manifests: list[Manifest]) -> list[str]:
    return [
        base64.b64decode(value).decode()
        for secret in of_kind(manifests, "Secret")
        for value in secret["data"].values()
    ]


def test_no_secret_value_appears_in_configmaps_env_literals_or_annotations(manifests: list[Manifest]) -> None:
    secrets = [value for value in secret_values(manifests) if len(value) >= 16]
    assert len(secrets) == 2 + 1 + 8  # database passwords, admin password, WordPress keys and salts
    exposed: list[str] = []
    for manifest in manifests:
        if manifest["kind"] == "ConfigMap":
            exposed += manifest["data"].values()
        exposed += manifest["metadata"].get("annotations", {}).values()
        if manifest["kind"] in WORKLOAD_KINDS:
            exposed += pod_template(manifest)["metadata"].get("annotations", {}).values()
            for container in all_containers(manifest):
                exposed += [str(env.get("value", "")) for env in container.get("env", [])]
    for value in secrets:
        assert not [text for text in exposed if value in text]
    # Not even through secretKeyRef: pods read passwords from mounted files (*_FILE variables).
    everything_but_secrets = yaml.safe_dump_all([m for m in manifests if m["kind"] != "Secret"])
    assert "secretKeyRef" not in everything_but_secrets
    assert not [value for value in secrets if value in everything_but_secrets]


def test_generated_secrets_are_random_and_kept_on_uninstall(helm: Helm, manifests: list[Manifest]) -> None:
    again = helm.render("local")
    generated = {value for value in secret_values(manifests) if len(value) >= 16}
    assert generated.isdisjoint(secret_values(again))
    for secret in of_kind(manifests, "Secret"):
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    database = one(
        [s for s in of_kind(manifests, "Secret") if s["metadata"]["name"] == f"{RELEASE}-db"], "Secret"
    )
    assert set(database["data"]) == {"mariadb-root-password", "mariadb-password"}


def test_existing_secrets_replace_the_generated_ones(helm: Helm) -> None:
    manifests = helm.render(
        "local",
        extra={
            "secrets": {"database": {"existingSecret": "my-db"}, "wordpress": {"existingSecret": "my-wp"}}
        },
    )
    assert not of_kind(manifests, "Secret")
    names = {
        volume["secret"]["secretName"]
        for workload in workloads(manifests)
        for volume in pod_spec(workload)["volumes"]
        if "secret" in volume
    }
    assert names == {"my-db", "my-wp"}


def test_wordpress_pod_cannot_read_the_admin_or_root_password(manifests: list[Manifest]) -> None:
    volumes = pod_spec(one(manifests, "Deployment"))["volumes"]
    keys = {item["key"] for volume in volumes if "secret" in volume for item in volume["secret"]["items"]}
    assert not keys & {"admin-password", "mariadb-root-password"}


# -- labels and names ------------------------------------------------------------------------------


def labelled_metadata(manifests: list[Manifest]) -> list[tuple[str, dict[str, Any]]]:
    """(where, metadata) of every object, pod template and volumeClaimTemplate."""
    found = []
    for manifest in manifests:
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        found.append((where, manifest["metadata"]))
        if manifest["kind"] == "CronJob":
            found.append((f"{where} job template", manifest["spec"]["jobTemplate"]["metadata"]))
        if manifest["kind"] in WORKLOAD_KINDS:
            found.append((f"{where} pod template", pod_template(manifest)["metadata"]))
        for template in manifest.get("spec", {}).get("volumeClaimTemplates", []):
            found.append((f"{where} claim {template['metadata']['name']}", template["metadata"]))
    return found


def test_every_object_pod_template_and_claim_template_has_the_standard_and_store_labels(
    manifests: list[Manifest],
) -> None:
    for where, metadata in labelled_metadata(manifests):
        labels = metadata.get("labels", {})
        assert set(STANDARD_LABELS) <= set(labels), where
        assert labels["storeplane.io/store-id"] == STORE_ID, where
        assert labels["app.kubernetes.io/instance"] == RELEASE, where
        assert labels["app.kubernetes.io/name"] == "woocommerce", where
        assert labels["app.kubernetes.io/part-of"] == "storeplane", where
        assert labels["app.kubernetes.io/managed-by"] == "Helm", where


def test_the_store_id_selector_matches_every_object(manifests: list[Manifest]) -> None:
    selected = [m for m in manifests if m["metadata"]["labels"].get("storeplane.io/store-id") == STORE_ID]
    assert selected == manifests


def test_workload_selectors_match_their_pod_templates(manifests: list[Manifest]) -> None:
    for kind in ("Deployment", "StatefulSet"):
        workload = one(manifests, kind)
        selector = workload["spec"]["selector"]["matchLabels"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        assert "storeplane.io/store-id" not in selector, "selectors are immutable: keep them minimal"


def test_generated_names_stay_within_kubernetes_limits_for_the_longest_store_name(helm: Helm) -> None:
    release = "s" + "x" * 39
    manifests = helm.render("prod", release=release)
    names = [m["metadata"]["name"] for m in manifests]
    statefulset = one(manifests, "StatefulSet")["metadata"]["name"]
    job = one(manifests, "Job")["metadata"]["name"]
    cronjob = one(manifests, "CronJob")["metadata"]["name"]
    # The CronJob controller names each Job "<cronjob>-<scheduled time in minutes>" (8 digits until 2160), so
    # the API refuses CronJob names over 52 characters.
    assert len(cronjob) <= 52
    names += [
        f"{statefulset}-0",  # the database pod
        f"data-{statefulset}-0",  # its PVC
        f"{statefulset}-{'h' * 10}",  # controller-revision-hash label value
        f"{job}-{'p' * 5}",  # the Job's pod
        f"{cronjob}-{'9' * 8}-{'p' * 5}",  # a cron run's pod
    ]
    long = [name for name in names if len(name) > 63]
    assert not long
    dns_label = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    assert all(dns_label.match(name) for name in names)


# -- setup Job, ingress, storage -------------------------------------------------------------------


def test_setup_job_name_carries_a_hash_of_its_inputs(helm: Helm, manifests: list[Manifest]) -> None:
    job = one(manifests, "Job")
    assert re.fullmatch(rf"{RELEASE}-setup-[0-9a-f]{{8}}", job["metadata"]["name"])
    same = one(helm.render("local"), "Job")["metadata"]["name"]
    upgraded = one(helm.render("local", extra={"woocommerce": {"version": "99.0.0"}}), "Job")["metadata"][
        "name"
    ]
    moved = one(helm.render("local", extra={"store": {"host": "elsewhere.localtest.me"}}), "Job")["metadata"][
        "name"
    ]
    unrelated = one(helm.render("local", extra={"mariadb": {"persistence": {"size": "3Gi"}}}), "Job")
    local_job = one(helm.render("local"), "Job")
    assert same == local_job["metadata"]["name"] == unrelated["metadata"]["name"]
    assert len({same, upgraded, moved}) == 3


def test_setup_job_is_a_plain_job_that_expires(manifests: list[Manifest]) -> None:
    job = one(manifests, "Job")
    values = chart_values()["setup"]
    assert job["spec"]["ttlSecondsAfterFinished"] == values["ttlSecondsAfterFinished"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_ingress_serves_the_store_host(manifests: list[Manifest], environment: str) -> None:
    ingress = one(manifests, "Ingress")
    env = env_values(environment)["environment"]
    host = STORE_VALUES["store"]["host"]
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
    assert ingress["spec"]["ingressClassName"] == env["ingress"]["className"]
    if env["tls"]["enabled"]:
        assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": f"{RELEASE}-tls"}]
    else:
        assert "tls" not in ingress["spec"]
    # The chart's own Certificate asks for the certificate (test_chart_production.py); this annotation would
    # make cert-manager's ingress-shim create a second one for the same Secret.
    assert not [a for a in ingress["metadata"].get("annotations", {}) if a.startswith("cert-manager.io/")]


def test_store_host_defaults_to_the_release_under_the_base_domain(helm: Helm) -> None:
    store = {"store": {**STORE_VALUES["store"], "host": ""}}
    manifests = helm.render("prod", store=store)
    base_domain = env_values("prod")["environment"]["baseDomain"]
    assert one(manifests, "Ingress")["spec"]["rules"][0]["host"] == f"{RELEASE}.{base_domain}"
    env = {e["name"]: e.get("value") for e in pod_spec(one(manifests, "Job"))["containers"][0]["env"]}
    assert env["SITE_URL"] == f"https://{RELEASE}.{base_domain}"


def test_volumes_use_the_environment_storage_class(manifests: list[Manifest], environment: str) -> None:
    storage_class = env_values(environment)["environment"]["storageClass"]
    claims = [c["spec"] for c in of_kind(manifests, "PersistentVolumeClaim")]
    claims += [t["spec"] for t in one(manifests, "StatefulSet")["spec"]["volumeClaimTemplates"]]
    assert [c.get("storageClassName", "") for c in claims] == [storage_class] * len(claims)


def test_mariadb_is_a_statefulset_behind_a_headless_service(manifests: list[Manifest]) -> None:
    statefulset = one(manifests, "StatefulSet")
    service = next(s for s in of_kind(manifests, "Service") if s["metadata"]["name"] == f"{RELEASE}-mariadb")
    assert service["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert [t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]] == ["data"]
    assert statefulset["metadata"]["namespace"] == NAMESPACE
