"""The scheduler and the kubelet of the one simulated node: a pod's whole life, with no container run.

One task per pod walks it through scheduling, image pulls, container starts and readiness (or the
injected fault), writing the status and the Events the real components write; a second task per
terminating pod confirms its removal after the grace period, as the kubelet does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from kubesim import errors
from kubesim.controllers.objects import (
    controller_ref,
    hex_digest,
    is_deleting,
    pod_terminal,
    set_condition,
)
from kubesim.controllers.runtime import Context, TaskSet
from kubesim.jsondata import clone
from kubesim.object_store import Change, Obj
from kubesim.resources import resource
from kubesim.timeutil import now_rfc3339

PODS = resource("", "pods")
REPLICASETS = resource("apps", "replicasets")
NODE_NAME = "kubesim-node"
HOST_IP = "172.18.0.2"
_KUBELET = "kubelet"
_SCHEDULER = "default-scheduler"
# The real readiness probe's default period; a never-ready pod reports a failed probe this often.
_DEFAULT_PROBE_PERIOD = 10.0
_CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


class _Gone(Exception):
    """The pod was deleted or replaced: its lifecycle ends."""


def normalize_image(image: str) -> tuple[str, str]:
    """`mariadb:11.4` -> (`docker.io/library/mariadb:11.4`, `docker.io/library/mariadb`): reference, repo."""
    name, _, digest = image.partition("@")
    first, slash, _ = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if slash else f"docker.io/library/{name}"
    last = name.rsplit("/", 1)[-1]
    repo = name.rsplit(":", 1)[0] if ":" in last else name
    if digest:
        return f"{name}@{digest}", repo
    return (name if ":" in last else f"{name}:latest"), repo


def _go_duration(seconds: float) -> str:
    """Roughly how Go's time.Duration prints: `52.1ms`, `1.234s`."""
    if seconds < 1:
        return f"{seconds * 1000:.3f}".rstrip("0").rstrip(".") + "ms"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


class Kubelet:
    """Runs every pod's lifecycle task and removes terminating pods after their grace period."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._lives = TaskSet("pod")
        self._terminations = TaskSet("pod-termination")
        self._images: set[str] = set()  # the node's image cache, for imagePullPolicy IfNotPresent
        self._ips = 0

    def resume(self, pod: Obj) -> None:
        """Pick up a pod stored before the controllers started."""
        if is_deleting(pod):
            self._terminate_later(pod)
        elif (pod.get("status") or {}).get("phase", "Pending") == "Pending":
            self._start_life(pod)

    def on_change(self, change: Change) -> None:
        pod = change.obj
        uid = pod["metadata"]["uid"]
        if change.type == "DELETED":
            self._lives.cancel(uid)
            self._terminations.cancel(uid)
        elif is_deleting(pod):
            self._terminate_later(pod)
        elif change.type == "ADDED":
            self._start_life(pod)

    async def stop(self) -> None:
        await self._lives.stop()
        await self._terminations.stop()

    def _start_life(self, pod: Obj) -> None:
        meta = pod["metadata"]
        coro = _Life(self, meta["namespace"], meta["name"], meta["uid"]).run()
        self._lives.spawn(meta["uid"], coro, name=f"{meta['namespace']}/{meta['name']}")

    def _terminate_later(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if meta["uid"] in self._terminations:
            return
        self._lives.cancel(meta["uid"])
        coro = self._terminate(meta["namespace"], meta["name"], meta["uid"])
        self._terminations.spawn(meta["uid"], coro, name=f"{meta['namespace']}/{meta['name']}")

    async def _terminate(self, namespace: str, name: str, uid: str) -> None:
        object_store = self._ctx.object_store
        pod = object_store.peek(PODS, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        if not pod_terminal(pod):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                if "running" in (status.get("state") or {}):
                    self._ctx.events.record(
                        pod,
                        reason="Killing",
                        message=f"Stopping container {status['name']}",
                        component=_KUBELET,
                        field_path=f"spec.containers{{{status['name']}}}",
                    )
        await asyncio.sleep(self._ctx.settings.delays.pod_termination)
        pod = object_store.peek(PODS, namespace, name)
        if pod is not None and pod["metadata"]["uid"] == uid:
            object_store.remove_now(PODS, pod)

    def allocate_ip(self) -> str:
        n = self._ips
        self._ips += 1
        return f"10.244.{(n // 254) % 256}.{n % 254 + 1}"

    def image_cached(self, image: str) -> bool:
        return image in self._images

    def cache_image(self, image: str) -> None:
        self._images.add(image)


class _Life:
    """One pod's lifecycle: what the scheduler and kubelet do to it, step by step."""

    def __init__(self, kubelet: Kubelet, namespace: str, name: str, uid: str) -> None:
        self.kubelet = kubelet
        self.ctx = kubelet._ctx
        self.namespace, self.name, self.uid = namespace, name, uid
        self.delays = self.ctx.settings.delays
        # Container statuses by container name, written whole into the pod on every step.
        self.init_statuses: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        # Names an injected fault may target: the pod's and its workload's (filled in when the life starts).
        self.fault_names: list[str] = [name]

    async def run(self) -> None:
        try:
            await self._run()
        except _Gone:
            pass
        except errors.ApiError as exc:
            if exc.code != 404:
                raise

    # -- plumbing -------------------------------------------------------------------------------

    def pod(self) -> Obj:
        pod = self.ctx.object_store.peek(PODS, self.namespace, self.name)
        if pod is None or pod["metadata"]["uid"] != self.uid or is_deleting(pod):
            raise _Gone
        return pod

    def mutate(self, change: Callable[[Obj], None]) -> Obj:
        new = clone(self.pod())
        change(new)
        status = new.setdefault("status", {})
        spec = new["spec"]
        if self.init_statuses:
            status["initContainerStatuses"] = [
                self.init_statuses[c["name"]] for c in spec.get("initContainers") or []
            ]
        if self.statuses:
            status["containerStatuses"] = [self.statuses[c["name"]] for c in spec.get("containers") or []]
        conditions = status.get("conditions") or []
        status["conditions"] = sorted(
            conditions,
            key=lambda c: _CONDITION_ORDER.index(c["type"]) if c["type"] in _CONDITION_ORDER else 99,
        )
        return self.ctx.object_store.write_internal(PODS, new)

    def event(self, reason: str, message: str, *, field_path: str = "", warning: bool = False) -> None:
        self.ctx.events.record(
            self.pod(),
            reason=reason,
            message=message,
            component=_KUBELET,
            type_="Warning" if warning else "Normal",
            field_path=field_path,
        )

    def fault(self, action: str) -> bool:
        return self.ctx.faults.active(action, self.namespace, *self.fault_names)

    def _workload_names(self, pod: Obj) -> list[str]:
        """The pod's own name, its owner's, and for a ReplicaSet's pod the Deployment's too."""
        names = [self.name]
        ref = controller_ref(pod)
        if ref is not None:
            names.append(str(ref.get("name", "")))
            if ref.get("kind") == "ReplicaSet":
                rs = self.ctx.object_store.peek(REPLICASETS, self.namespace, str(ref.get("name", "")))
                rs_ref = controller_ref(rs) if rs is not None else None
                if rs_ref is not None:
                    names.append(str(rs_ref.get("name", "")))
        return names

    # -- the lifecycle --------------------------------------------------------------------------

    async def _run(self) -> None:
        pod = self.pod()
        self.fault_names = self._workload_names(pod)
        spec = pod["spec"]
        init_containers = spec.get("initContainers") or []
        containers = spec.get("containers") or []
        if not spec.get("nodeName"):
            await asyncio.sleep(self.delays.schedule)
            self.mutate(self._bind)
            self.event_as(
                _SCHEDULER, "Scheduled", f"Successfully assigned {self.namespace}/{self.name} to {NODE_NAME}"
            )
        for c in init_containers:
            self.init_statuses[c["name"]] = _waiting(c, "PodInitializing")
        waiting_reason = "PodInitializing" if init_containers else "ContainerCreating"
        for c in containers:
            self.statuses[c["name"]] = _waiting(c, waiting_reason)
        self.mutate(self._sandbox)

        for c in init_containers:
            await self._pull(c, "initContainers", self.init_statuses)
            await self._create_and_start(c, "initContainers", self.init_statuses)
            status = self.init_statuses[c["name"]]
            started = status["state"]["running"]["startedAt"]
            status["state"] = {"terminated": _terminated(0, "Completed", started, status["containerID"])}
            status.update(ready=True, started=False)
            self.mutate(lambda p: None)
        if init_containers:
            self.mutate(lambda p: set_condition(_conds(p), "Initialized", "True", probe_time=True))
            for c in containers:
                self.statuses[c["name"]] = _waiting(c, "ContainerCreating")

        for c in containers:
            await self._pull(c, "containers", self.statuses)
            await self._create_and_start(c, "containers", self.statuses)
        self.mutate(self._running)

        if spec.get("restartPolicy", "Always") != "Always":
            await self._run_to_completion()
        elif self.fault("crash-loop"):
            await self._crash_loop()
        elif self.fault("never-ready"):
            await self._never_ready()
        else:
            await asyncio.sleep(self.delays.readiness)
            self.mutate(self._ready)

    def event_as(self, component: str, reason: str, message: str) -> None:
        self.ctx.events.record(self.pod(), reason=reason, message=message, component=component)

    def _bind(self, pod: Obj) -> None:
        pod["spec"]["nodeName"] = NODE_NAME
        set_condition(_conds(pod), "PodScheduled", "True", probe_time=True)

    def _sandbox(self, pod: Obj) -> None:
        status = pod.setdefault("status", {})
        # A hostNetwork pod shares the node's address.
        ip = HOST_IP if pod["spec"].get("hostNetwork") else self.kubelet.allocate_ip()
        status.update(
            phase="Pending",
            hostIP=HOST_IP,
            hostIPs=[{"ip": HOST_IP}],
            podIP=ip,
            podIPs=[{"ip": ip}],
            startTime=now_rfc3339(),
        )
        conds = _conds(pod)
        init_names = [c["name"] for c in pod["spec"].get("initContainers") or []]
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        set_condition(conds, "PodReadyToStartContainers", "True", probe_time=True)
        if init_names:
            set_condition(
                conds,
                "Initialized",
                "False",
                reason="ContainersNotInitialized",
                message=f"containers with incomplete status: [{' '.join(init_names)}]",
                probe_time=True,
            )
        else:
            set_condition(conds, "Initialized", "True", probe_time=True)
        self._unready(conds, names)
        set_condition(conds, "PodScheduled", "True", probe_time=True)

    def _unready(self, conds: list[dict[str, Any]], names: list[str]) -> None:
        message = f"containers with unready status: [{' '.join(names)}]"
        for type_ in ("Ready", "ContainersReady"):
            set_condition(
                conds, type_, "False", reason="ContainersNotReady", message=message, probe_time=True
            )

    def _running(self, pod: Obj) -> None:
        pod["status"]["phase"] = "Running"

    def _ready(self, pod: Obj) -> None:
        for status in self.statuses.values():
            status["ready"] = True
        conds = _conds(pod)
        set_condition(conds, "ContainersReady", "True", probe_time=True)
        set_condition(conds, "Ready", "True", probe_time=True)

    async def _pull(self, c: dict[str, Any], kind: str, statuses: dict[str, dict[str, Any]]) -> None:
        image = str(c.get("image", ""))
        field_path = f"spec.{kind}{{{c['name']}}}"
        full, repo = normalize_image(image)
        policy = c.get("imagePullPolicy", "IfNotPresent")
        if policy == "Never" or (policy == "IfNotPresent" and self.kubelet.image_cached(full)):
            self.event(
                "Pulled", f'Container image "{image}" already present on machine', field_path=field_path
            )
        else:
            while True:
                self.event("Pulling", f'Pulling image "{image}"', field_path=field_path)
                began = time.monotonic()
                await asyncio.sleep(self.delays.image_pull)
                if not self.fault("image-pull-error"):
                    break
                await self._pull_failed(c, image, full, field_path, statuses)
            took = _go_duration(time.monotonic() - began)
            size = int(hex_digest(full)[:6], 16) * 100
            self.event(
                "Pulled",
                f'Successfully pulled image "{image}" in {took} ({took} including waiting). '
                f"Image size: {size} bytes.",
                field_path=field_path,
            )
            self.kubelet.cache_image(full)
        statuses[c["name"]]["image"] = full
        statuses[c["name"]]["imageID"] = f"{repo}@sha256:{hex_digest('image', full)}"

    async def _pull_failed(
        self, c: dict[str, Any], image: str, full: str, field_path: str, statuses: dict[str, dict[str, Any]]
    ) -> None:
        """One round of ErrImagePull then ImagePullBackOff, as the kubelet reports an image it cannot find."""
        cause = (
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{full}": failed to resolve '
            f'reference "{full}": {full}: not found'
        )
        self.event("Failed", f'Failed to pull image "{image}": {cause}', field_path=field_path, warning=True)
        self.event("Failed", "Error: ErrImagePull", field_path=field_path, warning=True)
        statuses[c["name"]] = _waiting(c, "ErrImagePull", message=cause)
        self.mutate(lambda p: None)
        await asyncio.sleep(self.delays.crash_restart)
        self.event("BackOff", f'Back-off pulling image "{image}"', field_path=field_path)
        self.event("Failed", "Error: ImagePullBackOff", field_path=field_path, warning=True)
        statuses[c["name"]] = _waiting(
            c, "ImagePullBackOff", message=f'Back-off pulling image "{image}": ErrImagePull: {cause}'
        )
        self.mutate(lambda p: None)
        await asyncio.sleep(self.delays.crash_restart)

    async def _create_and_start(
        self, c: dict[str, Any], kind: str, statuses: dict[str, dict[str, Any]], restarts: int = 0
    ) -> None:
        name = c["name"]
        field_path = f"spec.{kind}{{{name}}}"
        self.event("Created", f"Created container: {name}", field_path=field_path)
        await asyncio.sleep(self.delays.container_start)
        self.event("Started", f"Started container {name}", field_path=field_path)
        status = statuses[name]
        status.update(
            state={"running": {"startedAt": now_rfc3339()}},
            ready=False,
            started=True,
            restartCount=restarts,
            containerID=f"containerd://{hex_digest(self.uid, name, str(restarts))}",
        )

    async def _run_to_completion(self) -> None:
        """A Job's (or any restartPolicy Never/OnFailure) pod: ready at once, then exits after job_run."""
        self.mutate(self._ready)
        await asyncio.sleep(self.delays.job_run)
        failed = self.fault("fail-job")
        code, reason = (1, "Error") if failed else (0, "Completed")
        for status in self.statuses.values():
            started = status["state"].get("running", {}).get("startedAt", now_rfc3339())
            status["state"] = {"terminated": _terminated(code, reason, started, status["containerID"])}
            status.update(ready=False, started=False)

        def finish(pod: Obj) -> None:
            pod["status"]["phase"] = "Failed" if failed else "Succeeded"
            conds = _conds(pod)
            why = "PodFailed" if failed else "PodCompleted"
            set_condition(conds, "PodReadyToStartContainers", "False", probe_time=True)
            set_condition(conds, "Ready", "False", reason=why, probe_time=True)
            set_condition(conds, "ContainersReady", "False", reason=why, probe_time=True)

        self.mutate(finish)

    async def _crash_loop(self) -> None:
        """Every container exits 1 shortly after starting and is restarted after a back-off, forever."""
        pod = self.pod()
        containers = pod["spec"].get("containers") or []
        names = [c["name"] for c in containers]
        who = f"{self.name}_{self.namespace}({self.uid})"
        while True:
            await asyncio.sleep(self.delays.container_start)
            for c in containers:
                status = self.statuses[c["name"]]
                started = status["state"].get("running", {}).get("startedAt", now_rfc3339())
                restarts = int(status["restartCount"]) + 1
                status.update(
                    state={
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": f"back-off 10s restarting failed container={c['name']} pod={who}",
                        }
                    },
                    lastState={"terminated": _terminated(1, "Error", started, status["containerID"])},
                    ready=False,
                    started=False,
                    restartCount=restarts,
                )
            self.mutate(lambda p: self._unready(_conds(p), names))
            for c in containers:
                self.event(
                    "BackOff",
                    f"Back-off restarting failed container {c['name']} in pod {who}",
                    field_path=f"spec.containers{{{c['name']}}}",
                    warning=True,
                )
            await asyncio.sleep(self.delays.crash_restart)
            for c in containers:
                image = str(c.get("image", ""))
                self.event(
                    "Pulled",
                    f'Container image "{image}" already present on machine',
                    field_path=f"spec.containers{{{c['name']}}}",
                )
                restarts = int(self.statuses[c["name"]]["restartCount"])
                last = self.statuses[c["name"]].get("lastState", {})
                await self._create_and_start(c, "containers", self.statuses, restarts)
                self.statuses[c["name"]]["lastState"] = last
            self.mutate(lambda p: None)

    async def _never_ready(self) -> None:
        """Running, but the readiness probe fails while the fault lasts: Ready stays False and Unhealthy is
        reported each probe period; once the fault is cleared, the next probe passes, as a real one would."""
        pod = self.pod()
        containers = pod["spec"].get("containers") or []
        await asyncio.sleep(self.delays.readiness)
        while True:
            if not self.fault("never-ready"):
                self.mutate(self._ready)
                return
            for c in containers:
                self.event(
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    field_path=f"spec.containers{{{c['name']}}}",
                    warning=True,
                )
            probe = next((c.get("readinessProbe") for c in containers if c.get("readinessProbe")), None) or {}
            await asyncio.sleep(float(probe.get("periodSeconds") or _DEFAULT_PROBE_PERIOD))


def _conds(pod: Obj) -> list[dict[str, Any]]:
    status = pod.setdefault("status", {})
    conds: list[dict[str, Any]] = status.setdefault("conditions", [])
    return conds


def _waiting(c: dict[str, Any], reason: str, *, message: str | None = None) -> dict[str, Any]:
    waiting: dict[str, Any] = {"reason": reason}
    if message is not None:
        waiting["message"] = message
    # imageID is "" until the image is pulled, as the kubelet reports it; clients require the key.
    return {
        "name": c["name"],
        "state": {"waiting": waiting},
        "lastState": {},
        "ready": False,
        "restartCount": 0,
        "image": str(c.get("image", "")),
        "imageID": "",
        "started": False,
    }


def _terminated(code: int, reason: str, started: str, container_id: str) -> dict[str, Any]:
    return {
        "exitCode": code,
        "reason": reason,
        "startedAt": started,
        "finishedAt": now_rfc3339(),
        "containerID": container_id,
    }
