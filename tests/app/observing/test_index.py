"""The observer's index and the drift verdict: pure, fed by hand-made stores and watch events, no cluster."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from storeplane.engines.catalog import load_catalog
from storeplane.k8s.watching import WatchEvent
from storeplane.labels import MANAGED_BY, MANAGED_BY_LABEL, STORE_ID_LABEL
from storeplane.observing.drift import judge_drift
from storeplane.observing.index import Orphan, StoreIndex
from storeplane.stores.models import StoreStatus
from storeplane.stores.records import StoreRecord
from tests.app.observing.test_readiness import job, pod, release_secret, workload
from tests.helpers import REPO

CATALOG = load_catalog(REPO / "charts" / "engines.yaml")
Obj = dict[str, Any]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def store(
    store_id: str = "st-one", *, name: str = "shop1", status: StoreStatus = StoreStatus.PROVISIONING
) -> StoreRecord:
    return StoreRecord(
        id=store_id,
        name=name,
        engine="woocommerce",
        status=status,
        namespace=f"store-{name}",
        helm_release=name,
        owner="alice",
        storefront_url=None,
        admin_url=None,
        failure_reason=None,
        idempotency_key=None,
        created_at=NOW,
        updated_at=NOW,
        ready_at=None,
        deleted_at=None,
    )


def namespace(name: str, store_id: str | None) -> Obj:
    labels = {MANAGED_BY_LABEL: MANAGED_BY} | ({} if store_id is None else {STORE_ID_LABEL: store_id})
    return {"kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def placed(obj: Obj, ns: str) -> Obj:
    return obj | {"metadata": obj["metadata"] | {"namespace": ns, "uid": obj["metadata"]["name"]}}


def added(obj: Obj, *, kind: str | None = None, type_: str = "ADDED", from_list: bool = False) -> WatchEvent:
    return WatchEvent(type_, kind or obj["kind"], obj, "1", from_list)  # type: ignore[arg-type]


def ready_store_objects(index: StoreIndex, ns: str = "store-shop1") -> None:
    for obj in (
        workload("StatefulSet", "shop1-mariadb", 1),
        workload("Deployment", "shop1-wordpress", 1),
        pod("shop1-mariadb-0", ready=True),
        job("shop1-setup-0a1b2c3d", complete=True),
        {"kind": "Ingress", "metadata": {"name": "shop1"}},
        release_secret("deployed"),
    ):
        index.apply(added(placed(obj, ns)))


def test_objects_belong_to_the_store_whose_namespace_carries_its_id() -> None:
    index = StoreIndex(CATALOG)
    index.learn(store())
    index.apply(added(namespace("store-shop1", "st-one")))
    ready_store_objects(index)
    assessment = index.assess("st-one")
    assert assessment is not None
    assert assessment.ready
    assert index.steps_done("st-one") == frozenset(
        s.id for s in CATALOG.engines["woocommerce"].steps_for(frozenset())
    )
    assert ("StatefulSet", "shop1-mariadb", "ready") in [
        (r.kind, r.name, r.state) for r in index.resources("st-one")
    ]
    assert all(r.kind != "Secret" for r in index.resources("st-one"))


def test_a_namespace_labelled_for_another_store_is_not_this_stores() -> None:
    index = StoreIndex(CATALOG)
    index.learn(store())
    seen = index.apply(added(namespace("store-shop1", "st-other")))
    assert seen.store_id is None
    assert seen.orphan == Orphan("store-shop1", "st-other")
    assert index.apply(added(placed(pod("shop1-mariadb-0", ready=True), "store-shop1"))).store_id is None
    assert index.resources("st-one") == []


def test_orphans_are_labelled_namespaces_without_a_live_store_and_reported_once() -> None:
    index = StoreIndex(CATALOG)
    index.learn(store())
    assert index.apply(added(namespace("store-shop1", "st-one"))).orphan is None
    first = index.apply(added(namespace("store-gone", "st-gone")))
    again = index.apply(added(namespace("store-gone", "st-gone"), type_="MODIFIED"))
    assert first.orphan == Orphan("store-gone", "st-gone")
    assert again.orphan is None
    assert index.orphans() == [Orphan("store-gone", "st-gone")]
    # Deleted stores leave their namespace orphaned until it is gone.
    index.learn(dataclasses.replace(store(), status=StoreStatus.DELETED))
    assert index.orphans() == [Orphan("store-gone", "st-gone"), Orphan("store-shop1", "st-one")]
    assert index.store("st-one") is None


def test_a_deleting_stores_objects_going_away_are_not_reported_as_deletions() -> None:
    index = StoreIndex(CATALOG)
    index.learn(store(status=StoreStatus.READY))
    index.apply(added(namespace("store-shop1", "st-one")))
    ready_store_objects(index)
    mariadb = placed(workload("StatefulSet", "shop1-mariadb", 1), "store-shop1")
    assert index.apply(added(mariadb, type_="DELETED")).notes != []
    index.apply(added(mariadb))
    index.learn(dataclasses.replace(store(), status=StoreStatus.DELETING))
    assert index.apply(added(mariadb, type_="DELETED")).notes == []
    gone = index.apply(added(namespace("store-shop1", "st-one"), type_="DELETED"))
    assert [note.reason for note in gone.notes] == ["NamespaceDeleted"]
    assert not index.namespace_present("store-shop1")


def test_progress_changes_are_reported_once_per_change() -> None:
    index = StoreIndex(CATALOG)
    index.learn(store())
    index.apply(added(namespace("store-shop1", "st-one")))
    assert index.progress_changed("st-one")
    assert not index.progress_changed("st-one")
    index.apply(added(placed(release_secret("deployed"), "store-shop1")))
    assert index.progress_changed("st-one")


def test_drift_fails_a_ready_store_at_once_when_something_is_gone() -> None:
    index = StoreIndex(CATALOG)
    ready = store(status=StoreStatus.READY)
    index.learn(ready)
    index.apply(added(namespace("store-shop1", "st-one")))
    ready_store_objects(index)
    assert judge_drift(ready, index.assess("st-one"), due=None, now=0.0, grace=60.0).failure is None
    index.apply(added(placed(workload("StatefulSet", "shop1-mariadb", 1), "store-shop1"), type_="DELETED"))
    verdict = judge_drift(ready, index.assess("st-one"), due=None, now=0.0, grace=60.0)
    assert verdict.failure == "Drift: StatefulSet shop1-mariadb not found"


def test_drift_waits_the_grace_period_for_an_unready_workload() -> None:
    index = StoreIndex(CATALOG)
    ready = store(status=StoreStatus.READY)
    index.learn(ready)
    index.apply(added(namespace("store-shop1", "st-one")))
    ready_store_objects(index)
    index.apply(added(placed(workload("StatefulSet", "shop1-mariadb", 0), "store-shop1"), type_="MODIFIED"))
    index.apply(added(placed(pod("shop1-mariadb-0", ready=False), "store-shop1"), type_="MODIFIED"))
    first = judge_drift(ready, index.assess("st-one"), due=None, now=100.0, grace=60.0)
    assert first.failure is None
    assert first.due == 160.0
    still = judge_drift(ready, index.assess("st-one"), due=first.due, now=130.0, grace=60.0)
    assert still.failure is None
    assert still.due == 160.0
    late = judge_drift(ready, index.assess("st-one"), due=still.due, now=160.0, grace=60.0)
    assert late.failure is not None
    assert late.failure.startswith("Drift: not ready for 60s: Pod shop1-mariadb-0 not ready")


def test_drift_is_only_judged_for_ready_stores_and_recovery_clears_the_suspicion() -> None:
    index = StoreIndex(CATALOG)
    index.learn(store())
    index.apply(added(namespace("store-shop1", "st-one")))
    provisioning = judge_drift(store(), index.assess("st-one"), due=None, now=0.0, grace=1.0)
    assert provisioning.failure is None
    assert provisioning.due is None
    ready = store(status=StoreStatus.READY)
    ready_store_objects(index)
    recovered = judge_drift(ready, index.assess("st-one"), due=5.0, now=10.0, grace=1.0)
    assert recovered.failure is None
    assert recovered.due is None


def test_a_late_copy_of_an_older_state_does_not_undo_a_newer_one() -> None:
    index = StoreIndex(CATALOG)
    created = store(status=StoreStatus.PENDING)
    deleting = dataclasses.replace(created, status=StoreStatus.DELETING, updated_at=NOW.replace(second=1))
    index.learn(deleting)
    index.learn(created)  # the create's announcement, published after a delete had already committed
    known = index.store("st-one")
    assert known is not None
    assert known.status == StoreStatus.DELETING


def test_the_cron_runs_are_quiet_and_only_setup_jobs_are_remembered_complete() -> None:
    index = StoreIndex(CATALOG)
    index.learn(store())
    index.apply(added(namespace("store-shop1", "st-one")))
    ns = "store-shop1"
    run = placed(job("shop1-cron-29123456", complete=True), ns)
    run_pod = placed(pod("shop1-cron-29123456-x7k2p", ready=True), ns)
    started = placed(
        {
            "kind": "Event",
            "metadata": {"name": "shop1-cron-29123456-x7k2p.1"},
            "type": "Normal",
            "reason": "Started",
            "message": "Started container cron",
            "involvedObject": {"kind": "Pod", "name": "shop1-cron-29123456-x7k2p"},
        },
        ns,
    )
    for event in (added(run), added(run_pod), added(started)):
        observation = index.apply(event)
        assert (observation.store_id, observation.notes) == ("st-one", [])
    objects = index.objects("st-one")
    assert objects is not None
    assert objects.of_kind("Job") == {}
    assert objects.of_kind("Pod") == {}
    assert objects.completed_jobs == frozenset()
    # The setup Job is followed, and remembered once complete.
    setup = index.apply(added(placed(job("shop1-setup-0a1b2c3d", complete=True), ns)))
    assert [note.reason for note in setup.notes] == ["JobCompleted"]
    objects = index.objects("st-one")
    assert objects is not None
    assert objects.completed_jobs == {"shop1-setup-0a1b2c3d"}
