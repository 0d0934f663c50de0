"""Task ``ipAddresses`` as Marathon fills them: from the status update's ``container_status.network_infos``,
kept on the instance across later updates without addresses, shown in the task JSON the lb reads."""

from __future__ import annotations

from api.routes_apps import task_json
from mesospaas.model import launched, with_task_status
from mesospaas.model.agent import AgentInfo
from mesospaas.model.instance import scheduled
from mesospaas.model.ids import AppId, AppVersion, InstanceId
from scheduler.mesos_adapter import status_facts


def test_addresses_go_from_the_status_update_to_the_task_json() -> None:
    instance = launched(scheduled(InstanceId("web.instance-1"), AppId("/web"), AppVersion("v"), 0.0),
                        AgentInfo(agent_id="a1", hostname="agent1"), (31000,), 1.0)
    assert instance.task_id is not None
    status = {"task_id": {"value": instance.task_id}, "state": "TASK_RUNNING", "uuid": "x",
              "container_status": {"network_infos": [{"ip_addresses": [{"protocol": "IPv4",
                                                                         "ip_address": "127.0.0.5"}]}]}}
    facts = status_facts(status)
    assert facts.ip_addresses == ("127.0.0.5",)
    running = with_task_status(instance, instance.task_id, facts.state, None, 2.0, None, facts.ip_addresses)
    later = with_task_status(running, instance.task_id, "TASK_KILLING", None, 3.0)
    definition = {"portDefinitions": [{"port": 10001}]}
    rendered = task_json(later, definition)
    assert rendered["ipAddresses"] == [{"ipAddress": "127.0.0.5", "protocol": "IPv4"}]
    assert rendered["servicePorts"] == [10001]
    relaunched = launched(later, AgentInfo(agent_id="a2", hostname="agent2"), (31001,), 4.0)
    assert task_json(relaunched, definition)["ipAddresses"] == []
