"""With TLS on, a store is Ready only once its Certificate is issued; with TLS off the step does not exist."""

from __future__ import annotations

import dataclasses
from typing import Any

from storeplane.engines.catalog import load_catalog
from storeplane.events.models import EventType
from storeplane.observing.index import StoreIndex
from storeplane.observing.messages import object_notes, signature
from storeplane.observing.readiness import NamespaceObjects, assess
from storeplane.stores.models import StoreStatus
from storeplane.stores.progress import store_progress
from storeplane.stores.records import StoreRecord
from tests.app.observing.test_index import added, namespace, placed, ready_store_objects, store
from tests.app.observing.test_readiness import objects
from tests.helpers import REPO

CATALOG = load_catalog(REPO / "charts" / "engines.yaml")
ENGINE = CATALOG.engines["woocommerce"]
TLS = frozenset({"tls"})
PENDING = "Issuing certificate as Secret does not exist"
Obj = dict[str, Any]


def certificate(*, status: str | None, reason: str = "DoesNotExist", message: str = PENDING) -> Obj:
    conditions = (
        [] if status is None else [{"type": "Ready", "status": status, "reason": reason, "message": message}]
    )
    return {
        "kind": "Certificate",
        "metadata": {"name": "shop1-tls"},
        "status": {"conditions": conditions, "notAfter": "2027-03-04T18:00:00Z"} if conditions else {},
    }


def with_certificate(cert: Obj | None) -> NamespaceObjects:
    base = objects()
    by_kind = dict(base.by_kind)
    if cert is not None:
        by_kind["Certificate"] = {"shop1-tls": cert}
    return dataclasses.replace(base, by_kind=by_kind)


def test_with_tls_off_the_certificate_is_neither_waited_for_nor_a_step() -> None:
    result = assess(engine=ENGINE, release="shop1", objects=with_certificate(None))
    assert result.ready
    assert "certificate" not in result.steps_done


def test_with_tls_on_a_missing_certificate_holds_the_store_back() -> None:
    result = assess(engine=ENGINE, release="shop1", objects=with_certificate(None), features=TLS)
    assert not result.ready
    assert result.waiting_for == ("Certificate shop1-tls not found",)
    assert "certificate" not in result.steps_done


def test_with_tls_on_a_pending_certificate_is_named_with_its_ready_message() -> None:
    pending = with_certificate(certificate(status="False"))
    result = assess(engine=ENGINE, release="shop1", objects=pending, features=TLS)
    assert not result.ready
    assert result.waiting_for == (f"Certificate shop1-tls not issued: {PENDING}",)
    # Not drift: a Certificate being renewed is briefly not Ready while its Secret still serves.
    assert result.missing == ()
    assert result.unready_workloads == ()


def test_a_certificate_without_conditions_yet_says_so() -> None:
    result = assess(
        engine=ENGINE, release="shop1", objects=with_certificate(certificate(status=None)), features=TLS
    )
    assert result.waiting_for == ("Certificate shop1-tls not issued: no Ready condition yet",)


def test_with_tls_on_an_issued_certificate_completes_the_store() -> None:
    issued = certificate(
        status="True", reason="Ready", message="Certificate is up to date and has not expired"
    )
    result = assess(engine=ENGINE, release="shop1", objects=with_certificate(issued), features=TLS)
    assert result.ready
    assert {step.id for step in ENGINE.steps} == result.steps_done


def test_the_certificate_is_issued_once_with_one_note() -> None:
    issued = certificate(
        status="True", reason="Ready", message="Certificate is up to date and has not expired"
    )
    created = certificate(status=None)
    assert object_notes("Certificate", created, previous=None, deleted=False) == []
    [note] = object_notes("Certificate", issued, previous=signature("Certificate", created), deleted=False)
    assert (note.type, note.reason) == (EventType.NORMAL, "CertificateIssued")
    assert note.message == "Certificate shop1-tls issued, valid until 2027-03-04T18:00:00Z"
    assert object_notes("Certificate", issued, previous=signature("Certificate", issued), deleted=False) == []


def test_a_certificate_not_ready_for_a_reason_is_a_warning_but_first_issuance_is_not() -> None:
    pending = certificate(status="False")
    [issuing] = object_notes("Certificate", pending, previous="created", deleted=False)
    assert (issuing.type, issuing.reason) == (EventType.NORMAL, "CertificateIssuing")
    assert issuing.message == f"Certificate shop1-tls not issued: {PENDING}"
    failed = certificate(
        status="False", reason="Failed", message="The certificate request has failed to complete"
    )
    [warning] = object_notes("Certificate", failed, previous=signature("Certificate", pending), deleted=False)
    assert (warning.type, warning.reason) == (EventType.WARNING, "CertificateNotReady")
    assert (
        warning.message == "Certificate shop1-tls not issued: The certificate request has failed to complete"
    )
    # An issued Certificate whose Secret went missing again is worth a Warning even with the routine reason.
    [again] = object_notes("Certificate", pending, previous="issued", deleted=False)
    assert again.type == EventType.WARNING


class _Tracker:
    def __init__(self, features: frozenset[str], done: frozenset[str] | None) -> None:
        self.features = features
        self._done = done

    def steps_done(self, store: StoreRecord) -> frozenset[str] | None:
        return self._done

    def resources(self, store_id: str) -> list[Any]:
        return []


def test_progress_lists_the_certificate_step_only_with_tls() -> None:
    done = frozenset({"namespace", "release"})
    without = store_progress(store=store(), catalog=CATALOG, tracker=_Tracker(frozenset(), done))
    assert (without.done, without.total) == (2, 6)
    assert "certificate" not in [step.id for step in without.steps]
    with_tls = store_progress(store=store(), catalog=CATALOG, tracker=_Tracker(TLS, done))
    assert (with_tls.done, with_tls.total) == (2, 7)
    assert with_tls.steps[-1].title == "Certificate issued"
    ready = store_progress(
        store=store(status=StoreStatus.READY), catalog=CATALOG, tracker=_Tracker(TLS, None)
    )
    assert (ready.done, ready.total) == (7, 7)


def test_the_index_with_tls_waits_for_the_certificate_watch_and_notes_its_issue() -> None:
    index = StoreIndex(CATALOG, features=TLS)
    index.learn(store())
    index.apply(added(namespace("store-shop1", "st-one")))
    ready_store_objects(index)
    assessment = index.assess("st-one")
    assert assessment is not None
    assert assessment.waiting_for == ("Certificate shop1-tls not found",)
    index.apply(added(placed(certificate(status="False"), "store-shop1")))
    assessment = index.assess("st-one")
    assert assessment is not None
    assert assessment.waiting_for == (f"Certificate shop1-tls not issued: {PENDING}",)
    issued = certificate(
        status="True", reason="Ready", message="Certificate is up to date and has not expired"
    )
    seen = index.apply(added(placed(issued, "store-shop1"), type_="MODIFIED"))
    assert [note.reason for note in seen.notes] == ["CertificateIssued"]
    assessment = index.assess("st-one")
    assert assessment is not None
    assert assessment.ready
    assert index.steps_done("st-one") == frozenset(step.id for step in ENGINE.steps)
