from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from storeplane.audit.models import AuditEntry, AuditOutcome
from storeplane.audit.records import AuditRecord
from storeplane.engines.catalog import load_catalog
from storeplane.events.bus import BusSubscriber, EventBus
from storeplane.events.models import EventSource, StoreEvent
from storeplane.events.records import EventRecord
from storeplane.events.writer import EventWriter
from storeplane.pagination import InvalidCursorError
from storeplane.settings import Settings
from storeplane.stores import service as service_module
from storeplane.stores import transitions
from storeplane.stores.changes import ChangeKind, StoreChanged
from storeplane.stores.models import Store, StoreStatus, new_store_id
from storeplane.stores.owners import StoreOwners
from storeplane.stores.records import StoreRecord
from storeplane.stores.service import (
    InvalidInput,
    InvalidState,
    NameTaken,
    QuotaExceeded,
    StoreNotFound,
    StoreService,
    UnknownEngine,
)
from tests.app.database_helpers import make_settings, open_database
from tests.app.fake_provisioner import RecordingProvisioner

MAX_STORES = 3


@dataclass
class Harness:
    service: StoreService
    provisioner: RecordingProvisioner
    changes: BusSubscriber[StoreChanged]
    owners: StoreOwners

    async def create(self, name: str, *, owner: str = "alice", key: str | None = None) -> StoreRecord:
        result = await self.service.create_store(
            owner=owner, name=name, engine="woocommerce", idempotency_key=key, client_address="10.0.0.7"
        )
        assert isinstance(result, StoreRecord), result
        return result


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, max_stores_per_owner=MAX_STORES)
    async with open_database(settings):
        changes: EventBus[StoreChanged] = EventBus(queue_size=100)
        writer = EventWriter(bus=None, queue_size=100, batch_max=10, drain_timeout=5)
        writer.start()
        provisioner = RecordingProvisioner()
        owners = StoreOwners()
        service = StoreService(
            catalog=load_catalog(Settings().charts_dir / "engines.yaml"),
            writer=writer,
            changes=changes,
            owners=owners,
            provisioner=provisioner,
            max_stores_per_owner=MAX_STORES,
        )
        try:
            yield Harness(service, provisioner, changes.subscribe(), owners)
        finally:
            await writer.stop()
            changes.close()


async def test_create_persists_a_pending_store_with_an_event_then_submits_it(harness: Harness) -> None:
    store = await harness.create("demo-shop")
    row = await Store.get(id=store.id)
    assert (row.status, row.namespace, row.helm_release, row.owner) == (
        StoreStatus.PENDING,
        "store-demo-shop",
        "demo-shop",
        "alice",
    )
    events = await StoreEvent.filter(store_id=store.id)
    assert [(event.reason, event.source) for event in events] == [("Created", EventSource.API)]
    assert harness.provisioner.submitted == [store.id]
    change = await anext(harness.changes)
    # The bus carries the frozen record the caller got: nobody can change it under the other.
    assert (change.kind, change.store) == (ChangeKind.CREATED, store)
    assert harness.owners.owner_of(store.id) == "alice"
    audit = await AuditEntry.get(action="createStore")
    assert (audit.actor, audit.target, audit.client_address, audit.outcome) == (
        "alice",
        store.id,
        "10.0.0.7",
        AuditOutcome.SUCCESS,
    )


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "required"),
        ("a" * 41, "too_long"),
        ("Shop", "lowercase"),
        ("my_shop", "characters"),
        ("1shop", "start"),
        ("shop-", "end"),
        ("admin", "reserved"),
    ],
)
async def test_invalid_names_are_rejected_with_the_rule_they_break(
    harness: Harness, name: str, rule: str
) -> None:
    result = await harness.service.create_store(
        owner="alice", name=name, engine="woocommerce", idempotency_key=None, client_address=None
    )
    assert isinstance(result, InvalidInput)
    assert (result.field, result.rule) == ("name", rule)
    assert await Store.all().count() == 0
    assert harness.provisioner.submitted == []
    audit = await AuditEntry.get(action="createStore")
    assert (audit.outcome, audit.detail) == (AuditOutcome.REJECTED, "InvalidInput")


async def test_an_unknown_engine_is_rejected_with_the_known_ones(harness: Harness) -> None:
    result = await harness.service.create_store(
        owner="alice", name="shop", engine="magento", idempotency_key=None, client_address=None
    )
    assert result == UnknownEngine("magento", ["woocommerce"])


async def test_a_live_stores_name_is_taken_for_every_owner(harness: Harness) -> None:
    await harness.create("shop", owner="alice")
    result = await harness.service.create_store(
        owner="bob", name="shop", engine="woocommerce", idempotency_key=None, client_address=None
    )
    assert result == NameTaken("shop")


async def test_a_deleted_stores_name_is_free_again(harness: Harness) -> None:
    first = await harness.create("shop")
    await Store.filter(id=first.id).update(status=StoreStatus.DELETED)
    second = await harness.create("shop", owner="bob")
    assert second.id != first.id
    assert second.namespace == "store-shop"


async def test_a_repeated_idempotency_key_returns_the_same_store(harness: Harness) -> None:
    first = await harness.create("shop", key="req-1")
    again = await harness.create("shop", key="req-1")
    assert again.id == first.id
    assert await Store.all().count() == 1
    assert harness.provisioner.submitted == [first.id]
    # The key is per owner: bob's identical key is his own request (and the name is taken).
    other = await harness.service.create_store(
        owner="bob", name="shop", engine="woocommerce", idempotency_key="req-1", client_address=None
    )
    assert other == NameTaken("shop")


async def test_concurrent_creates_with_one_key_make_one_store(harness: Harness) -> None:
    results = await asyncio.gather(*(harness.create("shop", key="same") for _ in range(5)))
    assert len({store.id for store in results}) == 1
    assert await Store.all().count() == 1


async def test_an_owner_over_the_limit_gets_quota_exceeded(harness: Harness) -> None:
    for n in range(MAX_STORES):
        await harness.create(f"shop-{n}")
    result = await harness.service.create_store(
        owner="alice", name="one-more", engine="woocommerce", idempotency_key=None, client_address=None
    )
    assert result == QuotaExceeded(MAX_STORES)
    # Other owners are not affected, and deleted stores do not count.
    await harness.create("bobs-shop", owner="bob")
    await Store.filter(name="shop-0").update(status=StoreStatus.DELETED)
    await harness.create("one-more")


async def test_concurrent_creates_never_exceed_the_limit(harness: Harness) -> None:
    results = await asyncio.gather(
        *(
            harness.service.create_store(
                owner="alice",
                name=f"shop-{n}",
                engine="woocommerce",
                idempotency_key=None,
                client_address=None,
            )
            for n in range(MAX_STORES + 3)
        )
    )
    assert sum(isinstance(result, StoreRecord) for result in results) == MAX_STORES
    assert sum(isinstance(result, QuotaExceeded) for result in results) == 3


async def test_a_namespace_held_through_a_derivative_is_not_reused(harness: Harness) -> None:
    # Store "a" once got the derivative store-a-b2c3; a store named "a-b2c3" must not collide with it.
    holder = await harness.create("a")
    await Store.filter(id=holder.id).update(namespace="store-a-b2c3")
    store = await harness.create("a-b2c3")
    assert store.namespace.startswith("store-a-b2c3-")
    assert len(store.namespace) == len("store-a-b2c3-") + 4


async def test_deleting_marks_the_store_deleting_before_asking_provisioning(harness: Harness) -> None:
    store = await harness.create("shop")
    result = await harness.service.delete_store(owner="alice", id=store.id, client_address="10.0.0.8")
    assert isinstance(result, StoreRecord)
    assert result.status == StoreStatus.DELETING
    assert (await Store.get(id=store.id)).status == StoreStatus.DELETING
    assert harness.provisioner.delete_requests == [store.id]
    reasons = [event.reason for event in await StoreEvent.filter(store_id=store.id)]
    assert reasons == ["Created", "DeleteRequested"]


async def test_deleting_twice_is_idempotent_while_deleting_and_invalid_once_deleted(harness: Harness) -> None:
    store = await harness.create("shop")
    await harness.service.delete_store(owner="alice", id=store.id)
    again = await harness.service.delete_store(owner="alice", id=store.id)
    assert isinstance(again, StoreRecord)
    assert again.status == StoreStatus.DELETING
    # Asked again (its first request may have been lost with its task; the provisioner ignores a repeat),
    # but the store moved and was announced once.
    assert harness.provisioner.delete_requests == [store.id, store.id]
    assert await StoreEvent.filter(store_id=store.id, reason="DeleteRequested").count() == 1

    await Store.filter(id=store.id).update(status=StoreStatus.DELETED)  # provisioning finished
    result = await harness.service.delete_store(owner="alice", id=store.id)
    assert result == InvalidState(store.id, StoreStatus.DELETED, "delete")


async def test_another_owners_store_is_not_found_for_every_operation(harness: Harness) -> None:
    store = await harness.create("shop", owner="alice")
    service = harness.service
    assert await service.get_store(owner="bob", id=store.id) is None
    assert await service.delete_store(owner="bob", id=store.id) == StoreNotFound(store.id)
    assert await service.retry_store(owner="bob", id=store.id) == StoreNotFound(store.id)
    assert await service.list_events(owner="bob", store_id=store.id, after=None, first=10) == StoreNotFound(
        store.id
    )
    assert (await service.list_stores(owner="bob", first=10, after=None)).items == []
    # Exactly what a missing id gives: nothing tells bob the store exists.
    assert await service.delete_store(owner="bob", id="st-missing") == StoreNotFound("st-missing")
    assert (await Store.get(id=store.id)).status == StoreStatus.PENDING


@pytest.mark.parametrize(
    "bad_id",
    ["", "²", "1" * 33, "x" * 10_000, "-1\n", "st-\x00", "st-\ud800", "st-caf\u00e9", "st abc"],
    ids=[
        "empty",
        "superscript-two",
        "too-long",
        "very-long",
        "newline",
        "nul",
        "surrogate",
        "non-ascii",
        "space",
    ],
)
async def test_an_id_no_store_can_have_is_an_unknown_store(harness: Harness, bad_id: str) -> None:
    await harness.create("shop")
    service = harness.service
    assert not service_module.is_store_id(bad_id)
    assert await service.get_store(owner="alice", id=bad_id) is None
    assert await service.delete_store(owner="alice", id=bad_id) == StoreNotFound(bad_id)
    assert await service.retry_store(owner="alice", id=bad_id) == StoreNotFound(bad_id)
    assert await service.list_events(owner="alice", store_id=bad_id, after=None, first=10) == StoreNotFound(
        bad_id
    )
    # Audited like any rejected call, with the id escaped and cut to what every database can store.
    entries = await AuditEntry.filter(action__in=["deleteStore", "retryStore"])
    assert len(entries) == 2
    assert {(entry.outcome, entry.detail) for entry in entries} == {(AuditOutcome.REJECTED, "StoreNotFound")}
    assert all(entry.target.isprintable() and len(entry.target) <= 255 for entry in entries)


async def test_generated_store_ids_are_store_ids(harness: Harness) -> None:
    assert all(service_module.is_store_id(new_store_id()) for _ in range(100))
    assert service_module.is_store_id("st-missing")


def crafted_cursor(content: list[Any]) -> str:
    """A cursor encoded as the service encodes its own, around content of the caller's choosing."""
    return base64.urlsafe_b64encode(json.dumps(content).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "content",
    [
        ["store", "not a date", "st-abc"],
        ["store", "2024-01-01T00:00:00", "st-abc"],  # no time zone
        ["store", "0001-01-01T00:00:00+23:59", "st-abc"],  # out of range once in UTC
        ["store", 5, "st-abc"],
        ["store", "2024-01-01T00:00:00+00:00", 5],
        ["store", "2024-01-01T00:00:00+00:00", "st-\x00"],
        ["store", "2024-01-01T00:00:00+00:00", "x" * 40],
        ["audit", 1],
    ],
)
async def test_a_forged_stores_cursor_is_invalid(harness: Harness, content: list[Any]) -> None:
    with pytest.raises(InvalidCursorError):
        await harness.service.list_stores(owner="alice", first=2, after=crafted_cursor(content))


@pytest.mark.parametrize(
    "content",
    [["audit", "12"], ["audit", True], ["audit", -1], ["audit", 2**63], ["audit", 1.0], ["store", 1]],
)
async def test_a_forged_audit_cursor_is_invalid(harness: Harness, content: list[Any]) -> None:
    with pytest.raises(InvalidCursorError):
        await harness.service.list_audit(owner="alice", first=2, after=crafted_cursor(content))


async def test_retry_moves_a_failed_store_back_to_pending_and_resubmits_it(harness: Harness) -> None:
    store = await harness.create("shop")
    not_failed = await harness.service.retry_store(owner="alice", id=store.id)
    assert not_failed == InvalidState(store.id, StoreStatus.PENDING, "retry")
    await Store.filter(id=store.id).update(status=StoreStatus.FAILED, failure_reason="pod db-0 not ready")
    result = await harness.service.retry_store(owner="alice", id=store.id)
    assert isinstance(result, StoreRecord)
    assert (result.status, result.failure_reason) == (StoreStatus.PENDING, None)
    row = await Store.get(id=store.id)
    assert row.status == StoreStatus.PENDING
    assert row.failure_reason is None
    assert harness.provisioner.submitted == [store.id, store.id]


async def test_a_failure_in_provisioning_is_audited_as_an_error_and_raised(harness: Harness) -> None:
    harness.provisioner.fail_with = RuntimeError("queue broken")
    with pytest.raises(RuntimeError, match="queue broken"):
        await harness.create("shop")
    audit = await AuditEntry.get(action="createStore")
    assert (audit.outcome, audit.detail) == (AuditOutcome.ERROR, "RuntimeError")
    # The request stays recorded for the reconciler.
    assert (await Store.get(name="shop")).status == StoreStatus.PENDING


async def test_stores_are_listed_by_keyset_pages_with_filters(harness: Harness) -> None:
    created = [await harness.create(f"shop-{n}", owner="carol") for n in range(3)]
    await harness.create("other", owner="dave")
    service = harness.service
    first = await service.list_stores(owner="carol", first=2, after=None)
    assert [store.id for store in first.items] == [store.id for store in created[:2]]
    assert first.has_next_page
    second = await service.list_stores(owner="carol", first=2, after=first.end_cursor)
    assert [store.id for store in second.items] == [created[2].id]
    assert not second.has_next_page
    found = await service.list_stores(owner="carol", first=10, after=None, search="OP-1")
    assert [store.name for store in found.items] == ["shop-1"]
    await Store.filter(id=created[0].id).update(status=StoreStatus.DELETED)
    live = await service.list_stores(owner="carol", first=10, after=None)
    assert [store.id for store in live.items] == [store.id for store in created[1:]]
    deleted = await service.list_stores(owner="carol", first=10, after=None, status=StoreStatus.DELETED)
    assert [store.id for store in deleted.items] == [created[0].id]
    with pytest.raises(InvalidCursorError):
        await service.list_stores(owner="carol", first=2, after="not-a-cursor")


async def test_events_are_listed_after_a_cursor_for_one_store_or_all_of_an_owners(harness: Harness) -> None:
    one = await harness.create("one")
    two = await harness.create("two")
    await harness.create("bobs", owner="bob")
    await harness.service.delete_store(owner="alice", id=one.id)
    everything = await harness.service.list_events(owner="alice", store_id=None, after=None, first=10)
    assert not isinstance(everything, StoreNotFound)
    assert [(event.store_id, event.reason) for event in everything.items] == [
        (one.id, "Created"),
        (two.id, "Created"),
        (one.id, "DeleteRequested"),
    ]
    after_first = await harness.service.list_events(
        owner="alice", store_id=one.id, after=everything.items[0].id, first=10
    )
    assert not isinstance(after_first, StoreNotFound)
    assert [event.reason for event in after_first.items] == ["DeleteRequested"]


async def test_each_request_is_recorded_with_the_reason_and_message_clients_know(harness: Harness) -> None:
    store = await harness.create("shop")
    await Store.filter(id=store.id).update(status=StoreStatus.FAILED, failure_reason="pod db-0 not ready")
    await harness.service.retry_store(owner="alice", id=store.id)
    await harness.service.delete_store(owner="alice", id=store.id)
    events = await StoreEvent.filter(store_id=store.id).order_by("id")
    assert [(event.reason, event.type, event.source, event.message) for event in events] == [
        ("Created", "Normal", "api", "Store shop (woocommerce) requested in namespace store-shop"),
        ("RetryRequested", "Normal", "api", "Provisioning of shop retried"),
        ("DeleteRequested", "Normal", "api", "Deletion of shop requested"),
    ]


async def test_each_change_is_published_as_the_record_the_caller_gets(harness: Harness) -> None:
    store = await harness.create("shop")
    await Store.filter(id=store.id).update(status=StoreStatus.FAILED)
    retried = await harness.service.retry_store(owner="alice", id=store.id)
    deleted = await harness.service.delete_store(owner="alice", id=store.id)
    changes = [await anext(harness.changes) for _ in range(3)]
    assert [(change.kind, change.store) for change in changes] == [
        (ChangeKind.CREATED, store),
        (ChangeKind.UPDATED, retried),
        (ChangeKind.UPDATED, deleted),
    ]
    assert [change.store.status for change in changes] == [
        StoreStatus.PENDING,
        StoreStatus.PENDING,
        StoreStatus.DELETING,
    ]


def _racing(monkeypatch: pytest.MonkeyPatch, moves_to: StoreStatus) -> list[tuple[StoreStatus, StoreStatus]]:
    """Makes another writer (provisioning) move the store to `moves_to` just before the service's first
    transition; returns the (from, to) of every transition the service then attempts."""
    attempts: list[tuple[StoreStatus, StoreStatus]] = []

    async def racing_transition(store: StoreRecord, to: StoreStatus, **kwargs: Any) -> StoreRecord:
        if not attempts:
            await Store.filter(id=store.id).update(status=moves_to)
        attempts.append((store.status, to))
        return await transitions.transition(store, to, **kwargs)

    monkeypatch.setattr(service_module, "transition", racing_transition)
    return attempts


async def test_a_delete_that_races_provisioning_reads_the_store_again_and_decides_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await harness.create("shop")
    attempts = _racing(monkeypatch, StoreStatus.PROVISIONING)
    result = await harness.service.delete_store(owner="alice", id=store.id)
    assert attempts == [
        (StoreStatus.PENDING, StoreStatus.DELETING),
        (StoreStatus.PROVISIONING, StoreStatus.DELETING),
    ]
    assert isinstance(result, StoreRecord)
    assert result.status == StoreStatus.DELETING
    assert (await Store.get(id=store.id)).status == StoreStatus.DELETING
    assert harness.provisioner.delete_requests == [store.id]
    assert await StoreEvent.filter(store_id=store.id, reason="DeleteRequested").count() == 1


async def test_a_delete_that_loses_to_another_delete_returns_the_store_without_a_second_event(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await harness.create("shop")
    _racing(monkeypatch, StoreStatus.DELETING)
    result = await harness.service.delete_store(owner="alice", id=store.id)
    assert isinstance(result, StoreRecord)
    assert result.status == StoreStatus.DELETING
    assert harness.provisioner.delete_requests == [store.id]  # asked too: a repeat is a no-op
    assert await StoreEvent.filter(store_id=store.id, reason="DeleteRequested").count() == 0


async def test_a_retry_that_loses_a_race_is_invalid_with_the_status_found(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await harness.create("shop")
    await Store.filter(id=store.id).update(status=StoreStatus.FAILED)
    _racing(monkeypatch, StoreStatus.DELETING)
    result = await harness.service.retry_store(owner="alice", id=store.id)
    assert result == InvalidState(store.id, StoreStatus.DELETING, "retry")
    assert harness.provisioner.submitted == [store.id]  # only the create's
    audit = await AuditEntry.get(action="retryStore")
    assert (audit.outcome, audit.detail) == (AuditOutcome.REJECTED, "InvalidState")


async def test_reads_return_frozen_records_not_rows(harness: Harness) -> None:
    store = await harness.create("shop")
    found = await harness.service.get_store(owner="alice", id=store.id)
    assert found == store
    page = await harness.service.list_stores(owner="alice", first=10, after=None)
    assert page.items == [store]
    events = await harness.service.list_events(owner="alice", store_id=store.id, after=None, first=10)
    assert not isinstance(events, StoreNotFound)
    assert all(isinstance(event, EventRecord) for event in events.items)
    with pytest.raises(AttributeError):
        store.status = StoreStatus.READY  # type: ignore[misc]


async def test_the_newest_event_of_each_store_is_read_with_the_store_or_for_a_page(harness: Harness) -> None:
    one = await harness.create("one")
    two = await harness.create("two")
    silent = await harness.create("silent")
    await StoreEvent.filter(store_id=silent.id).delete()
    await harness.service.delete_store(owner="alice", id=one.id)
    last = await harness.service.last_event(store_id=one.id)
    assert last is not None
    assert (last.store_id, last.reason) == (one.id, "DeleteRequested")
    assert await harness.service.last_event(store_id=silent.id) is None
    newest = await harness.service.last_events(store_ids=[one.id, two.id, silent.id])
    assert {store_id: event.reason for store_id, event in newest.items()} == {
        one.id: "DeleteRequested",
        two.id: "Created",
    }
    assert newest[one.id] == last
    assert await harness.service.last_events(store_ids=[]) == {}


async def test_the_audit_log_lists_the_callers_own_entries_by_pages(harness: Harness) -> None:
    store = await harness.create("shop")
    await harness.create("bobs", owner="bob")
    await harness.service.retry_store(owner="alice", id=store.id)
    await harness.service.delete_store(owner="alice", id=store.id)
    first = await harness.service.list_audit(owner="alice", first=2, after=None)
    assert all(isinstance(entry, AuditRecord) for entry in first.items)
    assert [(entry.action, entry.outcome, entry.detail) for entry in first.items] == [
        ("createStore", AuditOutcome.SUCCESS, None),
        ("retryStore", AuditOutcome.REJECTED, "InvalidState"),
    ]
    assert first.has_next_page
    rest = await harness.service.list_audit(owner="alice", first=2, after=first.end_cursor)
    assert [(entry.action, entry.target) for entry in rest.items] == [("deleteStore", store.id)]
    assert not rest.has_next_page
    with pytest.raises(InvalidCursorError):
        await harness.service.list_audit(owner="alice", first=2, after=first.cursors[0][::-1])
