"""The kubernetes_asyncio ApiClient: configured from a kubeconfig (and context) or in-cluster.

Code outside `storeplane.k8s` names the client `KubeApi` and only passes it back in here: it never imports
kubernetes_asyncio itself (tests/app/test_layering.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import ConfigException, load_incluster_config
from kubernetes_asyncio.config.kube_config import KubeConfigLoader, KubeConfigMerger

from storeplane.k8s.errors import map_kube_errors

KubeApi: TypeAlias = ApiClient
"""The API client, for annotations outside storeplane.k8s."""

USER_AGENT = "storeplane"
# Each watch holds one pooled connection for as long as it runs (one per kind, nine today); the pool must
# leave ample room for ordinary requests beside them or they would queue behind the watches.
MAX_CONNECTIONS = 64

PathLike = str | os.PathLike[str]


async def load_configuration(
    *, kubeconfig: PathLike | None = None, context: str | None = None, in_cluster: bool = False
) -> Configuration:
    """A client Configuration from a kubeconfig (default: $KUBECONFIG, then ~/.kube/config) or in-cluster."""
    configuration = Configuration()
    if in_cluster:
        if kubeconfig is not None or context is not None:
            raise ConfigException("in-cluster configuration takes no kubeconfig or context")
        # It reads the service account token and CA files: small, but blocking reads stay off the loop.
        await asyncio.to_thread(load_incluster_config, client_configuration=configuration)
    else:
        # Read at call time: kubernetes_asyncio's own default is frozen when the module is imported.
        default = os.environ.get("KUBECONFIG", "~/.kube/config")
        paths = os.fspath(kubeconfig) if kubeconfig is not None else default
        # kubernetes_asyncio's load_kube_config is async but reads and parses the files synchronously, so the
        # reading and merging (a KUBECONFIG-style list of paths, relative certificate paths resolved against
        # each file's folder) run in a thread; only the loader, which may run an exec plugin, runs here.
        merger = await asyncio.to_thread(KubeConfigMerger, paths)
        if merger.config is None:
            raise ConfigException(f"no kubeconfig found at {paths}")
        # config_persister is left unset: Storeplane never writes refreshed tokens back into a user's file.
        loader = KubeConfigLoader(config_dict=merger.config, active_context=context, config_base_path=None)
        await loader.load_and_set(configuration)
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, MAX_CONNECTIONS)
    return configuration


@asynccontextmanager
async def kube_client(
    *, kubeconfig: PathLike | None = None, context: str | None = None, in_cluster: bool = False
) -> AsyncIterator[KubeApi]:
    """An ApiClient whose HTTP session is closed on exit, however the block ends."""
    configuration = await load_configuration(kubeconfig=kubeconfig, context=context, in_cluster=in_cluster)
    client = ApiClient(configuration=configuration)
    client.user_agent = USER_AGENT
    try:
        yield client
    finally:
        await client.close()


async def server_version(api: KubeApi, *, timeout: float) -> None:
    """GET /version (what VersionApi.get_code sends), with our timeout; errors mapped to ours (errors.py)."""
    with map_kube_errors():
        await api.call_api(
            "/version",
            "GET",
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _request_timeout=timeout,
        )
