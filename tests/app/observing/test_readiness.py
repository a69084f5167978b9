"""Readiness, progress and notes computed from watched objects: pure functions, no cluster."""

from __future__ import annotations

import dataclasses
from typing import Any

from storeplane.engines.catalog import load_catalog
from storeplane.events.models import EventType
from storeplane.observing.messages import kubernetes_event_note, object_notes, should_relay_count
from storeplane.observing.readiness import NamespaceObjects, assess
from tests.helpers import REPO

ENGINE = load_catalog(REPO / "charts" / "engines.yaml").engines["woocommerce"]
Obj = dict[str, Any]


def workload(kind: str, name: str, ready: int) -> Obj:
    return {
        "kind": kind,
        "metadata": {"name": name, "generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": 1,
        },
    }


def pod(name: str, *, ready: bool) -> Obj:
    condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "message": "containers with unready status: [mariadb]",
    }
    return {
        "kind": "Pod",
        "metadata": {"name": name},
        "status": {"phase": "Running", "conditions": [condition]},
    }


def job(name: str, *, complete: bool) -> Obj:
    conditions = [{"type": "Complete", "status": "True"}] if complete else []
    return {
        "kind": "Job",
        "metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"conditions": conditions},
    }


def release_secret(status: str) -> Obj:
    labels = {"owner": "helm", "name": "shop1", "status": status, "version": "1"}
    return {"kind": "Secret", "metadata": {"name": "sh.helm.release.v1.shop1.v1", "labels": labels}}


def objects(
    *, db_ready: bool = True, warnings: dict[str, str] | None = None, job_done: bool = True
) -> NamespaceObjects:
    return NamespaceObjects(
        namespace={"metadata": {"name": "store-shop1"}},
        by_kind={
            "StatefulSet": {"shop1-mariadb": workload("StatefulSet", "shop1-mariadb", 1 if db_ready else 0)},
            "Deployment": {"shop1-wordpress": workload("Deployment", "shop1-wordpress", 1)},
            "Pod": {"shop1-mariadb-0": pod("shop1-mariadb-0", ready=db_ready)},
            "Job": {"shop1-setup-0a1b2c3d": job("shop1-setup-0a1b2c3d", complete=job_done)},
            "Ingress": {"shop1": {"kind": "Ingress", "metadata": {"name": "shop1"}}},
            "Secret": {"r": release_secret("deployed")},
        },
        warnings=warnings or {},
    )


def test_a_store_is_ready_when_its_workloads_are_ready_and_its_setup_job_completed() -> None:
    result = assess(engine=ENGINE, release="shop1", objects=objects())
    assert result.ready
    assert result.waiting_for == ()
    assert result.missing == ()
    assert result.steps_done == {step.id for step in ENGINE.steps_for(frozenset())}  # TLS off


def test_a_not_ready_workload_is_reported_by_its_pod_and_newest_warning() -> None:
    warning = {"shop1-mariadb-0": "Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503"}
    result = assess(engine=ENGINE, release="shop1", objects=objects(db_ready=False, warnings=warning))
    assert not result.ready
    assert result.waiting_for == (
        "Pod shop1-mariadb-0 not ready: Unhealthy: Readiness probe failed: "
        "HTTP probe failed with statuscode: 503",
    )
    assert "database" not in result.steps_done


def test_an_incomplete_setup_job_is_named() -> None:
    result = assess(engine=ENGINE, release="shop1", objects=objects(job_done=False))
    assert result.waiting_for == ("Job shop1-setup-0a1b2c3d not complete",)


def test_a_setup_job_recorded_complete_still_counts_once_its_ttl_deleted_it() -> None:
    present = objects()
    gone = dataclasses.replace(
        present,
        by_kind={kind: found for kind, found in present.by_kind.items() if kind != "Job"},
        completed_jobs=frozenset({"shop1-setup-0a1b2c3d"}),
    )
    result = assess(engine=ENGINE, release="shop1", objects=gone)
    assert result.ready
    assert result.steps_done == {step.id for step in ENGINE.steps_for(frozenset())}  # TLS off
    # Without the record, the same objects are "not created".
    unknown = assess(
        engine=ENGINE, release="shop1", objects=dataclasses.replace(gone, completed_jobs=frozenset())
    )
    assert len(unknown.waiting_for) == 1
    assert unknown.waiting_for[0].startswith("setup Job ^shop1")
    assert unknown.waiting_for[0].endswith(" not created")
    assert "setup" not in unknown.steps_done


def test_an_upgrades_new_setup_job_is_not_done_before_it_runs_whatever_was_recorded() -> None:
    upgraded = dataclasses.replace(
        objects(),
        by_kind={
            **objects().by_kind,
            "Job": {"shop1-setup-9f8e7d6c": job("shop1-setup-9f8e7d6c", complete=False)},
        },
        completed_jobs=frozenset({"shop1-setup-0a1b2c3d"}),
    )
    result = assess(engine=ENGINE, release="shop1", objects=upgraded)
    assert result.waiting_for == ("Job shop1-setup-9f8e7d6c not complete",)
    assert "setup" not in result.steps_done
    # Another store's Job name (another release) never counts for this one.
    foreign = dataclasses.replace(
        upgraded,
        by_kind={kind: found for kind, found in objects().by_kind.items() if kind != "Job"},
        completed_jobs=frozenset({"shop10-setup-0a1b2c3d"}),
    )
    assert "setup" not in assess(engine=ENGINE, release="shop1", objects=foreign).steps_done


def test_a_missing_namespace_is_drift() -> None:
    empty = NamespaceObjects(namespace=None, by_kind={})
    result = assess(engine=ENGINE, release="shop1", objects=empty)
    assert result.missing == ("Namespace not found",)
    assert not result.ready


def test_an_unchanged_object_produces_no_second_note() -> None:
    db = workload("StatefulSet", "shop1-mariadb", 1)
    first = object_notes("StatefulSet", db, previous=None, deleted=False)
    assert [note.message for note in first] == ["StatefulSet shop1-mariadb ready (1/1)"]
    assert object_notes("StatefulSet", db, previous="ready", deleted=False) == []


def test_kubelet_events_become_sentences_and_repeats_are_thinned() -> None:
    pulled = {
        "type": "Normal",
        "reason": "Pulled",
        "message": 'Successfully pulled image "mariadb:11.8.3" in 1s',
        "involvedObject": {"kind": "Pod", "name": "shop1-mariadb-0", "fieldPath": "spec.containers{mariadb}"},
    }
    note = kubernetes_event_note(pulled)
    assert note is not None
    assert note.message == "Pod shop1-mariadb-0 pulled image mariadb:11.8.3"
    backoff = {**pulled, "type": "Warning", "reason": "BackOff", "message": "Back-off restarting", "count": 4}
    warning = kubernetes_event_note(backoff)
    assert warning is not None
    assert warning.type == EventType.WARNING
    assert "(seen 4 times)" in warning.message
    assert [n for n in range(1, 20) if should_relay_count(n, n - 1)] == [1, 2, 4, 8, 16]
