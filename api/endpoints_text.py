"""Marathon's ``Accept: text/plain`` task lists (``GET /v2/tasks``, ``GET /v2/apps/{id}/tasks``).

Owns the one layout both routes write, Marathon's (``EndpointsHelper.appsToEndpointString``): for each app,
sorted by id, one line per service port::

    shop_web<TAB>10000<TAB>127.0.0.2:31000<TAB>127.0.0.3:31004<TAB>

- the app id without its leading slash, ``/`` replaced by ``_`` (Marathon's ``safePath``);
- the service port, then ``host:port`` of every RUNNING task (staging ones are left out), sorted, each
  followed by a tab; ``port`` is the task's host port at that index, ``0`` when it has none (an app on a
  container network without host ports);
- an app without service ports has one line: ``id<TAB> <TAB>`` then every running task's ``host<TAB>``;
- an app without running tasks still has its lines (nothing after the service port).

Pure: app ids, service ports and instances in, text out. Fails: nothing raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mesospaas.model import AppId, Condition, Instance
from mesospaas.model.ids import safe_path

DELIMITER = "\t"


def endpoints_text(apps: Iterable[tuple[AppId, Sequence[int], Iterable[Instance]]]) -> str:
    lines: list[str] = []
    for app_id, service_ports, instances in sorted(apps, key=lambda app: str(app[0])):
        running = [i for i in instances if i.condition is Condition.RUNNING and i.agent is not None]
        name = safe_path(app_id)
        if not service_ports:
            hosts = sorted(i.agent.hostname for i in running if i.agent is not None)
            lines.append(name + DELIMITER + " " + DELIMITER + "".join(h + DELIMITER for h in hosts))
            continue
        for index, port in enumerate(service_ports):
            addresses = sorted(f"{i.agent.hostname}:{_host_port(i, index)}" for i in running if i.agent is not None)
            lines.append(name + DELIMITER + str(port) + DELIMITER + "".join(a + DELIMITER for a in addresses))
    return "".join(line + "\n" for line in lines)


def _host_port(instance: Instance, index: int) -> int:
    ports = instance.host_ports
    return ports[index] if index < len(ports) else 0


__all__ = ["endpoints_text"]
