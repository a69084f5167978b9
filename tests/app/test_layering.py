"""The layering the architecture relies on, checked on the import statements of every module of app/."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

APP = REPO / "app" / "storeplane"
# app/storeplane/k8s speaks to helm and the Kubernetes API only: no GraphQL, no ORM, no domain packages.
K8S_FORBIDDEN = (
    "strawberry",
    "starlette",
    "tortoise",
    "storeplane.stores",
    "storeplane.events",
    "storeplane.audit",
    "storeplane.db",
    "storeplane.graphql",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.name} imports {name}"
        for path in paths
        for name in sorted(_imports(path))
        if any(name == f or name.startswith(f"{f}.") for f in forbidden)
    ]


def test_k8s_layer_knows_nothing_of_graphql_or_the_database() -> None:
    modules = sorted((APP / "k8s").rglob("*.py"))
    assert modules, "app/storeplane/k8s has no modules"
    assert _violations(modules, K8S_FORBIDDEN) == []


def test_the_app_never_imports_the_emulator() -> None:
    assert _violations(sorted(APP.rglob("*.py")), ("kubesim",)) == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import tortoise.models\nfrom storeplane.stores import models\n")
    assert len(_violations([module], K8S_FORBIDDEN)) == 2
