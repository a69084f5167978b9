"""Store.resources: the watch cache's view of a store's Kubernetes objects, through the GraphQL API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from storeplane.settings import Settings
from storeplane.stores.progress import ResourceState
from storeplane.stores.records import StoreRecord
from storeplane.system import ClusterParts, Core
from tests.app.fake_provisioner import RecordingProvisioner
from tests.app.server_helpers import API_TOKENS, run_server


@dataclass(frozen=True)
class _Seen:
    kind: str
    name: str
    state: str


class _FixedTracker:
    """What an Observer would report for any store: one ready StatefulSet and one pending claim."""

    features: frozenset[str] = frozenset()

    def steps_done(self, store: StoreRecord) -> frozenset[str] | None:
        return None

    def resources(self, store_id: str) -> Sequence[ResourceState]:
        return [
            _Seen("StatefulSet", f"{store_id}-db", "ready"),
            _Seen("PersistentVolumeClaim", "data", "Pending"),
        ]


@asynccontextmanager
async def _tracking_cluster(core: Core) -> AsyncIterator[ClusterParts]:
    yield ClusterParts(provisioner=RecordingProvisioner(), tracker=_FixedTracker())


async def test_store_resources_come_from_the_tracker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREPLANE_API_TOKENS", API_TOKENS)
    async with (
        run_server(Settings(data_dir=tmp_path / "data"), cluster=_tracking_cluster) as server,
        aiohttp.ClientSession() as http,
    ):
        _, created = await server.graphql(
            http,
            'mutation { createStore(input: {name: "shop", engine: "woocommerce"}) '
            "{ ... on CreateStoreSuccess { store { id } } } }",
        )
        store_id = created["data"]["createStore"]["store"]["id"]
        status, body = await server.graphql(
            http, "query($id: ID!) { store(id: $id) { resources { kind name state } } }", {"id": store_id}
        )
    assert status == 200
    assert body["data"]["store"]["resources"] == [
        {"kind": "StatefulSet", "name": f"{store_id}-db", "state": "ready"},
        {"kind": "PersistentVolumeClaim", "name": "data", "state": "Pending"},
    ]
