from __future__ import annotations

from pathlib import Path

from storeplane.graphql.schema import schema_sdl
from storeplane.settings import Settings
from tests.helpers import REPO


def test_committed_schema_matches_the_code(tmp_path: Path) -> None:
    committed = (REPO / "schema.graphql").read_text()
    current = schema_sdl(Settings(data_dir=tmp_path))
    assert current == committed, (
        "schema.graphql differs from the schema the code builds: run "
        "`.venv/bin/storeplane export-schema` (or `.venv/bin/python -m storeplane.cli export-schema`) "
        "and commit it"
    )
