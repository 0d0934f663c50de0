"""Metrics with high availability: two ``mesospaas serve --zk`` processes on a real ZooKeeper and localmesos.
Each instance answers the metrics routes itself (the standby does not proxy them): the leader with the
platform's series, the standby with its own process metrics, ``mesospaas_leader 0`` and its ZooKeeper session."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import pytest

from tests.integration.test_ha import Instance, call, leader_of, running_ids, sleeper, start, zk_url
from tests.metrics.scrape import names, parse, promtool, value
from tests.polling import wait_for

__all__ = ["start", "zk_url"]  # fixtures


def scrape(instance: Instance) -> tuple[str, dict[str, str]]:
    with urllib.request.urlopen(f"{instance.url}/metrics/prometheus", timeout=15) as resp:
        assert resp.status == 200
        return resp.read().decode(), dict(resp.headers)


@pytest.mark.slow
def test_leader_and_standby_each_answer_with_their_own_meters(zk_url: str,
                                                              start: Callable[[str, int], list[Instance]]) -> None:
    instances = start(zk_url, 2)
    leader = wait_for(lambda: leader_of(instances), 60, "a leader every instance names")
    standby = next(i for i in instances if i is not leader)
    status, body, _ = call("POST", f"{standby.url}/v2/apps", sleeper("/ha/web", 1))  # through the proxy
    assert status == 201, body
    wait_for(lambda: running_ids(leader.url, "/ha/web", 1), 60, "the task running")

    text, headers = scrape(standby)
    assert "X-Marathon-Via" not in headers  # answered by the standby itself
    mine = parse(text)
    assert value(mine, "mesospaas_leader") == 0
    assert value(mine, "mesospaas_zookeeper_session_state", state="CONNECTED") == 1
    assert value(mine, "mesospaas_zookeeper_session_state", state="LOST") == 0
    assert (value(mine, "mesospaas_leader_changes_total") or 0) >= 1
    assert value(mine, "mesospaas_leadership_terms_total") == 0
    assert "process_resident_memory_bytes" in names(mine)
    assert "mesospaas_app_instances" not in names(mine)  # a standby has no state of its own to report
    # the proxied POST went through the standby's API: counted there too, by template
    assert value(mine, "mesospaas_api_requests_total", method="POST", route="/v2/apps", status="201") == 1

    text, _ = scrape(leader)
    theirs = parse(text)
    assert value(theirs, "mesospaas_leader") == 1
    assert value(theirs, "mesospaas_leadership_terms_total") == 1
    assert value(theirs, "mesospaas_app_instances", app="/ha/web", condition="Running") == 1
    assert value(theirs, "mesospaas_zookeeper_session_state", state="CONNECTED") == 1
    assert (value(theirs, "mesospaas_store_operation_duration_seconds_count", operation="commit") or 0) >= 1
    for exposition in (text, scrape(standby)[0]):
        checked = promtool("check", "metrics", stdin=exposition)
        assert checked.returncode == 0, (checked.stdout, checked.stderr)
