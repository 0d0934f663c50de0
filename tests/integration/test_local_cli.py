"""``mesospaas local`` flags as a newcomer uses them: a cluster file defines the cluster, ``--http-address``
binds the API (issue 11)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from scheduler import cli, local

from .test_local_command import Local, call


def cluster_file(tmp_path: Path, racks: list[str]) -> Path:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"agents": [{"resources": "cpus:1;mem:256;disk:100", "attributes": f"rack:{rack}"}
                                           for rack in racks]}))
    return path


def test_a_cluster_file_of_five_agents_starts_five_agents(tmp_path: Path) -> None:
    racks = ["r1", "r2", "r3", "r4", "r5"]
    path = cluster_file(tmp_path, racks)
    started = Local(tmp_path / "work", "--cluster", str(path), "--http-address", "127.0.0.7")
    try:
        assert started.url.startswith("http://127.0.0.7:")  # --http-address
        status, info = call("GET", f"{started.url}/v2/info")
        assert status == 200
        master = info["marathon_config"]["master"]
        with urllib.request.urlopen(f"http://{master}/master/state", timeout=10) as resp:
            state = json.loads(resp.read())
        assert sorted(agent["attributes"]["rack"] for agent in state["slaves"]) == racks
        assert {agent["resources"]["cpus"] for agent in state["slaves"]} == {1.0}
    finally:
        assert started.stop() == 0


def agent_racks(argv: list[str], tmp_path: Path) -> list[str]:
    """The agents ``mesospaas local ARGV`` would start, as the real parser and cluster builder see them."""
    parser = cli.build_parser()
    args = parser.parse_args(["local", *argv])
    config = local._cluster_config(args, parser, tmp_path)
    return [spec.attributes.removeprefix("rack:") or "-" for spec in config.agents]


def test_agents_given_explicitly_cut_or_extend_the_file_and_default_to_three(tmp_path: Path) -> None:
    path = str(cluster_file(tmp_path, ["r1", "r2", "r3", "r4", "r5"]))
    assert agent_racks(["--cluster", path], tmp_path) == ["r1", "r2", "r3", "r4", "r5"]
    assert agent_racks(["--cluster", path, "--agents", "2"], tmp_path) == ["r1", "r2"]
    assert agent_racks(["--cluster", path, "--agents", "6"], tmp_path) == ["r1", "r2", "r3", "r4", "r5", "-"]
    assert agent_racks([], tmp_path) == ["-", "-", "-"]
