"""Tests for decoding and encoding Kubernetes protobuf bodies of Secrets and ConfigMaps."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from kubesim.protobuf import MAGIC, ProtobufError, decode_protobuf_object, encode_protobuf_object

# A v1 Secret written out byte by byte from the wire format, independent of the module's encoder.
# Each line is one field: tag byte ((number << 3) | wire type), length or value, payload.
_HAND_META = bytes.fromhex(
    "0a 01 73"  # 1 name "s"
    "12 00"  # 2 generateName "" (Go writes empty strings too)
    "1a 02 6e 73"  # 3 namespace "ns"
    "22 00"  # 4 selfLink ""
    "2a 03 75 69 64"  # 5 uid "uid"
    "32 01 39"  # 6 resourceVersion "9"
    "38 07"  # 7 generation 7
    "42 08 08 80 81 c8 ac 06 10 05"  # 8 creationTimestamp {seconds 1704067200, nanos 5}
    "4a 00"  # 9 deletionTimestamp, empty message: the zero time
    "5a 06 0a 01 61 12 01 62"  # 11 labels entry {key "a", value "b"}
    "62 08 0a 01 78 12 03 31 2c 32"  # 12 annotations entry {key "x", value "1,2"}
    "6a 0f 0a 01 44 1a 01 6e 22 01 75 2a 02 76 31 30 01"  # 13 ownerReference {D, n, u, v1, controller}
    "72 01 66"  # 14 finalizers "f"
    "7a 01 78"  # 15 unknown to us: must be skipped
)
_HAND_SECRET = bytes.fromhex(
    "0a 4a"  # 1 metadata, 74 bytes follow
    + _HAND_META.hex()
    + "12 07 0a 01 6b 12 02 00 ff"  # 2 data entry {key "k", value 0x00 0xff}
    "1a 06 4f 70 61 71 75 65"  # 3 type "Opaque"
    "28 01"  # 5 immutable true
)
_HAND_BODY = bytes.fromhex(
    "6b 38 73 00"  # magic "k8s\0"
    "0a 0c 0a 02 76 31 12 06 53 65 63 72 65 74"  # 1 typeMeta {apiVersion "v1", kind "Secret"}
    "12 5f" + _HAND_SECRET.hex() + "1a 00"  # 2 raw, 95 bytes follow  # 3 contentEncoding ""
    "22 00"  # 4 contentType ""
)


# Bodies captured from the real helm v4.1.4 binary (client-go v1.35) storing and deleting a release
# of a throwaway chart "demo" as release "rel": the Secret of `helm install` and the DeleteOptions
# of `helm uninstall`.
_HELM_RELEASE_SECRET = bytes.fromhex(
    "6b3873000a0c0a027631120653656372657412bf040a9d010a1973682e68656c6d2e72656c656173652e76312e72656c"
    "2e763112001a0022002a003200380042005a170a09637265617465644174120a313739353839313033335a0b0a046e61"
    "6d65120372656c5a0d0a056f776e6572120468656c6d5a190a06737461747573120f70656e64696e672d696e7374616c"
    "6c5a140a0f73746f7265706c616e652e696f2f781201795a0c0a0776657273696f6e1201311288030a0772656c656173"
    "6512fc024834734941414141414141432f3553517a3237434d417a47587758356e465a706f46446c44585a484f334242"
    "56754f4f614d34664e53345451727a37314d4a41303036546649677478392f332b3634514d52425947496c4267593944"
    "416e7546775939466a6f3479707773357347433032565a4e55356c75333352327662504e757437734e716264746c3133"
    "4141574d2f2f7a677150536a7a2b4a54424174763059744858766c59424a6c585533513066754546464252426d517059"
    "794253646a782f565977647543766f546a6a49624469546f5548422b503467636851514b7a6a5357753461756d317144"
    "41737a2b2f546b386d2f6b4f702f3454624a7959465169467a43685566675a6e354f6e566c6635454158393349546e78"
    "69366a5775716d57326d74746c35706842382b7643362f747679475a656d3161335a7274726a764d7870377547375677"
    "6c597a3948573741695757687958773542704a546d6e4d7642654832485141412f2f384553684a663167454141413d3d"
    "1a1268656c6d2e73682f72656c656173652e76311a002200"
)
_HELM_DELETE_OPTIONS = bytes.fromhex("6b3873000a130a027631120d44656c6574654f7074696f6e7312001a002200")
# The same capture from helm v4.3.1 (client-go v1.37): `helm install rel demo -n default --labels
# storeplane.io/x=y` with a Chart.yaml-only chart, its requests read through a logging proxy in front of
# kubesim. The wire layout is unchanged, only the timestamps differ; its `helm uninstall` DeleteOptions are
# byte for byte the ones above.
_HELM_4_3_1_RELEASE_SECRET = bytes.fromhex(
    "6b3873000a0c0a027631120653656372657412b7040a9d010a1973682e68656c6d2e72656c656173652e76312e72656c"
    "2e763112001a0022002a003200380042005a170a09637265617465644174120a313739363430363134345a0b0a046e61"
    "6d65120372656c5a0d0a056f776e6572120468656c6d5a190a06737461747573120f70656e64696e672d696e7374616c"
    "6c5a140a0f73746f7265706c616e652e696f2f781201795a0c0a0776657273696f6e1201311280030a0772656c656173"
    "6512f4024834734941414141414141432f3553515432767a4d417a477630725232516d324778706566345033586e626f"
    "705968595763336b5038524b52796e3937694e70743237734e4e444245724b65352f64634957456b6344415267344b51"
    "78677a75436d4f59716877394663345838754441617274726a473130747a65393636797a5864755a58572f4d56763837"
    "67414c47503337775649637046416b356759502f4b556841336f5255425a6b33632f493076654d46464652426d537334"
    "4b4a5238534b2f4e59776475436f5954547249596a69546f55584235503467387851774b7a6a545675345a7554617442"
    "415a6277386a5538322b554f352b454e584a715a46516a46776968555077646e35506e5a31654645455839324d58734a"
    "71366a57326a52723762563261793277592b446e68656632373542737537576d3737585635674333622b364e57726c71"
    "7765454f4e2b4c4d737449557668776a79536b767564654b63507359414a317349325057415141411a1268656c6d2e73"
    "682f72656c656173652e76311a002200"
)
_HELM_RELEASE_SECRETS = pytest.mark.parametrize(
    ("body", "created_at"),
    [(_HELM_RELEASE_SECRET, "1795891033"), (_HELM_4_3_1_RELEASE_SECRET, "1796406144")],
    ids=["helm-4.1.4", "helm-4.3.1"],
)


def _unknown(kind: str, raw: bytes, api_version: str = "v1", encoding: str = "") -> bytes:
    """Wrap raw bytes in a runtime.Unknown by hand (all lengths here stay below 128)."""
    type_meta = (
        b"\x0a"
        + bytes([len(api_version)])
        + api_version.encode()
        + b"\x12"
        + bytes([len(kind)])
        + kind.encode()
    )
    body = b"\x0a" + bytes([len(type_meta)]) + type_meta + b"\x12" + bytes([len(raw)]) + raw
    body += b"\x1a" + bytes([len(encoding)]) + encoding.encode()
    return MAGIC + body


def test_hand_built_lengths_are_consistent() -> None:
    assert len(_HAND_META) == 0x4A
    assert len(_HAND_SECRET) == 0x5F


def test_decodes_a_hand_built_secret_as_kubectl_shows_it_in_json() -> None:
    assert decode_protobuf_object(_HAND_BODY) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "namespace": "ns",
            "uid": "uid",
            "resourceVersion": "9",
            "generation": 7,
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"a": "b"},
            "annotations": {"x": "1,2"},
            "ownerReferences": [
                {"kind": "D", "name": "n", "uid": "u", "apiVersion": "v1", "controller": True}
            ],
            "finalizers": ["f"],
        },
        "data": {"k": "AP8="},
        "type": "Opaque",
        "immutable": True,
    }


@_HELM_RELEASE_SECRETS
def test_decodes_the_release_secret_real_helm_sends(body: bytes, created_at: str) -> None:
    secret = decode_protobuf_object(body)
    assert secret["apiVersion"] == "v1"
    assert secret["kind"] == "Secret"
    assert secret["type"] == "helm.sh/release.v1"
    assert secret["metadata"] == {
        "name": "sh.helm.release.v1.rel.v1",
        "labels": {
            "createdAt": created_at,
            "name": "rel",
            "owner": "helm",
            "status": "pending-install",
            "storeplane.io/x": "y",
            "version": "1",
        },
    }
    # Helm stores base64(gzip(release JSON)) as the secret's bytes; JSON shows those bytes base64 again.
    release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))
    assert (release["name"], release["version"], release["info"]["status"]) == ("rel", 1, "pending-install")
    assert release["chart"]["metadata"]["name"] == "demo"


@_HELM_RELEASE_SECRETS
def test_encoder_reproduces_the_real_helm_bytes_exactly(body: bytes, created_at: str) -> None:
    assert encode_protobuf_object(decode_protobuf_object(body)) == body


def test_decodes_the_delete_options_real_helm_sends() -> None:
    assert decode_protobuf_object(_HELM_DELETE_OPTIONS) == {"apiVersion": "v1", "kind": "DeleteOptions"}


def test_decodes_a_hand_built_config_map_with_binary_data() -> None:
    raw = bytes.fromhex(
        "0a 03 0a 01 63"  # 1 metadata {name "c"}
        "12 0a 0a 03 6b 65 79 12 03 76 61 6c"  # 2 data entry {"key": "val"}
        "1a 07 0a 03 62 69 6e 12 00"  # 3 binaryData entry {"bin": empty bytes}
        "1a 06 0a 01 62 12 01 01"  # 3 binaryData entry {"b": 0x01}
        "20 00"  # 4 immutable false, explicitly set
    )
    assert decode_protobuf_object(_unknown("ConfigMap", raw)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"key": "val"},
        "binaryData": {"bin": "", "b": "AQ=="},
        "immutable": False,
    }


def test_decodes_negative_int64_and_explicit_epoch_time() -> None:
    meta = bytes.fromhex(
        "0a 01 63"  # name "c"
        "42 02 10 00"  # creationTimestamp with only nanos: a set time at the epoch
        "50 ff ff ff ff ff ff ff ff ff 01"  # 10 deletionGracePeriodSeconds -1 (ten-byte varint)
        "38 00"  # generation 0: omitted like JSON's omitempty
    )
    raw = b"\x0a" + bytes([len(meta)]) + meta
    assert decode_protobuf_object(_unknown("ConfigMap", raw))["metadata"] == {
        "name": "c",
        "creationTimestamp": "1970-01-01T00:00:00Z",
        "deletionGracePeriodSeconds": -1,
    }


def test_decodes_managed_fields_and_owner_reference_false_flags() -> None:
    fields_json = b'{"f:data":{}}'
    entry = (
        bytes.fromhex("0a 04 68 65 6c 6d")  # 1 manager "helm"
        + bytes.fromhex("12 06 55 70 64 61 74 65")  # 2 operation "Update"
        + bytes.fromhex("1a 02 76 31")  # 3 apiVersion "v1"
        + bytes.fromhex("22 06 08 80 81 c8 ac 06")  # 4 time
        + bytes.fromhex("32 08 46 69 65 6c 64 73 56 31")  # 6 fieldsType "FieldsV1"
        + b"\x3a"
        + bytes([len(fields_json) + 2, 0x0A, len(fields_json)])
        + fields_json  # 7 fieldsV1 {1 Raw}
    )
    owner = bytes.fromhex("0a 01 44 30 00 38 00")  # kind "D", controller false, blockOwnerDeletion false
    meta = b"\x8a\x01" + bytes([len(entry)]) + entry + b"\x6a" + bytes([len(owner)]) + owner
    raw = b"\x0a" + bytes([len(meta)]) + meta
    assert decode_protobuf_object(_unknown("Secret", raw))["metadata"] == {
        "managedFields": [
            {
                "manager": "helm",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2024-01-01T00:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {}},
            }
        ],
        "ownerReferences": [{"kind": "D", "controller": False, "blockOwnerDeletion": False}],
    }


def test_decodes_an_object_without_metadata_to_empty_metadata() -> None:
    assert decode_protobuf_object(_unknown("Secret", b"")) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {},
    }


def test_skips_unknown_fields_of_every_wire_type() -> None:
    raw = bytes.fromhex(
        "78 05"  # 15 varint
        "79 01 02 03 04 05 06 07 08"  # 15 fixed64
        "7d 01 02 03 04"  # 15 fixed32
        "0a 03 0a 01 63"  # 1 metadata {name "c"}
    )
    assert decode_protobuf_object(_unknown("ConfigMap", raw))["metadata"] == {"name": "c"}


def test_secret_string_data_decodes_as_plain_text() -> None:
    raw = bytes.fromhex("22 08 0a 01 6b 12 03 c3 a9 21")  # 4 stringData {"k": "é!"}
    assert decode_protobuf_object(_unknown("Secret", raw))["stringData"] == {"k": "é!"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "magic number"),
        (b"{}", "magic number"),
        (b"k8s\x01" + _HAND_BODY[4:], "magic number"),
        (_HAND_BODY[:-10], "truncated"),
        (MAGIC + b"\x0a", "truncated"),
        (MAGIC + b"\x08\x80", "truncated"),
        (MAGIC + b"\x79\x01\x02", "truncated"),
        (MAGIC + b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
        (MAGIC + b"\x0b", "wire type 3"),
        (MAGIC + b"\x00\x00", "field number 0"),
        (MAGIC + b"\x0a\x02\x08\x01", "expected a length-delimited field"),
        (_unknown("Secret", b"\x2a\x01\x00"), "expected a varint field"),  # immutable sent as bytes
        (_unknown("Secret", b"\x0a\x03\x42\x01\x10", "v1"), "truncated"),
    ],
)
def test_malformed_bodies_raise_protobuf_errors(body: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=message):
        decode_protobuf_object(body)


def test_unsupported_kinds_are_named_in_the_error() -> None:
    with pytest.raises(ProtobufError, match="not v1 Pod"):
        decode_protobuf_object(_unknown("Pod", b""))
    with pytest.raises(ProtobufError, match="not apps/v1 Deployment"):
        decode_protobuf_object(_unknown("Deployment", b"", api_version="apps/v1"))
    with pytest.raises(ProtobufError, match="not <none> <no kind>"):
        decode_protobuf_object(MAGIC)


def test_decodes_delete_options_sent_with_a_delete_request() -> None:
    raw = bytes.fromhex(
        "08 00"  # 1 gracePeriodSeconds 0 (a pointer: kept although zero)
        "12 0a 0a 02 75 31 12 04 31 32 33 34"  # 2 preconditions {uid "u1", resourceVersion "1234"}
        "18 00"  # 3 orphanDependents false
        "22 0a 42 61 63 6b 67 72 6f 75 6e 64"  # 4 propagationPolicy "Background"
        "2a 03 41 6c 6c"  # 5 dryRun "All"
    )
    assert decode_protobuf_object(_unknown("DeleteOptions", raw)) == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "u1", "resourceVersion": "1234"},
        "orphanDependents": False,
        "propagationPolicy": "Background",
        "dryRun": ["All"],
    }
    empty = decode_protobuf_object(_unknown("DeleteOptions", b"", api_version="meta.k8s.io/v1"))
    assert empty == {"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions"}


def test_compressed_content_encoding_is_rejected() -> None:
    with pytest.raises(ProtobufError, match="content encoding 'gzip'"):
        decode_protobuf_object(_unknown("Secret", b"", encoding="gzip"))


def test_invalid_managed_fields_json_is_rejected() -> None:
    entry = b"\x3a\x04\x0a\x02{x"
    meta = b"\x8a\x01" + bytes([len(entry)]) + entry
    with pytest.raises(ProtobufError, match="not valid JSON"):
        decode_protobuf_object(_unknown("Secret", b"\x0a" + bytes([len(meta)]) + meta))


def test_protobuf_error_is_a_value_error() -> None:
    assert issubclass(ProtobufError, ValueError)


# --- Encoding ------------------------------------------------------------------------------------


def _secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "sh.helm.release.v1.store.v1",
            "namespace": "store-1",
            "uid": "0b7c",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2024-05-06T07:08:09Z",
            "deletionTimestamp": "2024-05-06T08:00:00Z",
            "deletionGracePeriodSeconds": 0,
            "labels": {"owner": "helm", "name": "store", "status": "deployed"},
            "annotations": {"note": "x=y,z"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": "d1",
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
            "finalizers": ["a", "b"],
        },
        "data": {"release": base64.b64encode(b"\x1f\x8b binary \x00 payload").decode()},
        "type": "helm.sh/release.v1",
        "immutable": False,
    }


def test_secret_round_trips_through_the_encoder() -> None:
    assert decode_protobuf_object(encode_protobuf_object(_secret())) == _secret()


def test_config_map_round_trips_through_the_encoder() -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "n", "labels": {"a": "1"}},
        "data": {"config.yaml": "a: b\nünï: cödé\n"},
        "binaryData": {"blob": base64.b64encode(bytes(range(256))).decode()},
        "immutable": True,
    }
    assert decode_protobuf_object(encode_protobuf_object(config_map)) == config_map


def test_encoder_output_starts_like_the_real_wire_format() -> None:
    encoded = encode_protobuf_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
    # magic, then typeMeta {apiVersion "v1", kind "Secret"} exactly as in the hand-built body.
    assert encoded.startswith(_HAND_BODY[:18])
    assert encoded.endswith(b"\x1a\x00\x22\x00")


def test_encoder_writes_map_entries_in_sorted_key_order() -> None:
    encoded = encode_protobuf_object(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "data": {"b": "2", "a": "1"}}
    )
    assert encoded.index(b"\x0a\x01a\x12\x011") < encoded.index(b"\x0a\x01b\x12\x012")


def test_re_encoding_the_hand_built_secret_keeps_its_meaning() -> None:
    decoded = decode_protobuf_object(_HAND_BODY)
    assert decode_protobuf_object(encode_protobuf_object(decoded)) == decoded


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"apiVersion": "v1", "kind": "Pod"}, "not v1 Pod"),
        ({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}}, "not valid base64"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "binaryData": {"k": "@@"}}, "not valid base64"),
        (
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"creationTimestamp": "yesterday"}},
            "not RFC 3339",
        ),
    ],
)
def test_encoder_rejects_what_it_cannot_represent(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtobufError, match=message):
        encode_protobuf_object(obj)
