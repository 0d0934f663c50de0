"""Marathon's text/plain task list layout (``api.endpoints_text``): one line per app and service port."""

from __future__ import annotations

from api.endpoints_text import endpoints_text
from mesospaas.model import AgentInfo, AppId, Condition, Instance
from mesospaas.model.ids import AgentId, AppVersion, InstanceId


def instance(app: str, n: int, host: str, *ports: int, condition: Condition = Condition.RUNNING) -> Instance:
    return Instance(id=InstanceId(f"{app.strip('/')}.instance-{n}"), app_id=AppId(app),
                    app_version=AppVersion("2026-01-01T00:00:00.000Z"), condition=condition, incarnation=1,
                    agent=AgentInfo(AgentId(f"agent-{host}"), host), host_ports=ports)


def test_one_line_per_app_and_service_port_with_every_running_task() -> None:
    text = endpoints_text([
        (AppId("/shop/web"), [10000, 10001], [instance("/shop/web", 1, "127.0.0.3", 31005, 31006),
                                              instance("/shop/web", 2, "127.0.0.2", 31000, 31001),
                                              instance("/shop/web", 3, "127.0.0.4", 31010, 31011,
                                                       condition=Condition.STAGING)]),
        (AppId("/db"), [10002], []),
    ])
    assert text == ("db\t10002\t\n"
                    "shop_web\t10000\t127.0.0.2:31000\t127.0.0.3:31005\t\n"
                    "shop_web\t10001\t127.0.0.2:31001\t127.0.0.3:31006\t\n")


def test_apps_without_service_ports_list_hosts_and_missing_host_ports_are_zero() -> None:
    text = endpoints_text([
        (AppId("/thumbnailer"), [], [instance("/thumbnailer", 1, "127.0.0.5"), instance("/thumbnailer", 2, "127.0.0.2")]),
        (AppId("/overlay"), [10003], [instance("/overlay", 1, "127.0.0.2")]),
    ])
    assert text == "overlay\t10003\t127.0.0.2:0\t\nthumbnailer\t \t127.0.0.2\t127.0.0.5\t\n"


def test_no_apps_is_an_empty_body() -> None:
    assert endpoints_text([]) == ""
