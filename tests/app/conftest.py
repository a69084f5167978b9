"""Fixtures shared by the control plane's tests that talk to the session's kubesim."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from kubesim.process import KubesimProcess
from storeplane.k8s.client import KubeApi, kube_client


@pytest.fixture
async def kube(kubesim: KubesimProcess) -> AsyncIterator[KubeApi]:
    """The control plane's own kube client (storeplane.k8s.client), on the session's kubesim."""
    async with kube_client(kubeconfig=kubesim.kubeconfig) as client:
        yield client


@pytest.fixture
async def namespace_name(api: ApiClient) -> AsyncIterator[str]:
    """A fresh namespace name of this test's own; whatever the test made of it is deleted afterwards."""
    name = f"ns-{uuid.uuid4().hex[:10]}"
    yield name
    core = CoreV1Api(api)
    # A test may hold the namespace in Terminating with a finalizer on a ConfigMap named "held".
    with contextlib.suppress(Exception):
        await core.patch_namespaced_config_map("held", name, {"metadata": {"finalizers": None}})
    with contextlib.suppress(Exception):
        await core.delete_namespace(name)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client that keeps no cookies: each test sends the credentials it means to send."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session
