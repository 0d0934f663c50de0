"""The process that runs a task inside a light container: ``python -I launch.py <spec.json>`` (as root).

Owns the container's life, in three processes:

* this process (``outer``, in the agent's namespaces) calls ``unshare(2)`` for new mount, PID, UTS, IPC and,
  when asked, network namespaces, forks the namespace's init and waits for it. It forwards SIGTERM/SIGINT/
  SIGHUP/SIGQUIT to it and ends the way the command ended (same exit code, or killed by the same signal), so
  the agent's command executor sees what it would see without a container;
* the init (PID 1 inside) makes mounts private, mounts ``/proc``, binds ``/dev``, the sandbox at
  ``/mnt/mesos/sandbox`` and the task's volumes into the image root, brings loopback up in a new network
  namespace, ``chroot``s into the root and forks the command; it forwards signals to it, reaps every orphan,
  and when the command ends kills whatever is left (killing the init kills the whole namespace; it also dies
  with the outer process: ``PR_SET_PDEATHSIG``);
* the command, exec'd with the given argv and environment, sees only the image's files.

Spec (JSON): ``rootfs``, ``sandbox``, ``argv``, ``env``, ``cwd``, ``network`` (bool: own network namespace),
``volumes`` ([host_path, container_path, read_only]), ``ready_fd`` (an inherited pipe the init writes one byte
to once the container is set up and the command forked; closed without a byte when setup fails). ``--enter`` runs a command inside a running container
(COMMAND health checks). Standard library only: it runs before any import of
the agent's package. Fails: a setup error is written to stderr and the process exits 127 (as a shell does for
a command it cannot run).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import struct
import sys
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str, target: str, fstype: str | None, flags: int) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags, None),
           f"mount {source} on {target}")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _bind(source: str, target: str, read_only: bool) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "a").close()
    _mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        _mount(source, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _prepare(spec: dict[str, Any]) -> None:
    """In the new namespaces, before chroot: private mounts, /proc, /dev, sandbox, volumes, loopback."""
    rootfs = spec["rootfs"]
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    if rootfs is None:  # no image: the host's files, but the container's own /proc (and network)
        _mount("proc", "/proc", "proc", 0)
        if spec.get("network"):
            _loopback_up()
        return
    os.makedirs(os.path.join(rootfs, "proc"), exist_ok=True)
    _mount("proc", os.path.join(rootfs, "proc"), "proc", 0)
    _bind("/dev", os.path.join(rootfs, "dev"), False)
    _bind(spec["sandbox"], os.path.join(rootfs, "mnt/mesos/sandbox"), False)
    for host_path, container_path, read_only in spec.get("volumes") or ():
        source = host_path if os.path.isabs(host_path) else os.path.join(spec["sandbox"], host_path)
        if not os.path.exists(source):  # Mesos creates a missing sandbox path (and host path) volume
            os.makedirs(source, exist_ok=True)
        target = (os.path.join(rootfs, container_path.lstrip("/")) if os.path.isabs(container_path)
                  else os.path.join(rootfs, "mnt/mesos/sandbox", container_path))
        _bind(source, target, bool(read_only))
    if spec.get("network"):
        _loopback_up()
    os.chroot(rootfs)
    os.chdir(spec.get("cwd") or "/")


def _exec(spec: dict[str, Any]) -> None:
    for sig in FORWARDED:
        signal.signal(sig, signal.SIG_DFL)
    env = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
    argv = [str(a) for a in spec["argv"]]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        os.write(2, f"Failed to execute '{argv[0]}' in the container: {exc}\n".encode())
        os._exit(127)


def _init(spec: dict[str, Any], report: int) -> None:
    """PID 1 of the container."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        _prepare(spec)
    except OSError as exc:
        os.write(2, f"Failed to set up the container: {exc}\n".encode())
        os.write(report, b"exit 127")
        os._exit(0)
    command = os.fork()
    if command == 0:
        os.close(report)
        _exec(spec)
    ready = spec.get("ready_fd")
    if ready is not None:  # the container is set up and its command forked: the agent may report TASK_RUNNING
        os.write(ready, b"1")
        os.close(ready)
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: _forward(command, signum))
    status = 0
    while True:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        if pid == command:
            status = wait_status
            try:
                os.kill(-1, signal.SIGKILL)  # whatever the command left behind in the namespace
            except ProcessLookupError:
                pass
    if os.WIFSIGNALED(status):
        os.write(report, f"signal {os.WTERMSIG(status)}".encode())
    else:
        os.write(report, f"exit {os.waitstatus_to_exitcode(status)}".encode())
    os._exit(0)


def _forward(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def enter(init: int, rootfs: str, argv: list[str]) -> None:
    """``launch.py --enter <init pid> <rootfs|-> argv...``: run ``argv`` inside a running container (its IPC,
    UTS, network, PID and mount namespaces, chrooted into its root), as Mesos runs COMMAND checks; exits as
    the command does."""
    for kind, flag in (("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS), ("net", CLONE_NEWNET), ("pid", CLONE_NEWPID),
                       ("mnt", CLONE_NEWNS)):
        fd = os.open(f"/proc/{init}/ns/{kind}", os.O_RDONLY)
        try:
            _check(_libc.setns(fd, flag), f"setns {kind}")
        finally:
            os.close(fd)
    if rootfs != "-":
        os.chroot(rootfs)
    os.chdir("/")
    child = os.fork()
    if child == 0:
        _exec({"argv": argv, "env": dict(os.environ)})
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: _forward(child, signum))
    _, status = os.waitpid(child, 0)
    sys.exit(os.waitstatus_to_exitcode(status) % 256)


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        spec = json.load(handle)
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | (CLONE_NEWNET if spec.get("network") else 0)
    try:
        _check(_libc.unshare(flags), "unshare")
    except OSError as exc:
        os.write(2, f"Failed to create the container's namespaces: {exc}\n".encode())
        sys.exit(127)
    read_end, write_end = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(read_end)
        _init(spec, write_end)
    os.close(write_end)
    if spec.get("ready_fd") is not None:
        os.close(spec["ready_fd"])  # only the init holds it now: its end (or death) is what the agent waits for
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: _forward(init, signum))
    with open(read_end, "rb") as report:
        outcome = report.read().decode() or "signal 9"  # the init was SIGKILLed: so was everything inside
    os.waitpid(init, 0)
    kind, number = outcome.split()
    if kind == "signal":
        signal.signal(int(number), signal.SIG_DFL)
        os.kill(os.getpid(), int(number))
    sys.exit(int(number))


if __name__ == "__main__":
    if sys.argv[1] == "--enter":
        try:
            enter(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
        except OSError as exc:
            os.write(2, f"Failed to enter the container: {exc}\n".encode())
            sys.exit(127)
    else:
        main(sys.argv[1])
