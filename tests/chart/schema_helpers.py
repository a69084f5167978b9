"""Validation against schemas kubernetes-validate lacks: cert-manager's CRDs and Traefik's chart values.

The schemas live in tests/chart/schemas/, cut from the upstream files named in each file's header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A dependency of kubernetes-validate, which validates with it too; it ships no type information.
import jsonschema  # type: ignore[import-untyped]
import yaml

SCHEMAS = Path(__file__).resolve().parent / "schemas"
# (apiVersion, kind) -> the schema file of that custom resource.
CRD_SCHEMAS = {
    ("cert-manager.io/v1", "Certificate"): "cert-manager-certificate.yaml",
    ("cert-manager.io/v1", "ClusterIssuer"): "cert-manager-clusterissuer.yaml",
}
TRAEFIK_PORTS_SCHEMA = "traefik-chart-ports.yaml"

Schema = dict[str, Any]


def load_schema(name: str) -> Schema:
    loaded: Schema = yaml.safe_load((SCHEMAS / name).read_text())
    return loaded


def strict(schema: Schema) -> Schema:
    """The schema with unknown fields refused, as the API server's strict field validation refuses them.

    A CRD schema lists the fields of its objects and leaves the rest to pruning, which would silently drop a
    misspelt field; every object schema that lists properties, says nothing of others and does not preserve
    unknown fields gets `additionalProperties: false`.
    """
    out: Schema = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = strict(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [strict(sub) for sub in value]
        else:
            out[key] = value
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def schema_errors(instance: Any, schema: Schema) -> list[str]:
    """Every violation, as `<path>: <message>`; empty when the instance is valid."""
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def crd_errors(manifest: dict[str, Any]) -> list[str]:
    """Violations of a custom resource against its CRD's schema, strictly; a kind with no schema fails."""
    name = CRD_SCHEMAS.get((manifest["apiVersion"], manifest["kind"]))
    if name is None:
        return [f"no schema for {manifest['apiVersion']} {manifest['kind']} in {SCHEMAS}"]
    return schema_errors(manifest, strict(load_schema(name)))
