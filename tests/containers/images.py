"""Builds Docker images for the tests from what the machine has: a ``docker save`` tarball around Debian's
``/bin/busybox`` (package ``busybox-static``), nothing downloaded.

``build_image(registry, "busybox:1.36", files={...})`` writes ``<registry>/busybox:1.36.tar`` with two layers:
the first holds busybox, its applet links and ``/etc/doomed``; the second whites ``/etc/doomed`` out and adds
``files`` (path -> text), so a test can tell that the layers were applied in order.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "ls", "cat", "sleep", "httpd", "wget", "echo", "test", "hostname", "ps", "ip", "nc", "true")


def busybox_or_skip() -> Path:
    if not BUSYBOX.is_file():  # pragma: no cover - .ci/setup --test installs busybox-static
        pytest.fail("/bin/busybox is missing: run `bash .ci/setup --test` (it installs busybox-static)")
    return BUSYBOX


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add(tar: tarfile.TarFile, name: str, *, kind: bytes, target: str = "", mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, target, mode
    tar.addfile(info)


def _layer(build: callable) -> bytes:  # type: ignore[valid-type]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        build(tar)
    return buffer.getvalue()


def build_image(registry: Path, name: str = "busybox:1.36", files: dict[str, str] | None = None,
                env: list[str] | None = None, cmd: list[str] | None = None) -> Path:
    busybox = busybox_or_skip().read_bytes()

    def base(tar: tarfile.TarFile) -> None:
        for directory in ("bin", "etc", "tmp", "proc", "dev", "www"):
            _add(tar, directory, kind=tarfile.DIRTYPE)
        _add_file(tar, "bin/busybox", busybox, 0o755)
        for applet in APPLETS:
            _add(tar, f"bin/{applet}", kind=tarfile.SYMTYPE, target="busybox")
        _add_file(tar, "etc/doomed", b"removed by the next layer\n")
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/:/bin/sh\n")

    def top(tar: tarfile.TarFile) -> None:
        _add_file(tar, "etc/.wh.doomed", b"")
        for path, text in (files or {}).items():
            _add_file(tar, path.lstrip("/"), text.encode())

    layers = [_layer(base), _layer(top)]
    ids = [hashlib.sha256(layer).hexdigest() for layer in layers]
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": env or ["PATH=/bin"], "Cmd": cmd or ["sh"], "WorkingDir": ""},
              "rootfs": {"type": "layers", "diff_ids": [f"sha256:{i}" for i in ids]}}
    config_bytes = json.dumps(config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    repository, tag = name.rsplit(":", 1)
    registry.mkdir(parents=True, exist_ok=True)
    target = registry / f"{name}.tar"
    with tarfile.open(target, "w") as tar:
        for layer_id, layer in zip(ids, layers):
            _add(tar, layer_id, kind=tarfile.DIRTYPE)
            _add_file(tar, f"{layer_id}/layer.tar", layer)
            _add_file(tar, f"{layer_id}/VERSION", b"1.0")
            _add_file(tar, f"{layer_id}/json", json.dumps({"id": layer_id}).encode())
        _add_file(tar, config_name, config_bytes)
        _add_file(tar, "manifest.json", json.dumps(
            [{"Config": config_name, "RepoTags": [name], "Layers": [f"{i}/layer.tar" for i in ids]}]).encode())
        _add_file(tar, "repositories", json.dumps({repository: {tag: ids[-1]}}).encode())
    return target


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
