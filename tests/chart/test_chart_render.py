"""The chart lints and renders valid Kubernetes objects with each environment's values."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.chart.chart_helpers import CHART, NAMESPACE, REPO, STORE_VALUES, Helm, Manifest
from tests.chart.schema_helpers import crd_errors

# The Kubernetes release the rendered manifests must be valid for: the one helm 4.1's client is built against,
# shipped by kubernetes-validate 1.37.0 (which has schemas for 1.25 to 1.37).
KUBERNETES_VERSION = "1.35.0"


def test_helm_lint_strict_passes_with_each_environment(helm: Helm, environment: str) -> None:
    result = helm.run(
        "lint",
        "--strict",
        str(CHART),
        "--namespace",
        NAMESPACE,
        "-f",
        str(REPO / "values" / f"{environment}.yaml"),
        "-f",
        str(helm.values_file(STORE_VALUES)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_rendered_manifests_validate_against_kubernetes_schemas_in_strict_mode(
    manifests: list[Manifest],
) -> None:
    errors = []
    for manifest in manifests:
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if manifest["apiVersion"] == "cert-manager.io/v1":
            # kubernetes-validate knows built-in kinds only: cert-manager's own CRD schema, equally strict.
            errors += [f"{name}: {error}" for error in crd_errors(manifest)]
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{name}: {'.'.join(str(p) for p in error.path)}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"{name}: {error.message}")
    assert not errors, "\n".join(errors)


def test_strict_validation_rejects_an_unknown_field(manifests: list[Manifest]) -> None:
    # Guards the test above against passing vacuously (e.g. a validator that accepts anything).
    deployment = copy.deepcopy(next(m for m in manifests if m["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_chart_creates_no_namespace_and_puts_every_object_in_the_release_namespace(
    manifests: list[Manifest],
) -> None:
    assert not [m for m in manifests if m["kind"] == "Namespace"]
    assert {m["metadata"].get("namespace") for m in manifests} == {NAMESPACE}


def test_chart_uses_only_plain_kubernetes_apis_and_cert_manager_certificates(
    manifests: list[Manifest],
) -> None:
    allowed = {
        "v1",
        "apps/v1",
        "batch/v1",
        "networking.k8s.io/v1",
        "policy/v1",
        "rbac.authorization.k8s.io/v1",
    }
    # The one custom resource: the store's Certificate, where TLS is on (cert-manager is then a prerequisite).
    custom = {(m["apiVersion"], m["kind"]) for m in manifests if m["apiVersion"] not in allowed}
    assert custom <= {("cert-manager.io/v1", "Certificate")}


def test_no_helm_hooks_are_used(manifests: list[Manifest]) -> None:
    # The setup Job is a plain resource so that `helm install --wait --wait-for-jobs` waits for it.
    hooked = [
        m["metadata"]["name"] for m in manifests if "helm.sh/hook" in m["metadata"].get("annotations", {})
    ]
    assert not hooked
