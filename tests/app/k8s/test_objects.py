"""The cache diff: what a relist or a watch event changes, as events for consumers."""

from __future__ import annotations

from storeplane.k8s.objects import Obj, cache_changes, diff_listing, object_key


def _obj(name: str, version: str, uid: str = "u1", namespace: str = "ns") -> Obj:
    meta = {"name": name, "namespace": namespace, "uid": uid, "resourceVersion": version}
    return {"metadata": meta}


def test_diff_listing_reports_deletions_first_then_changes_in_version_order() -> None:
    cache = {
        ("ns", "same"): _obj("same", "5"),
        ("ns", "changed"): _obj("changed", "6"),
        ("ns", "gone"): _obj("gone", "7"),
        ("ns", "replaced"): _obj("replaced", "8", uid="old"),
    }
    listed = [
        _obj("same", "5"),
        _obj("changed", "100"),
        _obj("new", "12"),
        _obj("replaced", "9", uid="new"),
    ]
    changes = [
        (kind, obj["metadata"]["name"], obj["metadata"]["uid"]) for kind, obj in diff_listing(cache, listed)
    ]
    assert changes == [
        ("DELETED", "gone", "u1"),
        ("DELETED", "replaced", "old"),
        ("ADDED", "replaced", "new"),
        ("ADDED", "new", "u1"),
        ("MODIFIED", "changed", "u1"),
    ]


def test_cache_changes_drop_repeats_and_deletions_of_unknown_objects() -> None:
    assert cache_changes(_obj("a", "3"), _obj("a", "3"), deleted=False) == []
    assert cache_changes(None, _obj("a", "3"), deleted=True) == []
    assert cache_changes(_obj("a", "3", uid="old"), _obj("a", "4", uid="new"), deleted=True) == []
    assert [kind for kind, _ in cache_changes(None, _obj("a", "3"), deleted=False)] == ["ADDED"]
    assert [kind for kind, _ in cache_changes(_obj("a", "3"), _obj("a", "4"), deleted=True)] == ["DELETED"]


def test_cache_changes_replace_an_object_recreated_under_the_same_name() -> None:
    old, new = _obj("a", "3", uid="old"), _obj("a", "9", uid="new")
    assert cache_changes(old, new, deleted=False) == [("DELETED", old), ("ADDED", new)]
    assert cache_changes(_obj("a", "3"), _obj("a", "4"), deleted=False) == [("MODIFIED", _obj("a", "4"))]


def test_a_cluster_scoped_object_is_keyed_by_an_empty_namespace() -> None:
    assert object_key({"metadata": {"name": "store-a"}}) == ("", "store-a")
    assert object_key(_obj("web", "1", namespace="store-a")) == ("store-a", "web")
