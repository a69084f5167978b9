"""Kubernetes protobuf request bodies: v1 Secret, ConfigMap, Namespace and DeleteOptions.

A body is the magic `k8s\\x00` followed by a runtime.Unknown message whose `raw` field holds the
object itself. Field numbers follow the generated.proto files of k8s.io/api core/v1,
k8s.io/apimachinery pkg/apis/meta/v1 and pkg/runtime.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final

MAGIC: Final = b"k8s\x00"
CONTENT_TYPE: Final = "application/vnd.kubernetes.protobuf"

_VARINT: Final = 0
_FIXED64: Final = 1
_LENGTH: Final = 2
_FIXED32: Final = 5


class ProtobufError(ValueError):
    """A protobuf body that cannot be decoded or encoded; the server answers 400 or 415."""


# --- Wire format ---------------------------------------------------------------------------------


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated protobuf data: varint runs past the end")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("malformed protobuf data: varint longer than 10 bytes")


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for each field; length-delimited values are bytes."""
    pos = 0
    while pos < len(data):
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ProtobufError("malformed protobuf data: field number 0")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if pos + width > len(data):
                raise ProtobufError("truncated protobuf data: fixed-width field runs past the end")
            value = int.from_bytes(data[pos : pos + width], "little")
            pos += width
        elif wire == _LENGTH:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError(f"truncated protobuf data: field {number} needs {length} bytes")
            value = data[pos : pos + length]
            pos += length
        else:
            # Groups (wire types 3 and 4) are deprecated and never produced by Kubernetes.
            raise ProtobufError(f"unsupported protobuf wire type {wire} in field {number}")
        yield number, wire, value


def _int64(value: int) -> int:
    # int64 is sent as a 64-bit two's complement varint, so negative numbers arrive as huge ones.
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(value: int | bytes) -> str:
    # Go's JSON encoder replaces invalid UTF-8 rather than failing, and so do we.
    return _bytes(value).decode("utf-8", errors="replace")


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("malformed protobuf data: expected a length-delimited field")
    return value


def _number(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise ProtobufError("malformed protobuf data: expected a varint field")
    return value


def _map_entry(value: int | bytes, *, binary: bool) -> tuple[str, str]:
    """Decode a map<string, string|bytes> entry; binary values come back base64-encoded as in JSON."""
    key, raw = "", b""
    for number, _, item in _fields(_bytes(value)):
        if number == 1:
            key = _text(item)
        elif number == 2:
            raw = _bytes(item)
    if binary:
        return key, base64.b64encode(raw).decode("ascii")
    return key, raw.decode("utf-8", errors="replace")


def _time(value: int | bytes) -> str | None:
    """Decode a metav1.Time as RFC 3339 at second precision, as its JSON form; empty means unset."""
    data = _bytes(value)
    if not data:
        # The real encoder writes the zero time as an empty message.
        return None
    seconds = 0
    for number, _, item in _fields(data):
        if number == 1:
            seconds = _int64(_number(item))
    # metav1.Time marshals to JSON without fractions of a second, so nanos (field 2) are dropped.
    try:
        stamp = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ProtobufError(f"timestamp {seconds} is out of range") from exc
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner_reference(value: int | bytes) -> dict[str, Any]:
    ref: dict[str, Any] = {}
    for number, _, item in _fields(_bytes(value)):
        if number in (1, 3, 4, 5):
            name = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}[number]
            if text := _text(item):
                ref[name] = text
        elif number in (6, 7):
            # Both are *bool in Go, so an explicit false is kept as JSON would show it.
            ref["controller" if number == 6 else "blockOwnerDeletion"] = bool(_number(item))
    return ref


def _managed_fields_entry(value: int | bytes) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    names = {1: "manager", 2: "operation", 3: "apiVersion", 6: "fieldsType", 8: "subresource"}
    for number, _, item in _fields(_bytes(value)):
        if number in names:
            if text := _text(item):
                entry[names[number]] = text
        elif number == 4:
            if (stamp := _time(item)) is not None:
                entry["time"] = stamp
        elif number == 7:
            # FieldsV1 {1 Raw} holds the field set as JSON text.
            raw = b"".join(_bytes(v) for n, _, v in _fields(_bytes(item)) if n == 1)
            try:
                entry["fieldsV1"] = json.loads(raw) if raw else {}
            except ValueError as exc:
                raise ProtobufError("managedFields fieldsV1 is not valid JSON") from exc
    return entry


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    strings = {1: "name", 2: "generateName", 3: "namespace", 4: "selfLink", 5: "uid", 6: "resourceVersion"}
    for number, _, item in _fields(data):
        if number in strings:
            # Go always writes these strings, empty or not; JSON's omitempty drops the empty ones.
            if text := _text(item):
                meta[strings[number]] = text
        elif number == 7:
            if generation := _int64(_number(item)):
                meta["generation"] = generation
        elif number in (8, 9):
            if (stamp := _time(item)) is not None:
                meta["creationTimestamp" if number == 8 else "deletionTimestamp"] = stamp
        elif number == 10:
            # A *int64 in Go: present means set, even to zero.
            meta["deletionGracePeriodSeconds"] = _int64(_number(item))
        elif number in (11, 12):
            key, text = _map_entry(item, binary=False)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = text
        elif number == 13:
            meta.setdefault("ownerReferences", []).append(_owner_reference(item))
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(item))
        elif number == 17:
            meta.setdefault("managedFields", []).append(_managed_fields_entry(item))
    return meta


def _secret(data: bytes) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for number, _, item in _fields(data):
        if number == 1:
            body["metadata"] = _object_meta(_bytes(item))
        elif number in (2, 4):
            key, text = _map_entry(item, binary=number == 2)
            body.setdefault("data" if number == 2 else "stringData", {})[key] = text
        elif number == 3:
            if text := _text(item):
                body["type"] = text
        elif number == 5:
            body["immutable"] = bool(_number(item))
    return body


def _config_map(data: bytes) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for number, _, item in _fields(data):
        if number == 1:
            body["metadata"] = _object_meta(_bytes(item))
        elif number in (2, 3):
            key, text = _map_entry(item, binary=number == 3)
            body.setdefault("data" if number == 2 else "binaryData", {})[key] = text
        elif number == 4:
            body["immutable"] = bool(_number(item))
    return body


def _delete_options(data: bytes) -> dict[str, Any]:
    # Every field is a pointer or list in Go, so a present field is kept even when zero or empty.
    body: dict[str, Any] = {}
    for number, _, item in _fields(data):
        if number == 1:
            body["gracePeriodSeconds"] = _int64(_number(item))
        elif number == 2:
            names = {1: "uid", 2: "resourceVersion"}
            body["preconditions"] = {names[n]: _text(v) for n, _, v in _fields(_bytes(item)) if n in names}
        elif number == 3:
            body["orphanDependents"] = bool(_number(item))
        elif number == 4:
            body["propagationPolicy"] = _text(item)
        elif number == 5:
            body.setdefault("dryRun", []).append(_text(item))
        elif number == 6:
            body["ignoreStoreReadErrorWithClusterBreakingPotential"] = bool(_number(item))
    return body


def _namespace(data: bytes) -> dict[str, Any]:
    # kubectl create namespace sends protobuf too: spec.finalizers (1) and status.phase (1) are all it sets.
    body: dict[str, Any] = {}
    for number, _, item in _fields(data):
        if number == 1:
            body["metadata"] = _object_meta(_bytes(item))
        elif number == 2:
            finalizers = [_text(v) for n, _, v in _fields(_bytes(item)) if n == 1]
            body["spec"] = {"finalizers": finalizers} if finalizers else {}
        elif number == 3:
            phase = [_text(v) for n, _, v in _fields(_bytes(item)) if n == 1]
            body["status"] = {"phase": phase[-1]} if phase else {}
    return body


_DECODERS: Final[dict[tuple[str, str], Callable[[bytes], dict[str, Any]]]] = {
    ("v1", "Secret"): _secret,
    ("v1", "ConfigMap"): _config_map,
    ("v1", "Namespace"): _namespace,
}


def decode_protobuf_object(body: bytes) -> dict[str, Any]:
    """Decode a protobuf request body into the object's JSON form (apiVersion, kind, metadata, ...)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("protobuf body does not start with the Kubernetes magic number k8s\\x00")
    api_version = kind = encoding = ""
    raw = b""
    for number, _, item in _fields(body[len(MAGIC) :]):
        if number == 1:
            for inner, _, value in _fields(_bytes(item)):
                if inner == 1:
                    api_version = _text(value)
                elif inner == 2:
                    kind = _text(value)
        elif number == 2:
            raw = _bytes(item)
        elif number == 3:
            encoding = _text(item)
    if encoding:
        raise ProtobufError(f"unsupported protobuf content encoding {encoding!r}")
    if kind == "DeleteOptions":
        # client-go sends the DELETE body in the client's content type, tagged with its group version.
        return {"apiVersion": api_version, "kind": kind, **_delete_options(raw)}
    decoder = _DECODERS.get((api_version, kind))
    if decoder is None:
        raise ProtobufError(
            "protobuf is supported only for v1 Secret, ConfigMap, Namespace and DeleteOptions, "
            f"not {api_version or '<none>'} {kind or '<no kind>'}"
        )
    fields = decoder(raw)
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj["metadata"] = fields.pop("metadata", {})
    obj.update(fields)
    return obj


# --- Encoding ------------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len_field(number: int, payload: bytes) -> bytes:
    return _tag(number, _LENGTH) + _varint(len(payload)) + payload


def _str_field(number: int, value: Any) -> bytes:
    return _len_field(number, str(value).encode("utf-8"))


def _int_field(number: int, value: int) -> bytes:
    return _tag(number, _VARINT) + _varint(value)


def _map_field(number: int, values: Mapping[str, Any] | None, *, binary: bool) -> bytes:
    out = b""
    items = values or {}
    # Go's generated marshaller writes map entries in sorted key order; so do we.
    for key in sorted(items):
        value = items[key]
        if binary:
            try:
                payload = base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ProtobufError(f"value of {key!r} is not valid base64") from exc
        else:
            payload = str(value).encode("utf-8")
        out += _len_field(number, _str_field(1, key) + _len_field(2, payload))
    return out


def _encode_time(value: Any) -> bytes:
    if not value:
        return b""
    try:
        stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ProtobufError(f"timestamp {value!r} is not RFC 3339") from exc
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return _int_field(1, int(stamp.timestamp())) + _int_field(2, stamp.microsecond * 1000)


def _encode_meta(meta: Mapping[str, Any]) -> bytes:
    out = b""
    # Go writes every plain string and int64 of ObjectMeta even when empty; pointers only when set.
    for number, name in enumerate(
        ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion"), 1
    ):
        out += _str_field(number, meta.get(name) or "")
    out += _int_field(7, int(meta.get("generation") or 0))
    out += _len_field(8, _encode_time(meta.get("creationTimestamp")))
    if meta.get("deletionTimestamp"):
        out += _len_field(9, _encode_time(meta["deletionTimestamp"]))
    if meta.get("deletionGracePeriodSeconds") is not None:
        out += _int_field(10, int(meta["deletionGracePeriodSeconds"]))
    out += _map_field(11, meta.get("labels"), binary=False)
    out += _map_field(12, meta.get("annotations"), binary=False)
    for ref in meta.get("ownerReferences") or []:
        body = b"".join(_str_field(n, ref.get(k) or "") for n, k in ((1, "kind"), (3, "name"), (4, "uid")))
        body += _str_field(5, ref.get("apiVersion") or "")
        for number, key in ((6, "controller"), (7, "blockOwnerDeletion")):
            if ref.get(key) is not None:
                body += _int_field(number, int(bool(ref[key])))
        out += _len_field(13, body)
    for finalizer in meta.get("finalizers") or []:
        out += _str_field(14, finalizer)
    # managedFields are left out: the server keeps its own and clients never send them back.
    return out


def encode_protobuf_object(obj: Mapping[str, Any]) -> bytes:
    """Encode a v1 Secret or ConfigMap in its JSON form as a Kubernetes protobuf body."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    meta = _len_field(1, _encode_meta(obj.get("metadata") or {}))
    if (api_version, kind) == ("v1", "Secret"):
        raw = meta + _map_field(2, obj.get("data"), binary=True) + _str_field(3, obj.get("type") or "")
        raw += _map_field(4, obj.get("stringData"), binary=False)
        if obj.get("immutable") is not None:
            raw += _int_field(5, int(bool(obj["immutable"])))
    elif (api_version, kind) == ("v1", "ConfigMap"):
        raw = meta + _map_field(2, obj.get("data"), binary=False)
        raw += _map_field(3, obj.get("binaryData"), binary=True)
        if obj.get("immutable") is not None:
            raw += _int_field(4, int(bool(obj["immutable"])))
    else:
        raise ProtobufError(
            f"protobuf is supported only for v1 Secret and ConfigMap, not {api_version} {kind}"
        )
    type_meta = _str_field(1, api_version) + _str_field(2, kind)
    # runtime.Unknown: typeMeta, raw, then contentEncoding and contentType, which Go writes empty.
    unknown = _len_field(1, type_meta) + _len_field(2, raw) + _str_field(3, "") + _str_field(4, "")
    return MAGIC + unknown
