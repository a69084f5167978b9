"""The real helm and kubectl binaries pointed at the session's kubesim (helm and chart tests share them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.helpers import Result, run

# Seconds any single helm or kubectl call may take before the test fails (each takes about a second here).
CALL_TIMEOUT = 60.0
# What every namespace holds that no release made: the serviceaccount controller's and root CA publisher's.
NAMESPACE_DEFAULTS = {"ServiceAccount/default", "ConfigMap/kube-root-ca.crt"}


@dataclass(frozen=True)
class Kube:
    """helm and kubectl with the session's KUBECONFIG and HELM_*_HOME."""

    helm_bin: str
    kubectl_bin: str
    env: dict[str, str]

    async def helm(self, *args: str) -> Result:
        return await run([self.helm_bin, *args], env=self.env, timeout=CALL_TIMEOUT)

    async def kubectl(self, *args: str) -> Result:
        return await run([self.kubectl_bin, *args], env=self.env, timeout=CALL_TIMEOUT)

    async def helm_json(self, *args: str) -> Any:
        return json.loads((await self.helm(*args, "-o", "json")).check().stdout)

    async def get(self, *args: str) -> Any:
        return json.loads((await self.kubectl("get", *args, "-o", "json")).check().stdout)

    async def objects(self, namespace: str, *selector: str) -> set[str]:
        """`Kind/name` of every object in the namespace (Events excluded), optionally filtered by `-l`."""
        listed = (await self.kubectl("api-resources", "--namespaced", "--verbs=list", "-o", "name")).check()
        types = [name for name in listed.stdout.split() if name.split(".")[0] != "events"]
        items = (await self.get(",".join(types), "-n", namespace, *selector))["items"]
        return {f"{item['kind']}/{item['metadata']['name']}" for item in items}


def condition(obj: dict[str, Any], type_: str) -> str | None:
    """The status ("True", "False", ...) of a condition of `obj`, or None when it has none of that type."""
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond["type"] == type_:
            return str(cond["status"])
    return None
