"""HAProxy refuses Unix socket paths over 97 bytes: ``socket_path`` stands in for long ones (stable, private, only
when needed). The real ``mesospaas lb --run-haproxy`` from a deep work dir is in
``tests/integration/test_lb_on_localmesos.py``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from scheduler.lb.haproxy import SOCKET_PATH_MAX, socket_path


def deep_dir(tmp_path: Path) -> Path:
    path = tmp_path / ("d" * 60) / ("e" * 60)
    path.mkdir(parents=True)
    return path


def test_short_paths_are_kept_and_long_ones_get_a_stable_private_stand_in(tmp_path: Path) -> None:
    short = tmp_path / "x.sock"
    if len(str(short)) <= SOCKET_PATH_MAX:
        assert socket_path(short) == short
    long = deep_dir(tmp_path) / "haproxy.cfg.master.sock"
    stand_in = socket_path(long)
    try:
        assert stand_in != long and len(os.fsencode(stand_in)) <= SOCKET_PATH_MAX
        assert socket_path(long) == stand_in  # a restarted lb finds the same socket
        assert socket_path(long.with_name("haproxy.sock")).parent != stand_in.parent
        info = stand_in.parent.stat()
        assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    finally:
        stand_in.parent.rmdir()


def test_a_stand_in_directory_that_is_not_private_is_refused(tmp_path: Path) -> None:
    long = deep_dir(tmp_path) / "admin.sock"
    stand_in = socket_path(long)
    try:
        stand_in.parent.chmod(0o755)
        with pytest.raises(OSError, match="not a private directory"):
            socket_path(long)
    finally:
        stand_in.parent.rmdir()
