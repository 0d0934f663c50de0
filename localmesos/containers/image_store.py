"""Mesos' local Docker registry (``--docker_registry`` given a directory) and the store images unpack into.

Owns ``ImageStore``: ``image_archive(name)`` finds ``<registry>/<repository>:<tag>.tar`` (tag ``latest`` when
none is given; a ``library/`` prefix may be left off), and ``provision(name)`` unpacks it once into
``<store>/<digest>/rootfs`` (the ``docker save`` layout: ``manifest.json`` names the config and the layer
tarballs, applied in order; ``.wh.<name>`` whiteouts delete, ``.wh..wh..opq`` empties a directory) and
returns the root and the image config (``Entrypoint``, ``Cmd``, ``Env``, ``WorkingDir``).
Unpacking is serialised per image, so two tasks of one image unpack it once. Fails: ``ProvisionError`` with
the text a real agent gives (``Failed to find archive for image ...``) when the tarball is missing, and a
plain description for an archive that is not a ``docker save`` image.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any


class ProvisionError(Exception):
    """The image cannot be provisioned; ``str()`` is the agent's message after ``Failed to launch container: ``."""


@dataclass(frozen=True)
class Image:
    rootfs: Path
    config: dict[str, Any] = field(default_factory=dict)


def split_reference(name: str) -> tuple[str, str]:
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = name.rsplit(":", 1)
        return repository, tag
    return name, "latest"


class ImageStore:
    def __init__(self, registry: Path, store: Path) -> None:
        self.registry = Path(registry)
        self.store = Path(store)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def image_archive(self, name: str) -> Path:
        repository, tag = split_reference(name)
        candidates = [self.registry / f"{repository}:{tag}.tar"]
        if repository.startswith("library/"):
            candidates.append(self.registry / f"{repository.removeprefix('library/')}:{tag}.tar")
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise ProvisionError(f"Failed to find archive for image '{repository}:{tag}' at '{candidates[0]}'")

    def provision(self, name: str) -> Image:
        archive = self.image_archive(name)
        stat = archive.stat()
        key = hashlib.sha256(f"{archive}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:32]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            target = self.store / key
            done = target / "config.json"
            if not done.is_file():
                self._unpack(archive, target)
            return Image(target / "rootfs", json.loads(done.read_text()))

    def _unpack(self, archive: Path, target: Path) -> None:
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        rootfs = partial / "rootfs"
        rootfs.mkdir(parents=True)
        try:
            with tarfile.open(archive) as outer:
                manifest = json.load(_member(outer, "manifest.json"))[0]
                config = json.load(_member(outer, manifest["Config"]))
                for layer in manifest["Layers"]:
                    with tarfile.open(fileobj=_member(outer, layer)) as inner:
                        _apply_layer(inner, rootfs)
        except (KeyError, IndexError, ValueError, tarfile.TarError, OSError) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise ProvisionError(f"Failed to read image archive '{archive}': {exc}") from exc
        (partial / "config.json").write_text(json.dumps(config.get("config") or config.get("Config") or {}))
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)


def _member(archive: tarfile.TarFile, name: str) -> Any:
    handle = archive.extractfile(name)
    if handle is None:
        raise ValueError(f"{name} is not a file in the archive")
    return handle


def _inside(root: Path, name: str) -> Path:
    parts = [p for p in PurePosixPath(name).parts if p not in ("/", ".", "")]
    if ".." in parts:
        raise ValueError(f"layer entry {name!r} leaves the root")
    return root.joinpath(*parts)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _apply_layer(layer: tarfile.TarFile, rootfs: Path) -> None:
    """One layer on top of the ones before it: whiteouts first remove, then the entries are extracted."""
    members = layer.getmembers()
    keep = []
    for member in members:
        base = PurePosixPath(member.name).name
        parent = _inside(rootfs, str(PurePosixPath(member.name).parent))
        if base == ".wh..wh..opq":
            if parent.is_dir():
                for child in parent.iterdir():
                    _remove(child)
        elif base.startswith(".wh."):
            _remove(parent / base.removeprefix(".wh."))
        else:
            keep.append(member)
    for member in keep:
        path = _inside(rootfs, member.name)
        if (path.exists() or path.is_symlink()) and not (member.isdir() and path.is_dir()):
            _remove(path)
        if member.islnk():
            _inside(rootfs, member.linkname)  # a hard link must point inside the root as well
    if hasattr(tarfile, "tar_filter"):  # Python >= 3.11.4: no entry may leave the root
        layer.extractall(rootfs, members=keep, numeric_owner=True, filter="tar")
    else:  # pragma: no cover - older Pythons; the names were checked above
        layer.extractall(rootfs, members=keep, numeric_owner=True)
