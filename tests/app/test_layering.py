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
# Only app/storeplane/k8s talks to the cluster: everything above sees our own errors and `KubeApi`.
KUBE_CLIENT = ("kubernetes_asyncio", "aiohttp")
# The GraphQL layer reads plain data from the services, never ORM rows; `*` stands for any one package.
GRAPHQL_FORBIDDEN = ("tortoise", "storeplane.*.models")


def _imports(path: Path) -> list[set[str]]:
    """Per import statement of the module at `path`, every module name it may load."""
    # Relative imports are relative to the module's package, known for the modules of app/ only.
    inside = path.is_relative_to(APP.parent)
    package = list(path.relative_to(APP.parent).with_suffix("").parts[:-1]) if inside else None
    return _parse_imports(path.read_text(), filename=str(path), package=package)


def _parse_imports(source: str, *, filename: str, package: list[str] | None) -> list[set[str]]:
    """`from a import b` may load `a.b`, so it yields both names."""
    found: list[set[str]] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            found.extend({alias.name} for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            elif package is not None and node.level <= len(package):
                parent = package[: len(package) - node.level + 1]
                base = ".".join([*parent, node.module] if node.module else parent)
            else:
                continue  # a relative import in a file outside app/ (only in the checker's own tests)
            found.append({base, *(f"{base}.{alias.name}" for alias in node.names)})
    return found


def _matches(name: str, pattern: str) -> bool:
    """`name` is the module `pattern` or inside it; a `*` part of the pattern matches any one part."""
    parts, wanted = name.split("."), pattern.split(".")
    return len(parts) >= len(wanted) and all(
        want in ("*", part) for want, part in zip(wanted, parts[: len(wanted)], strict=True)
    )


def _violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    """One entry per import statement that loads a forbidden module."""
    violations = []
    for path in paths:
        for names in _imports(path):
            bad = [name for name in names if any(_matches(name, f) for f in forbidden)]
            if bad:
                violations.append(f"{_shown(path)} imports {min(bad, key=len)}")
    return violations


def _shown(path: Path) -> str:
    return str(path.relative_to(APP)) if path.is_relative_to(APP) else path.name


def _modules(under: Path) -> list[Path]:
    modules = sorted(under.rglob("*.py"))
    assert modules, f"{under} has no modules"
    return modules


def test_k8s_layer_knows_nothing_of_graphql_or_the_database() -> None:
    assert _violations(_modules(APP / "k8s"), K8S_FORBIDDEN) == []


def test_the_app_never_imports_the_emulator() -> None:
    assert _violations(_modules(APP), ("kubesim",)) == []


def test_only_the_k8s_layer_uses_the_kubernetes_client_or_aiohttp() -> None:
    outside = [path for path in _modules(APP) if not path.is_relative_to(APP / "k8s")]
    assert _violations(outside, KUBE_CLIENT) == []


def test_the_graphql_layer_never_touches_the_orm() -> None:
    assert _violations(_modules(APP / "graphql"), GRAPHQL_FORBIDDEN) == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import tortoise.models\nfrom storeplane.stores import models\n")
    assert len(_violations([module], K8S_FORBIDDEN)) == 2


def test_the_checker_sees_the_kubernetes_client_or_aiohttp(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "import aiohttp\n"
        "from kubernetes_asyncio.client import ApiException\n"
        "from kubernetes_asyncio import client\n"
        "from storeplane.k8s.client import KubeApi\n"
    )
    assert len(_violations([module], KUBE_CLIENT)) == 3


def test_the_checker_sees_the_orm_or_a_models_module(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "from tortoise.transactions import in_transaction\n"
        "from storeplane.stores.models import Store\n"
        "from storeplane.events import models\n"
        "import storeplane.audit.models\n"
        "from storeplane.stores import service\n"
        "from storeplane.graphql.types.store import StoreType\n"
    )
    violations = _violations([module], GRAPHQL_FORBIDDEN)
    assert [line.split(" imports ")[1] for line in violations] == [
        "tortoise.transactions",
        "storeplane.stores.models",
        "storeplane.events.models",
        "storeplane.audit.models",
    ]


def test_the_checker_resolves_relative_imports() -> None:
    source = "from ..stores import models\nfrom . import types\n"
    assert _parse_imports(source, filename="x.py", package=["storeplane", "graphql"]) == [
        {"storeplane.stores", "storeplane.stores.models"},
        {"storeplane.graphql", "storeplane.graphql.types"},
    ]
