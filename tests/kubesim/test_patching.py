"""Tests for the PATCH formats: JSON merge, JSON patch, strategic merge and server-side apply."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubesim.patching import (
    PatchError,
    apply_patch,
    json_equal,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a", "b"]},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:1",
                            "ports": [{"containerPort": 80, "name": "http"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "sidecar", "image": "side:1"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "x", "operator": "Exists"}],
                }
            },
        },
    }


# --- JSON merge patch ----------------------------------------------------------------------------


def test_merge_patch_merges_maps_and_deletes_null_keys() -> None:
    target = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}
    result = merge_patch(target, {"a": None, "b": {"c": 5, "x": None}, "e": [3], "f": {"g": None, "h": 1}})
    assert result == {"b": {"c": 5, "d": 3}, "e": [3], "f": {"h": 1}}
    assert target == {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}


def test_merge_patch_with_a_non_object_patch_replaces_the_whole_target() -> None:
    assert merge_patch({"a": 1}, [1, 2]) == [1, 2]
    assert merge_patch({"a": 1}, "x") == "x"


def test_merge_patch_turns_a_scalar_target_into_an_object() -> None:
    assert merge_patch("text", {"a": 1}) == {"a": 1}
    assert merge_patch({"a": "text"}, {"a": {"b": 1}}) == {"a": {"b": 1}}


# --- JSON patch ----------------------------------------------------------------------------------


def test_json_patch_add_inserts_into_objects_and_arrays() -> None:
    doc = {"a": {"list": [1, 3]}}
    result = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/list/1", "value": 2},
            {"op": "add", "path": "/a/list/-", "value": 4},
            {"op": "add", "path": "/a/new", "value": {"x": 1}},
            {"op": "add", "path": "/a/list/0", "value": 0},
        ],
    )
    assert result == {"a": {"list": [0, 1, 2, 3, 4], "new": {"x": 1}}}
    assert doc == {"a": {"list": [1, 3]}}


def test_json_patch_add_at_the_root_replaces_the_document() -> None:
    assert json_patch({"a": 1}, [{"op": "add", "path": "", "value": {"b": 2}}]) == {"b": 2}


def test_json_patch_remove_deletes_keys_and_array_items() -> None:
    result = json_patch(
        {"a": 1, "b": [1, 2, 3]}, [{"op": "remove", "path": "/a"}, {"op": "remove", "path": "/b/1"}]
    )
    assert result == {"b": [1, 3]}


def test_json_patch_replace_keeps_key_order_and_needs_an_existing_target() -> None:
    result = json_patch({"a": 1, "b": 2, "c": [5]}, [{"op": "replace", "path": "/a", "value": 9}])
    assert list(result) == ["a", "b", "c"]
    assert result == {"a": 9, "b": 2, "c": [5]}
    assert json_patch({"c": [5, 6]}, [{"op": "replace", "path": "/c/1", "value": 7}]) == {"c": [5, 7]}
    assert json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}]) == [1]
    with pytest.raises(PatchError, match="does not exist"):
        json_patch({"a": 1}, [{"op": "replace", "path": "/missing", "value": 1}])


def test_json_patch_move_relocates_a_value() -> None:
    result = json_patch({"a": {"b": 1}, "c": []}, [{"op": "move", "from": "/a/b", "path": "/c/0"}])
    assert result == {"a": {}, "c": [1]}
    assert json_patch({"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}]) == {"a": 1}


def test_json_patch_move_into_its_own_child_is_rejected() -> None:
    with pytest.raises(PatchError, match="own child"):
        json_patch({"a": {"b": {}}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}])


def test_json_patch_copy_duplicates_a_value_independently() -> None:
    result = json_patch({"a": {"x": [1]}}, [{"op": "copy", "from": "/a", "path": "/b"}])
    assert result == {"a": {"x": [1]}, "b": {"x": [1]}}
    result["b"]["x"].append(2)
    assert result["a"] == {"x": [1]}


def test_json_patch_test_passes_on_equal_json_values() -> None:
    doc = {"n": 1, "f": True, "o": {"k": [1.0, "s"]}}
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/n", "value": 1.0},
        {"op": "test", "path": "/f", "value": True},
        {"op": "test", "path": "/o", "value": {"k": [1, "s"]}},
    ]
    assert json_patch(doc, ops) == doc


def test_json_patch_failed_test_raises_and_true_is_not_one() -> None:
    with pytest.raises(PatchError, match="test operation failed"):
        json_patch({"f": True}, [{"op": "test", "path": "/f", "value": 1}])
    with pytest.raises(PatchError, match="test operation failed"):
        json_patch({"a": "x"}, [{"op": "test", "path": "/a", "value": "y"}])


def test_json_patch_unescapes_tilde_and_slash_in_pointers() -> None:
    doc = {"metadata": {"annotations": {"storeplane.io/id": "1", "a~b": "2"}}}
    result = json_patch(
        doc,
        [
            {"op": "replace", "path": "/metadata/annotations/storeplane.io~1id", "value": "9"},
            {"op": "remove", "path": "/metadata/annotations/a~0b"},
        ],
    )
    assert result == {"metadata": {"annotations": {"storeplane.io/id": "9"}}}


def test_json_patch_does_not_mutate_the_input_even_when_a_later_op_fails() -> None:
    doc = {"a": [1]}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "add", "path": "/a/-", "value": 2}, {"op": "remove", "path": "/zzz"}])
    assert doc == {"a": [1]}


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([{"op": "jump", "path": "/a"}], "unknown JSON patch operation"),
        ([{"path": "/a"}], "missing 'op'"),
        ([{"op": "add", "value": 1}], "missing 'path'"),
        ([{"op": "add", "path": "/a"}], "missing 'value'"),
        ([{"op": "move", "path": "/a"}], "missing 'from'"),
        ([{"op": "remove", "path": "/nope"}], "does not exist"),
        ([{"op": "remove", "path": ""}], "whole document"),
        ([{"op": "add", "path": "a", "value": 1}], "must start with '/'"),
        ([{"op": "add", "path": "/l/5", "value": 1}], "out of bounds"),
        ([{"op": "replace", "path": "/l/2", "value": 1}], "out of bounds"),
        ([{"op": "add", "path": "/l/01", "value": 1}], "invalid array index"),
        ([{"op": "remove", "path": "/l/-"}], "invalid array index"),
        ([{"op": "add", "path": "/x~2", "value": 1}], "invalid '~' escape"),
        ([{"op": "add", "path": "/s/t", "value": 1}], "not an object or array"),
        ([{"op": "add", "path": "/nope/deeper", "value": 1}], "does not exist"),
        ([{"op": "copy", "from": "/nope", "path": "/b"}], "does not exist"),
        (["not-an-object"], "must be an object"),
    ],
)
def test_json_patch_rejects_invalid_operations(ops: list[Any], message: str) -> None:
    with pytest.raises(PatchError, match=message):
        json_patch({"l": [1, 2], "s": "text"}, ops)


def test_json_patch_requires_a_list_of_operations() -> None:
    with pytest.raises(PatchError, match="array of operations"):
        json_patch({}, {"op": "add"})  # type: ignore[arg-type]


def test_patch_error_is_a_value_error() -> None:
    assert issubclass(PatchError, ValueError)


def test_json_equal_distinguishes_json_types() -> None:
    assert json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal(0, False)
    assert not json_equal("1", 1)
    assert json_equal(None, None)
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal([1], [1, 2])


# --- Strategic merge patch -----------------------------------------------------------------------


def test_strategic_merge_merges_containers_by_name() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    containers = result["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert containers[0]["image"] == "app:2"
    assert containers[0]["ports"] == [{"containerPort": 80, "name": "http"}]
    assert containers[1] == {"name": "sidecar", "image": "side:1"}


def test_strategic_merge_puts_new_keyed_elements_before_later_live_ones_like_kubernetes() -> None:
    # Without $setElementOrder the real server places patch items ahead of live-only items that
    # do not precede a patched item in the live list, so a brand-new element comes first.
    patch = {"spec": {"template": {"spec": {"volumes": [{"name": "cache", "emptyDir": {}}]}}}}
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert result["spec"]["template"]["spec"]["volumes"] == [
        {"name": "cache", "emptyDir": {}},
        {"name": "data", "emptyDir": {}},
    ]


def test_strategic_merge_merges_env_and_container_ports_inside_a_container() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                            "ports": [{"containerPort": 443, "name": "https"}],
                        }
                    ]
                }
            }
        }
    }
    app = strategic_merge_patch(_deployment(), patch, kind="Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert app["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "20"},
        {"name": "C", "value": "3"},
    ]
    # "A" stays ahead of the patched "B"; the new port goes ahead of the untouched one, as in Kubernetes.
    assert app["ports"] == [{"containerPort": 443, "name": "https"}, {"containerPort": 80, "name": "http"}]


def test_strategic_merge_merges_volume_mounts_by_mount_path() -> None:
    target = {"spec": {"containers": [{"name": "a", "volumeMounts": [{"mountPath": "/d", "name": "x"}]}]}}
    patch = {"spec": {"containers": [{"name": "a", "volumeMounts": [{"mountPath": "/d", "name": "y"}]}]}}
    result = strategic_merge_patch(target, patch, kind="Pod")
    assert result["spec"]["containers"][0]["volumeMounts"] == [{"mountPath": "/d", "name": "y"}]


def test_strategic_merge_replaces_lists_without_a_merge_key() -> None:
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "y", "operator": "Exists"}]}}}}
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert result["spec"]["template"]["spec"]["tolerations"] == [{"key": "y", "operator": "Exists"}]


def test_strategic_merge_merges_service_ports_by_port() -> None:
    target = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]}}
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    result = strategic_merge_patch(target, patch, kind="Service")
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}]


def test_strategic_merge_replaces_ports_lists_outside_services_and_containers() -> None:
    target = {"spec": {"ports": [{"port": 80}, {"port": 443}]}}
    result = strategic_merge_patch(target, {"spec": {"ports": [{"port": 80, "x": 1}]}}, kind="NetworkPolicy")
    assert result["spec"]["ports"] == [{"port": 80, "x": 1}]


def test_strategic_merge_merges_pod_templates_inside_cronjobs() -> None:
    target = {
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "job", "image": "j:1", "args": ["a"]}]}}
                }
            }
        }
    }
    patch = {
        "spec": {
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": "j:2"}]}}}}
        }
    }
    result = strategic_merge_patch(target, patch, kind="CronJob")
    containers = result["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "job", "image": "j:2", "args": ["a"]}]


def test_strategic_merge_merges_conditions_by_type_and_owner_references_by_uid() -> None:
    target = {
        "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "Scheduled", "status": "True"}]
        },
    }
    patch = {
        "metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    result = strategic_merge_patch(target, patch, kind="Pod")
    assert result["metadata"]["ownerReferences"] == [{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}]
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Scheduled", "status": "True"},
    ]


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("initContainers", "name"),
        ("ephemeralContainers", "name"),
        ("imagePullSecrets", "name"),
        ("hostAliases", "ip"),
        ("topologySpreadConstraints", "topologyKey"),
    ],
)
def test_strategic_merge_merges_pod_spec_lists_by_their_merge_key(field: str, key: str) -> None:
    target = {"spec": {field: [{key: "one", "v": 1}, {key: "two", "v": 2}]}}
    result = strategic_merge_patch(target, {"spec": {field: [{key: "two", "v": 20}]}}, kind="Pod")
    assert result["spec"][field] == [{key: "one", "v": 1}, {key: "two", "v": 20}]


def test_strategic_merge_merges_volume_devices_by_device_path() -> None:
    target = {
        "spec": {"containers": [{"name": "a", "volumeDevices": [{"devicePath": "/dev/x", "name": "v"}]}]}
    }
    patch = {
        "spec": {"containers": [{"name": "a", "volumeDevices": [{"devicePath": "/dev/y", "name": "w"}]}]}
    }
    result = strategic_merge_patch(target, patch, kind="Pod")
    assert result["spec"]["containers"][0]["volumeDevices"] == [
        {"devicePath": "/dev/y", "name": "w"},
        {"devicePath": "/dev/x", "name": "v"},
    ]


def test_strategic_merge_merges_service_account_secrets_by_name() -> None:
    result = strategic_merge_patch(
        {"secrets": [{"name": "a"}]}, {"secrets": [{"name": "b"}]}, kind="ServiceAccount"
    )
    assert result["secrets"] == [{"name": "b"}, {"name": "a"}]


def test_strategic_merge_merges_finalizers_as_a_set() -> None:
    result = strategic_merge_patch(_deployment(), {"metadata": {"finalizers": ["b", "c"]}}, kind="Deployment")
    assert result["metadata"]["finalizers"] == ["a", "b", "c"]


def test_strategic_merge_delete_from_primitive_list_removes_finalizers() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert result["metadata"]["finalizers"] == ["b"]
    assert "$deleteFromPrimitiveList/finalizers" not in result["metadata"]


def test_strategic_merge_delete_from_primitive_list_happens_before_the_merge() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "b"], "finalizers": ["b"]}}
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert result["metadata"]["finalizers"] == ["b"]


def test_strategic_merge_null_deletes_a_key_and_maps_merge() -> None:
    patch = {"metadata": {"labels": {"tier": None, "new": "x"}}, "spec": {"replicas": None}}
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert result["metadata"]["labels"] == {"app": "web", "new": "x"}
    assert "replicas" not in result["spec"]


def test_strategic_merge_patch_delete_directive_removes_a_list_element() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["app"]


def test_strategic_merge_patch_delete_directive_without_merge_key_is_rejected() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}
    with pytest.raises(PatchError, match="lacks merge key"):
        strategic_merge_patch(_deployment(), patch, kind="Deployment")


def test_strategic_merge_patch_replace_directive_replaces_a_keyed_list() -> None:
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o:1"}]}}
        }
    }
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert result["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "o:1"}]


def test_strategic_merge_patch_replace_directive_replaces_a_map() -> None:
    patch = {"metadata": {"labels": {"$patch": "replace", "only": "this", "gone": None}}}
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert result["metadata"]["labels"] == {"only": "this"}


def test_strategic_merge_patch_delete_directive_removes_a_map() -> None:
    result = strategic_merge_patch(
        _deployment(), {"metadata": {"labels": {"$patch": "delete"}}}, kind="Deployment"
    )
    assert "labels" not in result["metadata"]
    assert result["metadata"]["name"] == "web"


def test_strategic_merge_patch_delete_directive_at_the_root_empties_the_object() -> None:
    assert strategic_merge_patch(_deployment(), {"$patch": "delete"}, kind="Deployment") == {}


def test_strategic_merge_patch_merge_directive_in_a_map_is_the_default_merge() -> None:
    patch = {"metadata": {"labels": {"$patch": "merge", "new": "x"}}}
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert result["metadata"]["labels"] == {"app": "web", "tier": "front", "new": "x"}


def test_strategic_merge_patch_merge_directive_in_a_list_is_rejected_like_kubernetes() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}}
    with pytest.raises(PatchError, match="not supported in list"):
        strategic_merge_patch(_deployment(), patch, kind="Deployment")


def test_strategic_merge_rejects_unknown_patch_directives() -> None:
    with pytest.raises(PatchError, match="unknown patch type 'squash' in map"):
        strategic_merge_patch({}, {"metadata": {"$patch": "squash"}}, kind="Pod")
    with pytest.raises(PatchError, match="unknown patch type 'squash' in list"):
        strategic_merge_patch({}, {"spec": {"volumes": [{"name": "a", "$patch": "squash"}]}}, kind="Pod")


def test_strategic_merge_rejects_keyed_elements_without_their_merge_key() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "nameless"}]}}}}
    with pytest.raises(PatchError, match="lacks merge key 'name'"):
        strategic_merge_patch(_deployment(), patch, kind="Deployment")


def test_strategic_merge_retain_keys_clears_fields_not_listed() -> None:
    target = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    result = strategic_merge_patch(target, patch, kind="Deployment")
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_strategic_merge_retain_keys_rejects_a_patch_setting_an_unlisted_field() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}}
    with pytest.raises(PatchError, match="missing from \\$retainKeys"):
        strategic_merge_patch({"spec": {}}, patch, kind="Deployment")


def test_strategic_merge_directive_lists_must_be_lists() -> None:
    with pytest.raises(PatchError, match="must be a list"):
        strategic_merge_patch({}, {"spec": {"$retainKeys": "type"}}, kind="Deployment")


def test_strategic_merge_set_element_order_reorders_the_merged_list() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                    "containers": [{"name": "app", "image": "app:3"}],
                }
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    pod = result["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["sidecar", "app"]
    assert pod["containers"][1]["image"] == "app:3"
    assert not any(k.startswith("$") for k in pod)


def test_strategic_merge_set_element_order_applies_to_lists_the_patch_does_not_touch() -> None:
    patch = {
        "spec": {
            "template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}}
        }
    }
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["sidecar", "app"]


def test_strategic_merge_set_element_order_orders_primitive_lists() -> None:
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "a"], "finalizers": ["c"]}}
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert result["metadata"]["finalizers"] == ["c", "a", "b"]


def test_strategic_merge_keeps_live_only_items_before_later_patch_items() -> None:
    target = {"spec": {"volumes": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}
    result = strategic_merge_patch(
        target, {"spec": {"volumes": [{"name": "b", "x": 1}, {"name": "d"}]}}, kind="Pod"
    )
    # The real server keeps "a" in front of "b" (earlier live), then the patch order, then "c".
    assert [v["name"] for v in result["spec"]["volumes"]] == ["a", "b", "d", "c"]


def test_strategic_merge_strips_directives_from_new_fields() -> None:
    patch = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"$patch": "replace", "a": "1"}},
                "spec": {"affinity": {"$retainKeys": ["nodeAffinity"], "nodeAffinity": {"x": None, "y": 1}}},
            }
        }
    }
    result = strategic_merge_patch({"spec": {}}, patch, kind="Deployment")
    assert result["spec"]["template"] == {
        "metadata": {"annotations": {"a": "1"}},
        "spec": {"affinity": {"nodeAffinity": {"y": 1}}},
    }


def test_strategic_merge_replaced_lists_are_cleaned_of_directives() -> None:
    patch = {
        "spec": {"template": {"spec": {"tolerations": [{"key": "a", "extra": None}, {"$patch": "delete"}]}}}
    }
    result = strategic_merge_patch(_deployment(), patch, kind="Deployment")
    assert result["spec"]["template"]["spec"]["tolerations"] == [{"key": "a"}]


def test_strategic_merge_replaces_a_keyed_list_whose_elements_are_not_maps() -> None:
    result = strategic_merge_patch(
        {"spec": {"volumes": [{"name": "a"}]}}, {"spec": {"volumes": ["x"]}}, kind="Thing"
    )
    assert result["spec"]["volumes"] == ["x"]


def test_strategic_merge_does_not_mutate_its_inputs() -> None:
    target = _deployment()
    patch = {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "labels": {"tier": None}},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}},
    }
    target_copy, patch_copy = copy.deepcopy(target), copy.deepcopy(patch)
    result = strategic_merge_patch(target, patch, kind="Deployment")
    result["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert target == target_copy
    assert patch == patch_copy


def test_strategic_merge_type_change_replaces_the_value() -> None:
    result = strategic_merge_patch({"a": {"b": 1}, "c": [1]}, {"a": "text", "c": {"d": 1}}, kind="ConfigMap")
    assert result == {"a": "text", "c": {"d": 1}}


def test_strategic_merge_requires_objects() -> None:
    with pytest.raises(PatchError, match="JSON objects"):
        strategic_merge_patch([], {}, kind="Pod")  # type: ignore[arg-type]


# --- Server-side apply ---------------------------------------------------------------------------


def test_apply_patch_without_a_live_object_returns_the_applied_object() -> None:
    applied: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
    }
    result = apply_patch(None, applied)
    assert result == applied
    result["data"]["a"] = "changed"
    assert applied["data"]["a"] == "1"


def test_apply_patch_applied_fields_win_and_other_live_fields_stay() -> None:
    live = {
        "kind": "ConfigMap",
        "metadata": {"name": "c", "uid": "u1", "resourceVersion": "5", "labels": {"x": "1"}},
        "data": {"a": "1", "b": "2"},
    }
    applied = {"kind": "ConfigMap", "metadata": {"name": "c", "labels": {"y": "2"}}, "data": {"a": "10"}}
    result = apply_patch(live, applied)
    assert result == {
        "kind": "ConfigMap",
        "metadata": {"name": "c", "uid": "u1", "resourceVersion": "5", "labels": {"x": "1", "y": "2"}},
        "data": {"a": "10", "b": "2"},
    }


def test_apply_patch_merges_keyed_lists() -> None:
    live = _deployment()
    applied = {
        "kind": "Deployment",
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:9"}]}}},
    }
    containers = apply_patch(live, applied)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert containers[0]["image"] == "app:9"
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_apply_patch_prunes_fields_the_manager_no_longer_applies() -> None:
    previous: dict[str, Any] = {
        "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"keep": "1", "drop": "1"}, "annotations": {"a": "1"}},
        "data": {"a": "1", "b": "2"},
    }
    live = copy.deepcopy(previous)
    live["metadata"]["uid"] = "u1"
    live["data"]["other"] = "from-someone-else"
    applied = {"kind": "ConfigMap", "metadata": {"name": "c", "labels": {"keep": "2"}}, "data": {"a": "1"}}
    result = apply_patch(live, applied, previous)
    assert result == {
        "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"keep": "2"}, "uid": "u1"},
        "data": {"a": "1", "other": "from-someone-else"},
    }


def test_apply_patch_prunes_keyed_list_elements_that_disappeared() -> None:
    previous: dict[str, Any] = {
        "kind": "Deployment",
        "metadata": {"finalizers": ["mine", "gone"]},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                        {"name": "old", "image": "old:1"},
                    ]
                }
            }
        },
    }
    live = copy.deepcopy(previous)
    live["metadata"]["finalizers"].append("theirs")
    live["spec"]["template"]["spec"]["containers"].append({"name": "injected", "image": "mesh:1"})
    applied = {
        "kind": "Deployment",
        "metadata": {"finalizers": ["mine"]},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}},
    }
    result = apply_patch(live, applied, previous)
    assert result["metadata"]["finalizers"] == ["mine", "theirs"]
    assert result["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "app:2"},
        {"name": "injected", "image": "mesh:1"},
    ]


def test_apply_patch_null_is_not_applied_and_is_pruned_if_previously_applied() -> None:
    live = {"kind": "ConfigMap", "data": {"a": "1", "b": "2"}}
    previous = {"kind": "ConfigMap", "data": {"a": "1", "b": "2"}}
    result = apply_patch(live, {"kind": "ConfigMap", "data": {"a": "1", "b": None}}, previous)
    assert result["data"] == {"a": "1"}
    assert apply_patch(live, {"kind": "ConfigMap", "data": {"b": None}}) == live


def test_apply_patch_replaces_unkeyed_lists_and_ignores_directive_keys() -> None:
    live = _deployment()
    applied = {
        "kind": "Deployment",
        "spec": {"template": {"spec": {"tolerations": [{"key": "z"}], "$patch": "replace"}}},
    }
    result = apply_patch(live, applied)
    pod = result["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"key": "z"}]
    assert "$patch" not in pod
    assert [c["name"] for c in pod["containers"]] == ["app", "sidecar"]


def test_apply_patch_replaces_keyed_lists_whose_elements_lack_the_key() -> None:
    live = {"kind": "Widget", "spec": {"conditions": [{"type": "A"}]}}
    result = apply_patch(live, {"kind": "Widget", "spec": {"conditions": [{"reason": "no-type"}]}})
    assert result["spec"]["conditions"] == [{"reason": "no-type"}]


def test_apply_patch_does_not_mutate_its_inputs() -> None:
    live, applied = _deployment(), {"kind": "Deployment", "metadata": {"labels": {"n": "1"}}}
    previous = {"kind": "Deployment", "metadata": {"labels": {"tier": "front"}}}
    copies = copy.deepcopy((live, applied, previous))
    apply_patch(live, applied, previous)
    assert (live, applied, previous) == copies


def test_apply_patch_requires_an_object() -> None:
    with pytest.raises(PatchError, match="JSON object"):
        apply_patch({}, [])  # type: ignore[arg-type]
