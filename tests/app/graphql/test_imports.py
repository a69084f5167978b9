"""The GraphQL layer sees read models and services only: no ORM, no model module, no audit service."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

GRAPHQL = REPO / "app" / "storeplane" / "graphql"


def forbidden_imports(path: Path) -> list[str]:
    """`tortoise`, any `storeplane.<package>.models` and the audit service, wherever imported in `path`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from storeplane.stores import models` names the module in the alias, not in `module`.
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        bad = [name for name in names if _forbidden(name)]
        if bad:
            found.append(f"{path.name}:{node.lineno} {bad[0]}")  # once per statement
    return found


def _forbidden(name: str) -> bool:
    parts = name.split(".")
    return (
        parts[0] == "tortoise"
        or (parts[0] == "storeplane" and len(parts) >= 3 and parts[2] == "models")
        or name == "storeplane.audit.service"
    )


def test_the_graphql_layer_imports_no_orm_and_no_model_module() -> None:
    modules = sorted(GRAPHQL.rglob("*.py"))
    assert len(modules) > 15, "app/storeplane/graphql has fewer modules than expected: is GRAPHQL right?"
    assert [found for path in modules for found in forbidden_imports(path)] == []


def test_the_checker_sees_every_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "import tortoise\n"
        "from tortoise.expressions import Q\n"
        "from storeplane.stores.models import Store\n"
        "from storeplane.events import models\n"
        "from storeplane.audit.service import list_audit\n"
        "from storeplane.stores.records import StoreRecord\n"
    )
    assert len(forbidden_imports(module)) == 5
