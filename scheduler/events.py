"""The event bus: what happened, for ``/v2/events`` subscribers (Marathon's event vocabulary).

Owns: ``EventBus`` (publish a Marathon-shaped event dict; subscribe with an optional set of event types) and
the builders for the events the scheduler emits (``status_update_event``, ``instance_changed_event``,
``scheduler_*``). Every event carries ``eventType`` and an ISO ``timestamp``.

A subscriber that falls ``max_outstanding`` events behind is closed, as Marathon 1.8+ does; clients reconnect
and re-read state (events are cache-invalidation hints). Publishing never blocks and never raises.

Event types of our own (job runs, anything Marathon never sent) reach only subscribers that name them in
their filter (``event_type=``): a subscriber without a filter gets Marathon's types alone
(``MARATHON_EVENT_TYPES``), because the released ``marathon`` client ends its stream on an unknown type.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from mesospaas.model import Instance
from mesospaas.model.condition import mesos_state
from mesospaas.timestamps import iso_timestamp  # shared with the API's event stream

log = logging.getLogger(__name__)
DEFAULT_MAX_OUTSTANDING = 4096


MARATHON_EVENT_TYPES = frozenset({
    "event_stream_attached", "event_stream_detached", "subscribe_event", "unsubscribe_event", "api_post_event",
    "pod_created_event", "pod_updated_event", "pod_deleted_event", "status_update_event", "instance_changed_event",
    "instance_health_changed_event", "unknown_instance_terminated_event", "add_health_check_event",
    "remove_health_check_event", "failed_health_check_event", "health_status_changed_event",
    "unhealthy_instance_kill_event", "unhealthy_task_kill_event", "group_change_success", "group_change_failed",
    "deployment_success", "deployment_failed", "deployment_info", "deployment_step_success",
    "deployment_step_failure", "app_terminated_event", "framework_message_event", "scheduler_registered_event",
    "scheduler_reregistered_event", "scheduler_disconnected_event",
})
"""What Marathon itself sends (reference §1.4): the types a subscriber without a filter receives."""


class Subscription:
    def __init__(self, bus: "EventBus", types: frozenset[str] | None, max_outstanding: int) -> None:
        self._bus = bus
        self.types = types
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(max_outstanding)
        self.overflowed = False

    def receives(self, event_type: str) -> bool:
        if self.types is None:
            return event_type in MARATHON_EVENT_TYPES
        return event_type in self.types

    def offer(self, event: dict[str, Any]) -> None:
        if not self.receives(str(event.get("eventType"))):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self._bus.unsubscribe(self)
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)  # wakes the reader, which then closes the stream

    async def events(self, keepalive: float) -> AsyncIterator[dict[str, Any] | None]:
        """Yields events, and None every ``keepalive`` seconds of silence; ends if the subscriber fell behind."""
        while True:
            try:
                event = await asyncio.wait_for(self.queue.get(), keepalive)
            except asyncio.TimeoutError:
                yield None
                continue
            if event is None:
                return
            yield event

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    def __init__(self, max_outstanding: int = DEFAULT_MAX_OUTSTANDING) -> None:
        self._subscriptions: set[Subscription] = set()
        self.max_outstanding = max_outstanding
        self.published = 0

    def subscribe(self, types: Iterable[str] | None = None) -> Subscription:
        wanted = frozenset(types) if types else None
        subscription = Subscription(self, wanted, self.max_outstanding)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def wants(self, event_type: str) -> bool:
        """Whether any subscriber would receive ``event_type``: expensive events are built only then."""
        return any(s.receives(event_type) for s in self._subscriptions)

    def publish(self, event_type: str, now: float | None = None, **fields: Any) -> dict[str, Any]:
        event = {"eventType": event_type, "timestamp": iso_timestamp(now if now is not None else time.time()),
                 **fields}
        self.published += 1
        for subscription in list(self._subscriptions):
            subscription.offer(event)
        return event


def status_update_event(bus: EventBus, instance: Instance, status: dict[str, Any], now: float) -> None:
    if not bus.wants("status_update_event"):
        return  # built only for a subscriber (one per task update: thousands a second at scale)
    agent = instance.agent
    bus.publish("status_update_event", now, slaveId=(status.get("agent_id") or {}).get("value", ""),
                taskId=status["task_id"]["value"], taskStatus=status.get("state", ""),
                message=status.get("message", ""), appId=instance.app_id,
                host=agent.hostname if agent else "",
                ipAddresses=[{"ipAddress": a.get("ip_address"), "protocol": a.get("protocol", "IPv4")}
                             for n in (status.get("container_status") or {}).get("network_infos", [])
                             for a in n.get("ip_addresses", [])],
                ports=list(instance.host_ports), version=instance.app_version)


def instance_changed_event(bus: EventBus, instance: Instance, now: float) -> None:
    if not bus.wants("instance_changed_event"):
        return
    agent = instance.agent
    bus.publish("instance_changed_event", now, instanceId=instance.id, condition=instance.condition.value,
                runSpecId=instance.app_id, agentId=agent.agent_id if agent else "",
                host=agent.hostname if agent else "", runSpecVersion=instance.app_version)


__all__ = ["MARATHON_EVENT_TYPES", "EventBus", "Subscription", "instance_changed_event", "iso_timestamp",
           "mesos_state",
           "status_update_event"]
