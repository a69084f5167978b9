"""The API's enums are classes of its own that mirror the domain's; the schema leaves the domain's alone."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pytest

from storeplane.audit.records import AuditOutcome
from storeplane.events.kinds import EventSource, EventType
from storeplane.graphql.schema import build_schema
from storeplane.graphql.types import enums
from storeplane.settings import Settings
from storeplane.stores.records import StoreStatus

PAIRS: list[tuple[type[Enum], type[Enum]]] = [
    (StoreStatus, enums.StoreStatus),
    (EventType, enums.EventType),
    (EventSource, enums.EventSource),
    (AuditOutcome, enums.AuditOutcome),
]


@pytest.mark.parametrize(("domain", "api"), PAIRS)
def test_each_api_enum_mirrors_its_domain_enum_member_for_member(domain: type[Enum], api: type[Enum]) -> None:
    assert [(member.name, member.value) for member in api] == [
        (member.name, member.value) for member in domain
    ]
    for member in domain:
        assert enums.mirror(enums.mirror(member, api), domain) is member


def test_building_the_schema_does_not_mark_the_domain_enums(tmp_path: Path) -> None:
    build_schema(Settings(data_dir=tmp_path))
    for domain, api in PAIRS:
        assert not hasattr(domain, "__strawberry_definition__"), domain
        assert hasattr(api, "__strawberry_definition__"), api
