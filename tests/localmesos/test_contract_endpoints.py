"""Contract: the master's and agents' read-only endpoints against transcripts 10-19 of a real Mesos 1.11.1.

Everything is compared as recorded (status, reason phrase, header names in order, Content-Type, body), on a
fresh cluster shaped like the recording (2 agents, ``cpus:2;mem:2048;disk:10000;ports:[31000-31100]``,
attributes ``rack:r1;zone:a`` / ``rack:r2;zone:b``). The state documents' contents after tasks have run are
compared in ``test_contract_scheduler.py``, which replays the recorded framework.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.localmesos import transcripts as T
from tests.localmesos.conftest import ThreadedCluster

RESOURCES = "cpus:2;mem:2048;disk:10000;ports:[31000-31100]"
ATTRIBUTES = ["rack:r1;zone:a", "rack:r2;zone:b"]
GET = {"Accept": "application/json"}
OPERATOR = {"Content-Type": "application/json", "Accept": "application/json"}


@pytest.fixture
def live(start_cluster: Callable[..., ThreadedCluster]) -> ThreadedCluster:
    return start_cluster(2, attributes=ATTRIBUTES, resources=RESOURCES, heartbeat_interval=1,
                         agent_ping_timeout=0.3, max_agent_ping_timeouts=3)


def agent_address(cluster: ThreadedCluster, index: int) -> str:
    agent = cluster.cluster.agents[index]
    return f"{agent.ip}:{agent.port}"


def same(cluster: ThreadedCluster, expected: Any, actual: Any, what: str) -> None:
    T.assert_normalized_same(expected, actual, what=what, expected_literals=T.REC_LITERALS,
                             actual_literals=T.live_literals(cluster))


def replay_get(cluster_address: str, recorded: dict[str, Any]) -> T.Response:
    req = recorded["request"]
    return T.request(cluster_address, req["method"], req["path"], headers=T.recorded_request_headers(req),
                     body=req.get("body"))


# -- plain documents -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["10", "11c", "11d", "14", "14b", "17c", "17d"])
def test_master_plain_exchanges(live: ThreadedCluster, name: str) -> None:
    recorded = T.load(name)
    T.assert_exchange(recorded, replay_get(live.address, recorded), what=name)


@pytest.mark.parametrize("name", ["18c", "19b", "19d"])
def test_agent_plain_exchanges(live: ThreadedCluster, name: str) -> None:
    recorded = T.load(name)
    for index in (0, 1):
        T.assert_exchange(recorded, replay_get(agent_address(live, index), recorded), what=f"{name} agent {index}")


@pytest.mark.parametrize("name", ["12", "12b"])
def test_redirect_location(live: ThreadedCluster, name: str) -> None:
    """307 with ``Location: //<master hostname>:<port>`` (no scheme), empty body, no Content-Type."""
    recorded = T.load(name)
    flags = live.master.flags
    T.assert_exchange(recorded, replay_get(live.address, recorded), what=name,
                      location=f"//{flags.hostname}:{flags.port}")


@pytest.mark.parametrize("path", ["/metrics/snapshot/nope", "/master/nope", "/slave(1)/state.json", "/api/v2"])
def test_unrouted_paths_are_libprocess_404(live: ThreadedCluster, path: str) -> None:
    recorded = T.load("11c")
    T.assert_exchange(recorded, T.request(live.address, "GET", path, headers=GET), what=path)
    T.assert_exchange(recorded, T.request(agent_address(live, 0), "GET", path, headers=GET), what=path)


# -- flags -----------------------------------------------------------------------------------------------
# Real master flags localmesos does not serve (they configure machinery localmesos does not have):
# allocator_agent_recovery_factor, allocator_recovery_timeout, authenticate_http_readonly,
# authenticate_http_readwrite, authentication_v0_timeout, authenticators, authorizers, hostname_lookup,
# http_authenticators, initialize_driver_logging, log_auto_initialize, logbufsecs, logging_level,
# max_operator_event_stream_subscribers, max_unreachable_tasks_per_framework, memory_profiling,
# offer_constraints_re2_max_mem, offer_constraints_re2_max_program_size, publish_per_framework_metrics,
# quiet, recovery_agent_removal_limit, registry_fetch_timeout, registry_gc_interval, registry_max_agent_age,
# registry_max_agent_count, registry_store_timeout, registry_strict, require_agent_domain, webui_dir.
# Values that follow from the configuration (ports, ping timeouts, hostname, ip, work_dir, log_dir) are
# compared against the live configuration instead of the recording.
MASTER_FLAGS_BY_CONFIG = {"agent_ping_timeout", "max_agent_ping_timeouts", "hostname", "ip", "port", "work_dir",
                          "log_dir"}


def test_master_flags(live: ThreadedCluster) -> None:
    recorded = T.load("13")
    for path in ("/master/flags", "/flags"):
        resp = T.request(live.address, "GET", path, headers=GET)
        rec_flags = recorded["response"]["body"]["json"]["flags"]
        ours = resp.json()["flags"]
        assert list(resp.json()) == ["flags"]
        assert set(ours) <= set(rec_flags), f"flags the real master does not have: {set(ours) - set(rec_flags)}"
        for key, value in ours.items():
            assert isinstance(value, str), key
            if key not in MASTER_FLAGS_BY_CONFIG:
                assert value == rec_flags[key], f"flag {key}: {value!r} != recorded {rec_flags[key]!r}"
        flags = live.master.flags
        assert ours["agent_ping_timeout"] == "300ms" and ours["max_agent_ping_timeouts"] == "3"
        assert (ours["hostname"], ours["ip"], ours["port"]) == (flags.hostname, flags.ip, str(flags.port))
        expected = copy.deepcopy(recorded)
        expected["response"]["body"]["json"]["flags"] = {k: v for k, v in rec_flags.items() if k in ours}
        T.assert_exchange(expected, resp, what=path, ignore=T.BY_NATURE + tuple(f"flags.{k}" for k in ours))


# Real agent flags localmesos serves none of: everything about containerizers, cgroups, docker, appc, CNI,
# fetcher, gc, perf, QoS, authentication, systemd, recovery and the launcher_dir/runtime_dir layout.
AGENT_FLAGS_BY_CONFIG = {"hostname", "ip", "port", "work_dir", "master", "runtime_dir", "attributes", "log_dir"}


def test_agent_flags(live: ThreadedCluster) -> None:
    recorded = T.load("19c")
    rec_flags = recorded["response"]["body"]["json"]["flags"]
    for index in (0, 1):
        for path in ("/flags", "/slave(1)/flags"):
            resp = T.request(agent_address(live, index), "GET", path, headers=GET)
            ours = resp.json()["flags"]
            assert set(ours) <= set(rec_flags), f"flags the real agent does not have: {set(ours) - set(rec_flags)}"
            for key, value in ours.items():
                if key not in AGENT_FLAGS_BY_CONFIG:
                    assert value == rec_flags[key], f"agent flag {key}: {value!r} != recorded {rec_flags[key]!r}"
            assert ours["attributes"] == ATTRIBUTES[index]
            expected = copy.deepcopy(recorded)
            expected["response"]["body"]["json"]["flags"] = {k: v for k, v in rec_flags.items() if k in ours}
            T.assert_exchange(expected, resp, what=path, ignore=T.BY_NATURE + tuple(f"flags.{k}" for k in ours))


# -- state documents of an idle cluster -------------------------------------------------------------------
def _recorded_slave(doc_slaves: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    slave = next(s for s in doc_slaves if isinstance(s, dict) and s.get("id", "").endswith(suffix))
    # The recorded agent S1 had been restarted (files 60-67) and so carries reregistered_time; ours never was.
    return {k: v for k, v in slave.items() if k != "reregistered_time"}


@pytest.mark.parametrize("name", ["11", "11b"])
def test_master_state_idle(live: ThreadedCluster, name: str) -> None:
    recorded = T.load(name)
    resp = replay_get(live.address, recorded)
    rec = recorded["response"]["body"]["json"]
    ours = resp.json()
    assert list(ours) == list(rec), f"top-level keys/order: {list(ours)} != {list(rec)}"
    for key in ("version", "capabilities", "activated_slaves", "deactivated_slaves", "unreachable_slaves",
                "recovered_slaves", "orphan_tasks", "unregistered_frameworks", "frameworks"):
        same(live, rec[key], ours[key], f"{name} {key}")
    same(live, rec["leader_info"], ours["leader_info"], f"{name} leader_info")
    assert ours["leader"] == ours["pid"] == f"master@{live.master.flags.ip}:{live.master.flags.port}"
    assert set(ours["flags"]) <= set(rec["flags"])
    assert list(ours["flags"]) == sorted(ours["flags"]) and list(rec["flags"]) == sorted(rec["flags"])
    for index, suffix in ((0, "-S0"), (1, "-S1")):
        same(live, _recorded_slave(rec["slaves"], suffix), ours["slaves"][index], f"{name} slave {index}")
    # Header names/order, Content-Type, status: the body is compared above piece by piece.
    expected = copy.deepcopy(recorded)
    expected["response"]["body"]["json"] = ours
    T.assert_exchange(expected, resp, what=name)


def test_master_slaves_idle(live: ThreadedCluster) -> None:
    recorded = T.load("16c")
    resp = replay_get(live.address, recorded)
    rec = recorded["response"]["body"]["json"]
    ours = resp.json()
    assert list(ours) == list(rec)
    assert ours["recovered_slaves"] == rec["recovered_slaves"] == []
    for index, suffix in ((0, "-S0"), (1, "-S1")):
        same(live, _recorded_slave(rec["slaves"], suffix), ours["slaves"][index], f"/master/slaves agent {index}")


@pytest.mark.parametrize("name", ["17b", "17"])
def test_operator_agents_idle(live: ThreadedCluster, name: str) -> None:
    recorded = T.load(name)
    resp = replay_get(live.address, recorded)
    body = resp.json()
    rec = recorded["response"]["body"]["json"]
    assert list(body) == list(rec)
    agents = body["get_agents"] if name == "17b" else body["get_state"]["get_agents"]
    rec_agents = rec["get_agents"] if name == "17b" else rec["get_state"]["get_agents"]
    assert list(agents) == list(rec_agents)
    assert agents["recovered_agents"] == []
    for index, suffix in ((0, "-S0"), (1, "-S1")):
        rec_agent = next(a for a in rec_agents["agents"] if a["agent_info"]["id"]["value"].endswith(suffix))
        rec_agent = {k: v for k, v in rec_agent.items() if k != "reregistered_time"}
        same(live, rec_agent, agents["agents"][index], f"{name} agent {index}")
    expected = copy.deepcopy(recorded)
    expected["response"]["body"]["json"] = body
    T.assert_exchange(expected, resp, what=name)


@pytest.mark.parametrize("name", ["18", "18b"])
def test_agent_state_idle(live: ThreadedCluster, name: str) -> None:
    recorded = T.load(name)
    rec = recorded["response"]["body"]["json"]
    resp = replay_get(agent_address(live, 0), recorded)
    ours = resp.json()
    assert list(ours) == list(rec), f"top-level keys/order: {list(ours)} != {list(rec)}"
    skip = {"flags", "frameworks", "completed_frameworks", "log_dir"}
    same(live, {k: v for k, v in rec.items() if k not in skip}, {k: v for k, v in ours.items() if k not in skip},
         name)
    assert ours["frameworks"] == [] and ours["completed_frameworks"] == []
    assert set(ours["flags"]) <= set(rec["flags"])
    assert list(ours["flags"]) == sorted(ours["flags"]) and list(rec["flags"]) == sorted(rec["flags"])
    expected = copy.deepcopy(recorded)
    expected["response"]["body"]["json"] = ours
    T.assert_exchange(expected, resp, what=name)
