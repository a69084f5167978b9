"""Stores provisioning through a 30 s outage of the API server, in each of a real server's wordings in turn
(a ServiceUnavailable Status, etcd timing out, throttling, a restart refusing connections), with every watch
cut and a 410 on resume: all become Ready, none Failed, and each says in its history that it waited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kubesim.client import ControlClient
from kubesim.process import KubesimProcess
from storeplane.stores.models import Store, StoreStatus
from storeplane.stores.records import StoreRecord
from tests.app.provisioning.stack_helpers import assert_each_once, provisioning, reaches, unique_name
from tests.helpers import eventually

pytestmark = pytest.mark.timeout(300)
STORES = 8
# Restart first: while it lasts the control endpoint is down too, so nothing else can be asked of kubesim.
SEGMENTS = (("restart", 7.5), ("unavailable", 7.5), ("etcd", 7.5), ("throttled", 7.5))


async def test_stores_provisioning_through_an_api_outage_all_become_ready(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], control: ControlClient, tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, provisioning_timeout_seconds=240
    ) as stack:
        stores: list[StoreRecord] = []

        async def create() -> None:
            stores.append(await stack.create_store(unique_name()))

        # Half of them installing or waiting for their database when the API goes away (their MariaDB is
        # kept unready until it is over), half created during the outage.
        await control.add_fault("never-ready", namespace="store-shop*", name="shop*-mariadb*")
        for _ in range(STORES // 2):
            await create()

        async def installing() -> bool:
            return len(stack.helm.running) >= 2

        await eventually(installing, timeout=20, interval=0.01, what="helm installs running")
        for kind, seconds in SEGMENTS:
            await control.outage(seconds, kind=kind)
            if kind == "restart":
                for _ in range(STORES // 2):
                    await create()
            if kind == "throttled":
                await control.expire_next_watch()  # the watches' resume after the outage gets 410 Expired
            await asyncio.sleep(seconds + (0.5 if kind == "restart" else 0.0))
        await control.clear_faults()
        for store in stores:
            await reaches(store.id, StoreStatus.READY, timeout=120)
        for store in stores:
            reasons = await assert_each_once(store.id, "Ready")
            assert "WaitingForCluster" in reasons, f"{store.name}: {', '.join(reasons)}"
        assert not await Store.filter(status=StoreStatus.FAILED).exists()
