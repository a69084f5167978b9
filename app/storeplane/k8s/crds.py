"""Whether a CustomResourceDefinition exists: what says a kind (cert-manager's Certificate) is served."""

from __future__ import annotations

import aiohttp
from kubernetes_asyncio.client import ApiextensionsV1Api

from storeplane.k8s.client import KubeApi
from storeplane.k8s.errors import kube_api_error, map_kube_errors


async def crd_exists(api: KubeApi, *, name: str) -> bool:
    """True when `GET .../customresourcedefinitions/<name>` finds it (`name` is `<plural>.<group>`).

    Other answers (the API down, no permission) raise our errors: the caller decides what they mean.
    """
    with map_kube_errors():
        # The raw response: only existence matters, and a real CRD's schema is hundreds of KiB to decode.
        crds = ApiextensionsV1Api(api)
        response: aiohttp.ClientResponse = await crds.read_custom_resource_definition(  # type: ignore[assignment]
            name, _preload_content=False
        )
        try:
            if response.status == 404:
                return False
            if response.status != 200:
                raise kube_api_error(response.status, response.reason or "", await response.read())
        finally:
            response.release()
    return True
