"""The environment's features (engines.yaml `when`), decided once at start from the values file and the API.

"tls": `environment.tls.enabled` in values/<env>.yaml and cert-manager's Certificate CRD present. With TLS on
and no CRD, the step and the Certificate watch are left out with one warning: every install then fails on the
chart's Certificate anyway (helm: no matches for kind "Certificate"), with a message that names the cause.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from storeplane.k8s.client import KubeApi
from storeplane.k8s.crds import crd_exists
from storeplane.k8s.errors import ClusterUnreachable, KubeApiError, describe
from storeplane.provisioning.provisioner import tls_enabled

log = logging.getLogger(__name__)

CERTIFICATE_CRD = "certificates.cert-manager.io"


async def environment_features(api: KubeApi, *, values_file: Path) -> frozenset[str]:
    """The features of this environment; reads the values file and asks the API for the CRD once."""
    if not await asyncio.to_thread(tls_enabled, values_file):
        return frozenset()
    try:
        installed = await crd_exists(api, name=CERTIFICATE_CRD)
    except (KubeApiError, ClusterUnreachable) as exc:
        # Unknown is taken as present: the watch then retries with backoff until it lists, and no store is
        # called Ready without its Certificate. The opposite guess would skip the step for good.
        log.warning(
            "TLS is on; could not check for the %s CRD (%s): assuming it exists",
            CERTIFICATE_CRD,
            describe(exc),
        )
        return frozenset({"tls"})
    if not installed:
        log.warning(
            "TLS is on (environment.tls.enabled in %s) but the CustomResourceDefinition %s does not exist: "
            "is cert-manager installed? Certificates are neither watched nor waited for, and installs will "
            "fail on the chart's Certificate until it is; restart Storeplane after installing cert-manager",
            values_file,
            CERTIFICATE_CRD,
        )
        return frozenset()
    return frozenset({"tls"})
