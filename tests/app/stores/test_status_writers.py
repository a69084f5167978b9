"""Only the transition module writes a store's status: checked on the syntax of every module of the app."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

APP = REPO / "app" / "storeplane"
THE_WRITER = APP / "stores" / "transitions.py"
# ORM calls that write the columns named in their keywords.
_WRITING_CALLS = {"update", "create", "update_or_create", "get_or_create", "update_from_dict", "bulk_update"}


def status_writes(path: Path) -> list[str]:
    """Where `path` writes a `status`: an ORM call with a status keyword, `x.status = ...`, or raw SQL."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _WRITING_CALLS
        ):
            if any(keyword.arg == "status" for keyword in node.keywords):
                found.append(f"{path.name}:{node.lineno} {node.func.attr}(status=...)")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "status":
                    found.append(f"{path.name}:{node.lineno} .status =")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "update store" in " ".join(node.value.lower().split())
        ):
            found.append(f"{path.name}:{node.lineno} raw UPDATE store")
    return found


def test_nothing_but_the_transition_module_writes_a_stores_status() -> None:
    # k8s/ is left out: it cannot reach the ORM (test_layering.py), and there `status` is HTTP's.
    modules = [
        path for path in sorted(APP.rglob("*.py")) if path != THE_WRITER and (APP / "k8s") not in path.parents
    ]
    assert len(modules) > 40, "app/storeplane has fewer modules than expected: is APP right?"
    assert [write for path in modules for write in status_writes(path)] == []
    assert status_writes(THE_WRITER), "the transition module no longer writes the status: update this test"


def test_the_checker_sees_every_way_of_writing_a_status(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "async def f(store, Store):\n"
        "    store.status = 'Ready'\n"
        "    await Store.filter(id=1).update(status='Failed')\n"
        "    await Store.create(name='x', status='Pending')\n"
        "    await conn.execute_query('UPDATE  store SET status = 1')\n"
    )
    assert len(status_writes(module)) == 4
