"""cert-manager's issuing, simulated: a Certificate whose issuer exists gets its TLS Secret and Ready=True.

Until then (no such Issuer/ClusterIssuer yet, or a `certificate-pending` fault) the Certificate says what
cert-manager says of a Certificate whose Secret is not written yet: Ready=False, Issuing=True, reason
DoesNotExist. No key or ACME order is made: the Secret holds placeholder PEM text.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
from typing import Any

from kubesim import errors
from kubesim.controllers.objects import is_deleting
from kubesim.controllers.runtime import Context, TaskSet
from kubesim.jsondata import clone
from kubesim.object_store import Change, Obj
from kubesim.resources import resource

CERTIFICATES = resource("cert-manager.io", "certificates")
ISSUERS = resource("cert-manager.io", "issuers")
CLUSTER_ISSUERS = resource("cert-manager.io", "clusterissuers")
SECRETS = resource("", "secrets")
_POLL = 0.1  # seconds between checks whether the issuer has appeared or the fault has been cleared
# cert-manager's defaults: a 90-day certificate renewed when two thirds of its life have passed.
_DURATION = datetime.timedelta(days=90)
_RENEW_BEFORE = datetime.timedelta(days=30)
PENDING_MESSAGE = "Issuing certificate as Secret does not exist"
READY_MESSAGE = "Certificate is up to date and has not expired"
_PLACEHOLDER_PEM = b"-----BEGIN CERTIFICATE-----\nkubesim\n-----END CERTIFICATE-----\n"
_PLACEHOLDER_KEY = b"-----BEGIN PRIVATE KEY-----\nkubesim\n-----END PRIVATE KEY-----\n"


class CertificateController:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._issuing = TaskSet("certificate-issue")

    def on_change(self, change: Change) -> None:
        cert = change.obj
        uid = cert["metadata"]["uid"]
        if change.type == "DELETED" or is_deleting(cert):
            self._issuing.cancel(uid)
            return
        if _issued_for(cert) == cert["metadata"].get("generation", 1):
            return  # issued for this spec; a changed spec (new dnsNames, issuer) is issued again
        meta = cert["metadata"]
        self._issuing.spawn(
            uid,
            self._issue_later(meta["namespace"], meta["name"], uid),
            name=f"{meta['namespace']}/{meta['name']}",
        )

    async def stop(self) -> None:
        await self._issuing.stop()

    async def _issue_later(self, namespace: str, name: str, uid: str) -> None:
        await asyncio.sleep(self._ctx.settings.delays.certificate_issue)
        object_store = self._ctx.object_store
        while True:
            cert = object_store.peek(CERTIFICATES, namespace, name)
            if cert is None or cert["metadata"]["uid"] != uid or is_deleting(cert):
                return
            if not self._ctx.faults.active("certificate-pending", namespace, name) and self._issuer_exists(
                cert
            ):
                break
            self._write_status(cert, _pending_status(cert))
            # Keep checking so the Certificate is issued once the issuer exists or the fault is cleared.
            await asyncio.sleep(_POLL)
        try:
            self._write_secret(cert)
        except errors.ApiError:
            return
        self._write_status(cert, _issued_status(cert))

    def _issuer_exists(self, cert: Obj) -> bool:
        ref = (cert.get("spec") or {}).get("issuerRef") or {}
        # cert-manager reads a missing kind as Issuer (namespaced, in the Certificate's namespace).
        if ref.get("kind", "Issuer") == "ClusterIssuer":
            return self._ctx.object_store.peek(CLUSTER_ISSUERS, "", str(ref.get("name", ""))) is not None
        namespace = cert["metadata"]["namespace"]
        return self._ctx.object_store.peek(ISSUERS, namespace, str(ref.get("name", ""))) is not None

    def _write_status(self, cert: Obj, status: dict[str, Any]) -> None:
        new = clone(cert)
        old_conditions = {c.get("type"): c for c in (cert.get("status") or {}).get("conditions") or []}
        for condition in status.get("conditions", []):
            old = old_conditions.get(condition["type"])
            if old is not None and old.get("status") == condition["status"]:
                # A condition keeps the time its status last changed, as cert-manager keeps it.
                condition["lastTransitionTime"] = old.get(
                    "lastTransitionTime", condition["lastTransitionTime"]
                )
        new["status"] = status
        self._ctx.object_store.write_internal(CERTIFICATES, new)

    def _write_secret(self, cert: Obj) -> None:
        spec = cert.get("spec") or {}
        namespace = cert["metadata"]["namespace"]
        secret_name = str(spec.get("secretName") or cert["metadata"]["name"])
        template = spec.get("secretTemplate") or {}
        annotations = dict(template.get("annotations") or {})
        annotations.update(
            {
                "cert-manager.io/certificate-name": cert["metadata"]["name"],
                "cert-manager.io/issuer-name": str((spec.get("issuerRef") or {}).get("name", "")),
                "cert-manager.io/issuer-kind": str((spec.get("issuerRef") or {}).get("kind", "Issuer")),
                "cert-manager.io/issuer-group": str((spec.get("issuerRef") or {}).get("group", "")),
                "cert-manager.io/common-name": str(spec.get("commonName", "")),
                "cert-manager.io/alt-names": ",".join(spec.get("dnsNames") or []),
            }
        )
        data = {
            "tls.crt": base64.b64encode(_PLACEHOLDER_PEM).decode(),
            "tls.key": base64.b64encode(_PLACEHOLDER_KEY).decode(),
            "ca.crt": base64.b64encode(_PLACEHOLDER_PEM).decode(),
        }
        body: Obj = {
            "metadata": {
                "name": secret_name,
                "namespace": namespace,
                "labels": {**(template.get("labels") or {}), "controller.cert-manager.io/fao": "true"},
                "annotations": annotations,
            },
            "type": "kubernetes.io/tls",
            "data": data,
        }
        object_store = self._ctx.object_store
        existing = object_store.peek(SECRETS, namespace, secret_name)
        if existing is None:
            object_store.create(SECRETS, namespace, body)
            return
        new = clone(existing)
        new["metadata"].setdefault("labels", {}).update(body["metadata"]["labels"])
        new["metadata"].setdefault("annotations", {}).update(annotations)
        new["type"] = "kubernetes.io/tls"
        new["data"] = data
        object_store.write_internal(SECRETS, new)


def _issued_for(cert: Obj) -> int | None:
    """The generation the Certificate is Ready for, None when it is not Ready."""
    for condition in (cert.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return int(condition.get("observedGeneration", 1))
    return None


def _condition(cert: Obj, type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": _rfc3339(_now()),
        "observedGeneration": cert["metadata"].get("generation", 1),
    }


def _pending_status(cert: Obj) -> dict[str, Any]:
    status = clone(cert.get("status") or {})
    status["conditions"] = [
        _condition(cert, "Ready", "False", "DoesNotExist", PENDING_MESSAGE),
        _condition(cert, "Issuing", "True", "DoesNotExist", PENDING_MESSAGE),
    ]
    return status


def _issued_status(cert: Obj) -> dict[str, Any]:
    not_before = _now()
    status = {
        "conditions": [_condition(cert, "Ready", "True", "Ready", READY_MESSAGE)],
        "notBefore": _rfc3339(not_before),
        "notAfter": _rfc3339(not_before + _DURATION),
        "renewalTime": _rfc3339(not_before + _DURATION - _RENEW_BEFORE),
        "revision": int((cert.get("status") or {}).get("revision", 0)) + 1,
    }
    return status


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
