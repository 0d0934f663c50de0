"""The runner for a command task with a ``ContainerInfo``, and the failures a real agent reports instead.

Owns ``start_container_task`` (the agent's hook) and ``ContainerTask``. The agent acts like a Mesos 1.11 agent
with only the Mesos containerizer (transcript 90), plus, when given ``--docker-registry DIR``, the ``docker``
image provider with that local registry and a CNI network named ``mesos-bridge``:

* ``DOCKER`` containers: ``TASK_FAILED`` ``REASON_EXECUTOR_TERMINATED`` ``Abnormal executor termination:
  unknown container`` (no Docker containerizer);
* an image without a registry directory (no image provider), or an APPC image: ``TASK_FAILED``
  ``REASON_CONTAINER_LAUNCH_FAILED`` ``Failed to launch container: Unsupported container image type: <enum
  number>``; an image the registry lacks: ``Failed to launch container: Failed to find archive for image ...``;
* a network other than ``mesos-bridge`` (or any without a registry directory): ``Failed to launch container:
  Unknown CNI network '<name>'``.

All come from ``SOURCE_AGENT`` with a uuid and ``executor_id``, without TASK_STARTING. Otherwise the task runs
through ``launch.py`` in new namespaces, chrooted into the unpacked image, with its port mappings forwarded
(``port_forward``); everything else (updates, kills, health checks) is the command executor's
(``CommandTask``).
"""

from __future__ import annotations

import asyncio
import ctypes
import http.client
import json
import os
import shutil
import socket
import ssl
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..command_task import TERMINAL_STATES, CommandTask
from ..health_check import HealthCheckConfig, Probe, ProbeResult, command_probe
from .image_store import Image, ImageStore, ProvisionError
from .port_forward import PortForwarder

if TYPE_CHECKING:
    from ..agent import Agent, AgentTask, Container

LAUNCH = Path(__file__).with_name("launch.py")
IMAGE_TYPES = {"APPC": 1, "DOCKER": 2}
BRIDGE = "mesos-bridge"
SANDBOX = "/mnt/mesos/sandbox"
"""Where a task with an image finds its sandbox (``MESOS_SANDBOX``)."""
FAILED, LAUNCH_FAILED = "TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED"


def launch_failure(info: dict[str, Any], registry: Path | None) -> tuple[str, str, str] | None:
    container = info.get("container") or {}
    if container.get("type") == "DOCKER":
        return FAILED, "REASON_EXECUTOR_TERMINATED", "Abnormal executor termination: unknown container"
    image = (container.get("mesos") or {}).get("image")
    if image and (registry is None or image.get("type") != "DOCKER"):
        number = IMAGE_TYPES.get(str(image.get("type")), 0)
        return FAILED, LAUNCH_FAILED, f"Failed to launch container: Unsupported container image type: {number}"
    for network in container.get("network_infos") or ():
        if registry is None or network.get("name") != BRIDGE:
            return FAILED, LAUNCH_FAILED, f"Failed to launch container: Unknown CNI network '{network.get('name')}'"
    return None


def _store(agent: "Agent") -> ImageStore:
    store = getattr(agent, "_image_store", None)
    if store is None:
        assert agent.flags.docker_registry is not None
        store = ImageStore(agent.flags.docker_registry, agent.flags.work_dir / "store" / "docker")
        agent._image_store = store  # type: ignore[attr-defined]
    return store


async def start_container_task(agent: "Agent", container: "Container", task: "AgentTask", sandbox: Path,
                               env: dict[str, str], on_status: Any, killing: bool) -> CommandTask | None:
    """The runner for ``task``, or None when the agent has already failed it."""
    failure = launch_failure(task.info, agent.flags.docker_registry)
    image: Image | None = None
    if failure is None:
        name = (((task.info["container"].get("mesos") or {}).get("image") or {}).get("docker") or {}).get("name")
        if name:
            try:
                image = await asyncio.to_thread(_store(agent).provision, str(name))
            except ProvisionError as exc:
                failure = FAILED, LAUNCH_FAILED, f"Failed to launch container: {exc}"
    if failure is not None:
        agent._agent_update(container, task, *failure)
        return None
    return ContainerTask(task.info, image=image, agent_ip=agent.ip, sandbox=sandbox, environment=env,
                         on_status=on_status, killing_state=killing)


class ContainerTask(CommandTask):
    """A command task run inside its container."""

    def __init__(self, task_info: dict[str, Any], *, image: Image | None, agent_ip: str, on_status: Any,
                 **kwargs: Any) -> None:
        self._forwarder: PortForwarder | None = None

        self._netns_threads: ThreadPoolExecutor | None = None

        def forward(status: dict[str, Any]) -> None:
            if status.get("state") in TERMINAL_STATES:
                self._remove_rootfs()
                if self._forwarder is not None:
                    self._forwarder.stop()
                    self._forwarder = None
                if self._netns_threads is not None:
                    self._netns_threads.shutdown(wait=False, cancel_futures=True)
                    self._netns_threads = None
            on_status(status)

        super().__init__(task_info, on_status=forward, **kwargs)
        self._image = image
        self._agent_ip = agent_ip
        networks = (task_info.get("container") or {}).get("network_infos") or []
        self._network = bool(networks)
        self._mappings = [(int(m["host_port"]), int(m["container_port"])) for n in networks
                          for m in n.get("port_mappings") or () if m.get("protocol", "tcp") == "tcp"]

    def _argv(self) -> tuple[str, list[str]]:
        if self._command.get("value") or self._image is None:
            return super()._argv()
        # No value: the image's entrypoint, then the task's arguments or else the image's command.
        config = self._image.config
        argv = list(config.get("Entrypoint") or []) + [str(a) for a in (self._command.get("arguments") or
                                                                          config.get("Cmd") or [])]
        if not argv:
            raise ValueError(f"task '{self.task_id}' has no command and its image none either")
        return argv[0], argv

    def _environment(self) -> dict[str, str]:
        env = super()._environment()
        if self._image is None:
            return env
        image_env = dict(item.split("=", 1) for item in self._image.config.get("Env") or () if "=" in item)
        if "PATH" in image_env:
            env["PATH"] = image_env["PATH"]  # the agent's default PATH is the host's, not the image's
        env = {**image_env, **env}
        env["MESOS_SANDBOX"] = SANDBOX
        return env

    def _container_paths(self) -> tuple[Path, Path]:
        return (self._sandbox.with_name(self._sandbox.name + ".rootfs"),
                self._sandbox.with_name(self._sandbox.name + ".container.json"))

    def _remove_rootfs(self) -> None:
        """The task's own copy of the image goes with the task (its mounts lived only in its namespace)."""
        rootfs, spec = self._container_paths()
        spec.unlink(missing_ok=True)
        if rootfs.exists() and not any(os.path.ismount(rootfs / p) for p in ("proc", "dev", "mnt/mesos/sandbox")):
            shutil.rmtree(rootfs, ignore_errors=True)

    async def _spawn(self) -> asyncio.subprocess.Process:
        _, argv = self._argv()
        rootfs, spec_path = self._container_paths()
        if self._image is not None:
            # Mesos' copy backend: each container gets its own root, so no task changes another's image.
            await asyncio.to_thread(shutil.copytree, self._image.rootfs, rootfs, symlinks=True)
        volumes = [[v.get("host_path", ""), v["container_path"], v.get("mode") == "RO"]
                   for v in (self._task_info.get("container") or {}).get("volumes") or () if v.get("host_path")]
        spec = {"rootfs": str(rootfs) if self._image else None, "sandbox": str(self._sandbox),
                "argv": argv, "env": self._environment(), "network": self._network, "volumes": volumes,
                # as Mesos: the image's WorkingDir if it has one, else the sandbox
                "cwd": ((self._image.config.get("WorkingDir") or SANDBOX) if self._image else str(self._sandbox))}
        forwarder = PortForwarder(self._agent_ip, self._mappings) if self._mappings else None
        ready_read, ready_write = os.pipe()
        spec["ready_fd"] = ready_write
        spec_path.write_text(json.dumps(spec))
        try:
            with open(self._sandbox / "stdout", "ab") as stdout, open(self._sandbox / "stderr", "ab") as stderr:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-I", str(LAUNCH), str(spec_path), stdin=asyncio.subprocess.DEVNULL,
                    stdout=stdout, stderr=stderr, cwd=self._sandbox, env={"PATH": "/usr/bin:/bin"},
                    start_new_session=True, pass_fds=(ready_write,))
        except BaseException:
            os.close(ready_read)
            if forwarder is not None:
                forwarder.stop()
            raise
        finally:
            os.close(ready_write)
        try:  # TASK_RUNNING only once the command runs inside the set-up container, as on a real agent
            await asyncio.to_thread(os.read, ready_read, 1)
        finally:
            os.close(ready_read)
        if forwarder is not None:
            forwarder.start(process.pid)
            self._forwarder = forwarder
        return process

    # -- health checks run inside the container, as Mesos' checker enters it

    def _probe(self, config: HealthCheckConfig) -> Probe:
        if config.type == "COMMAND":
            return self._command_probe(config)
        if self._network:
            return self._netns_probe(config)
        return super()._probe(config)  # host networking: the container shares the agent's network namespace

    async def _init_pid(self) -> int | None:
        """The container's init (PID 1 inside): the launcher's child, which it forks right after starting."""
        for _ in range(500):
            if self._process is None or self._process.returncode is not None:
                return None
            init = child_of(self._process.pid)
            if init is not None:
                return init
            await asyncio.sleep(0.01)
        return None

    def _command_probe(self, config: HealthCheckConfig) -> Probe:
        spec = config.spec
        shell = spec.get("shell") is None or bool(spec.get("shell"))
        inner = (["/bin/sh", "-c", str(spec.get("value", ""))] if shell
                 else [str(a) for a in spec.get("arguments") or [spec.get("value", "")]])
        rootfs = str(self._container_paths()[0]) if self._image is not None else "-"

        async def probe() -> ProbeResult:
            init = await self._init_pid()
            if init is None:
                return ProbeResult(False, "the container is not running")
            entering = {"value": sys.executable, "shell": False, "environment": spec.get("environment") or {},
                        "arguments": [sys.executable, "-I", str(LAUNCH), "--enter", str(init), rootfs, *inner]}
            return await command_probe(entering, env=self._environment(), cwd=self._sandbox,
                                       output_path=self._sandbox / "stderr")()
        return probe

    def _netns_probe(self, config: HealthCheckConfig) -> Probe:
        """HTTP/TCP to 127.0.0.1:port inside the container's network namespace, from a thread that entered it."""
        spec, timeout = config.spec, config.timeout

        async def probe() -> ProbeResult:
            init = await self._init_pid()
            if init is None:
                return ProbeResult(False, "the container is not running")
            if self._netns_threads is None:
                self._netns_threads = ThreadPoolExecutor(1, thread_name_prefix=f"netns-{self.task_id}",
                                                         initializer=enter_network, initargs=(init,))
            check = _http_check if config.type == "HTTP" else _tcp_check
            return await asyncio.get_running_loop().run_in_executor(self._netns_threads, check, spec, timeout)
        return probe


_libc = ctypes.CDLL(None, use_errno=True)


def enter_network(pid: int) -> None:
    """Moves the calling thread (only it) into ``pid``'s network namespace."""
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if _libc.setns(fd, 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def child_of(parent: int) -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            return int(entry)
    return None


def _http_check(spec: Mapping[str, Any], timeout: float | None) -> ProbeResult:
    scheme, port, path = spec.get("scheme") or "http", int(spec["port"]), spec.get("path") or "/"
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                                 context=ssl._create_unverified_context())
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path if path.startswith("/") else "/" + path)
        status = connection.getresponse().status
    except OSError as exc:
        return ProbeResult(False, f"GET {scheme}://127.0.0.1:{port}{path} failed: {exc!r}")
    finally:
        connection.close()
    if 200 <= status < 400:
        return ProbeResult(True, f"HTTP {status}")
    return ProbeResult(False, f"unexpected HTTP response code {status}")


def _tcp_check(spec: Mapping[str, Any], timeout: float | None) -> ProbeResult:
    try:
        socket.create_connection(("127.0.0.1", int(spec["port"])), timeout=timeout).close()
    except OSError as exc:
        return ProbeResult(False, f"connect to 127.0.0.1:{spec['port']} failed: {exc!r}")
    return ProbeResult(True, "connected")
