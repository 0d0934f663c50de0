"""HTTP surface of the localmesos master: ``/api/v1/scheduler`` and the read-only and operator endpoints.

Owns: turning HTTP requests into ``Master`` calls with the real master's checks, in its order (method,
content type, JSON, protobuf conversion, call validation, stream id, framework lookup, subscription), status
codes and texts; the SUBSCRIBE stream; ``/version``, ``/master/state`` (= ``/state``), ``/master/frameworks``,
``/master/slaves``, ``/master/tasks``, ``/master/redirect``, ``/master/health``, ``/master/flags``,
``/metrics/snapshot``, ``/master/teardown`` and the operator API ``POST /api/v1``. Every handler answers from
the master's state; a handler never raises past the error middleware (a bug is a 500 and is logged).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
import uuid
from typing import Any, Callable

from aiohttp import web

from . import roles as multi_role, wire
from .durations import stout_duration
from .agent_http import AGENT_CAPABILITIES
from .master import VERSION, Framework, Master, Task
from .master_restart import recovered_agents_json, recovered_slaves_json
from .protobuf_json import ConversionError, check, container_json, health_check_json
from .resources import Resources

log = logging.getLogger(__name__)

MASTER_KEY = web.AppKey("master", Master)

CALL_BODY_KEYS = {"SUBSCRIBE": "subscribe", "ACCEPT": "accept", "DECLINE": "decline", "KILL": "kill",
                  "SHUTDOWN": "shutdown", "ACKNOWLEDGE": "acknowledge", "MESSAGE": "message",
                  "REQUEST": "request", "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
                  "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
                  "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
                  "RECONCILE": "reconcile", "UPDATE_FRAMEWORK": "update_framework"}
BODYLESS_CALLS = {"TEARDOWN", "REVIVE", "SUPPRESS", "RECONCILE_OPERATIONS"}
VERSION_INFO = {"version": VERSION, "build_date": "2026-11-22 00:00:00", "build_time": 1795305600.0,
                "build_user": ""}


def build_master_app(master: Master) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[wire.error_middleware])
    app[MASTER_KEY] = master
    r = app.router
    for prefix in ("", "/master"):
        r.add_route("*", prefix + "/api/v1/scheduler", scheduler_call)
        r.add_get(prefix + "/state", state)
        r.add_get(prefix + "/state-summary", state_summary)
        r.add_get(prefix + "/frameworks", frameworks)
        r.add_get(prefix + "/slaves", slaves)
        r.add_get(prefix + "/tasks", tasks)
        r.add_get(prefix + "/redirect", redirect)
        r.add_get(prefix + "/health", health)
        r.add_get(prefix + "/flags", flags)
        r.add_get(prefix + "/roles", roles)
        r.add_post(prefix + "/teardown", teardown)
        r.add_route("*", prefix + "/api/v1", operator_call)
        r.add_route("*", prefix + "/api/v1/{rest:(?!scheduler$).*}", operator_call)
    r.add_get("/version", version)
    r.add_get("/metrics/snapshot", metrics_snapshot)
    return app


# -- scheduler API --------------------------------------------------------------------------------------
async def scheduler_call(request: web.Request) -> web.StreamResponse:
    master = request.app[MASTER_KEY]
    if request.method != "POST":
        return wire.method_not_allowed(request)
    try:
        body = await wire.read_call(request, "scheduler::Call")
        try:
            check("Call", body)
        except ConversionError as exc:
            raise wire.BadRequest(400, f"Failed to convert JSON into Call protobuf: {exc}") from exc
        call_type = body.get("type")
        if call_type not in CALL_BODY_KEYS and call_type not in BODYLESS_CALLS:
            if call_type == "UNKNOWN":
                raise wire.BadRequest(501, "Received 'UNKNOWN' call")
            raise wire.BadRequest(400, "Failed to validate scheduler::Call: Expecting 'type' to be present")
        if call_type != "SUBSCRIBE" and body.get("framework_id") is None:
            raise wire.BadRequest(400, "Failed to validate scheduler::Call: Expecting 'framework_id' to be present")
        key = CALL_BODY_KEYS.get(call_type)
        if key and call_type not in ("REQUEST",) and body.get(key) is None:
            raise wire.BadRequest(400, f"Failed to validate scheduler::Call: Expecting '{key}' to be present")
        if call_type == "SUBSCRIBE":
            return await _subscribe(request, master, body)
        stream_id = request.headers.get("Mesos-Stream-Id")
        if stream_id is None:
            raise wire.BadRequest(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
        framework_id = body["framework_id"]["value"]
        fw = master.frameworks.get(framework_id)
        if fw is None:
            raise wire.BadRequest(400, "Framework cannot be found")
        if fw.stream is None or not fw.connected:
            raise wire.BadRequest(403, "Framework is not subscribed")
        if fw.stream.stream_id != stream_id:
            raise wire.BadRequest(400, f"The stream ID '{stream_id}' included in this request didn't match the "
                                       f"stream ID currently associated with framework ID {framework_id}")
        return _dispatch(master, fw, call_type, body)
    except wire.BadRequest as exc:
        return exc.response()


async def _subscribe(request: web.Request, master: Master, body: dict[str, Any]) -> web.StreamResponse:
    if request.headers.get("Mesos-Stream-Id") is not None:
        raise wire.BadRequest(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
    info = body["subscribe"]["framework_info"]
    framework_id = (body.get("framework_id") or {}).get("value")
    info_id = (info.get("id") or {}).get("value")
    if framework_id != info_id:
        raise wire.BadRequest(400, "Failed to validate scheduler::Call: 'framework_id' differs from "
                                   "'subscribe.framework_info.id'")
    roles_error = _roles_error(info) or multi_role.suppressed_roles_error(
        info, body["subscribe"].get("suppressed_roles"))
    stream = wire.RecordIOStream(str(uuid.uuid4()), master.flags.heartbeat_interval, master.clock)
    if roles_error:
        stream.send({"type": "ERROR", "error": {"message": roles_error}})
        stream.close()
        return await stream.serve(request, lambda: None)
    fw, first = master.subscribe(info, framework_id, stream)
    if fw is None:
        for event in first:
            stream.send(event)
        stream.close()
        return await stream.serve(request, lambda: None)
    for event in first:
        stream.send(event)
    multi_role.set_suppressed(fw, body["subscribe"].get("suppressed_roles") or [])  # -- multi-role: set anew
    master.after_subscribe(fw)
    framework = fw
    return await stream.serve(request, lambda: master.stream_lost(framework, stream))


def _roles_error(info: dict[str, Any]) -> str | None:
    caps = {c.get("type") for c in info.get("capabilities") or [] if isinstance(c, dict)}
    if "roles" in info and "MULTI_ROLE" not in caps:
        return "'FrameworkInfo.roles' must not be set without the MULTI_ROLE capability"
    if "role" in info and "MULTI_ROLE" in caps:
        return "'FrameworkInfo.role' must not be set with the MULTI_ROLE capability"
    roles = info.get("roles") if "roles" in info else [info.get("role", "*")]
    if not isinstance(roles, list):
        return "'FrameworkInfo.roles' must be a list"
    if len(set(map(str, roles))) != len(roles):
        return "'FrameworkInfo.roles' contains duplicate items"
    for role in roles:
        role = str(role)
        if role != "*" and (not role or role.startswith("-") or role in (".", "..")
                            or any(c.isspace() for c in role)):
            return f"Role '{role}' is invalid"
    return None


def _dispatch(master: Master, fw: Framework, call_type: str, body: dict[str, Any]) -> web.Response:
    if call_type == "TEARDOWN":
        master.remove_framework(fw)
    elif call_type == "ACCEPT":
        accept = body["accept"]
        master.accept(fw, [o["value"] for o in accept.get("offer_ids") or []], accept.get("operations") or [],
                      accept.get("filters"))
    elif call_type == "DECLINE":
        decline = body["decline"]
        master.decline(fw, [o["value"] for o in decline.get("offer_ids") or []], decline.get("filters"))
    elif call_type == "REVIVE":  # -- multi-role: for the roles named (every role if none)
        master.revive(fw, [str(r) for r in (body.get("revive") or {}).get("roles") or []])
    elif call_type == "SUPPRESS":
        master.suppress(fw, [str(r) for r in (body.get("suppress") or {}).get("roles") or []])
    elif call_type == "KILL":
        kill = body["kill"]
        master.kill(fw, kill["task_id"]["value"], (kill.get("agent_id") or {}).get("value"),
                    kill.get("kill_policy"))
    elif call_type == "SHUTDOWN":
        shutdown = body["shutdown"]
        master.shutdown_executor(fw, shutdown["executor_id"]["value"], shutdown["agent_id"]["value"])
    elif call_type == "ACKNOWLEDGE":
        ack = body["acknowledge"]
        if not _valid_uuid(ack["uuid"]):
            raise wire.BadRequest(400, "Failed to validate scheduler::Call: Not a valid UUID")
        master.acknowledge(fw, ack["agent_id"]["value"], ack["task_id"]["value"], ack["uuid"])
    elif call_type == "RECONCILE":
        master.reconcile(fw, body["reconcile"].get("tasks") or [])
    elif call_type == "MESSAGE":
        msg = body["message"]
        master.message(fw, msg["agent_id"]["value"], msg["executor_id"]["value"], msg["data"])
    elif call_type == "UPDATE_FRAMEWORK":
        info = body["update_framework"]["framework_info"]
        if (info.get("id") or {}).get("value") != fw.id:
            raise wire.BadRequest(400, "Failed to validate scheduler::Call: 'framework_id' differs from "
                                       "'update_framework.framework_info.id'")
        for key in ("user", "checkpoint", "principal"):
            if key in info and info.get(key) != fw.info.get(key):
                raise wire.BadRequest(400, f"Updating 'FrameworkInfo.{key}' is unsupported")
        suppressed = body["update_framework"].get("suppressed_roles")  # -- multi-role (localmesos.roles)
        problem = _roles_error(info) or multi_role.suppressed_roles_error(info, suppressed)
        if problem:
            raise wire.BadRequest(400, f"Failed to validate scheduler::Call: {problem}")
        multi_role.update_framework(master, fw, info, [str(r) for r in suppressed or []])
        return wire.empty(200)
    elif call_type == "ACKNOWLEDGE_OPERATION_STATUS":
        ack = body["acknowledge_operation_status"]
        if ack.get("agent_id") is None:
            raise wire.BadRequest(400, "Failed to validate scheduler::Call: Expecting 'agent_id' to be present")
    # REQUEST, ACCEPT/DECLINE_INVERSE_OFFERS, RECONCILE_OPERATIONS: accepted, nothing to do here.
    return wire.accepted()


def _valid_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


# -- read-only endpoints ---------------------------------------------------------------------------------
async def version(request: web.Request) -> web.Response:
    """``/version`` is a plain JSON object: keys sorted (transcripts 10, 18c), unlike GET_VERSION."""
    return wire.json_response(dict(sorted(VERSION_INFO.items())), request=request)


async def health(request: web.Request) -> web.Response:
    return wire.empty(200)


async def redirect(request: web.Request) -> web.Response:
    master = request.app[MASTER_KEY]
    resp = wire.empty(307)
    resp.headers["Location"] = f"//{master.flags.hostname}:{master.flags.port}"
    return resp


def master_log_dir(master: Master) -> str:
    """Where a real master started like the recorded one (``--log_dir``) keeps its logs; shown, never written."""
    return os.path.join(os.path.dirname(master.flags.work_dir.rstrip("/")) or "/", "logs")


def master_flags(master: Master) -> dict[str, str]:
    f = master.flags
    return {"log_dir": master_log_dir(master), "agent_ping_timeout": stout_duration(f.agent_ping_timeout),
            "allocation_interval": stout_duration(f.allocation_interval), "hostname": f.hostname, "ip": f.ip,
            "port": str(f.port),
            "max_agent_ping_timeouts": str(f.max_agent_ping_timeouts), "registry": "in_memory",
            "min_allocatable_resources": "cpus:0.01|mem:32", "root_submissions": "true",
            "filter_gpu_resources": "true", "max_completed_frameworks": "50",
            "max_completed_tasks_per_framework": "1000", "agent_reregister_timeout": "10mins",
            "work_dir": f.work_dir, "authenticate_frameworks": "false", "authenticate_agents": "false",
            "authenticate_http_frameworks": "false", "allocator": "hierarchical", "framework_sorter": "drf",
            "role_sorter": "drf", "zk_session_timeout": "10secs", "version": "false", "help": "false"}


async def flags(request: web.Request) -> web.Response:
    return wire.json_response({"flags": dict(sorted(master_flags(request.app[MASTER_KEY]).items()))},
                              request=request)


def _task_json(task: Task) -> dict[str, Any]:
    out: dict[str, Any] = {"id": task.task_id, "name": task.name, "framework_id": task.framework_id,
                           "executor_id": task.executor_id, "slave_id": task.agent_id, "state": task.state,
                           "resources": task.resources.to_state_map(), "role": task.role,
                           "statuses": [_state_status(s) for s in task.statuses]}
    for key in ("labels", "discovery", "container", "health_check"):
        if task.info.get(key) is not None:
            value = task.info[key]
            out[key] = value.get("labels", []) if key == "labels" else container_json(value) if key == "container" \
                else value
    if task.info.get("health_check") is not None:
        out["health_check"] = health_check_json(task.info["health_check"])
    return out


def _state_status(status: dict[str, Any]) -> dict[str, Any]:
    """A TaskStatus as ``/master/state`` lists it: state, timestamp, labels, container_status (without the
    executor pid) and healthy only (transcript 11)."""
    out: dict[str, Any] = {"state": status["state"], "timestamp": status.get("timestamp")}
    if "labels" in status:
        out["labels"] = (status["labels"] or {}).get("labels", [])
    if "container_status" in status:
        out["container_status"] = {k: v for k, v in status["container_status"].items() if k != "executor_pid"}
    if "healthy" in status:
        out["healthy"] = status["healthy"]
    return out


def _capability_names(info: dict[str, Any]) -> list[str]:
    """FrameworkInfo capabilities by name, in the order the framework gave them (transcript 94)."""
    names: list[str] = []
    for cap in info.get("capabilities") or []:
        name = cap.get("type", "") if isinstance(cap, dict) else ""
        if name and name not in names:
            names.append(name)
    return names


def _framework_json(master: Master, fw: Framework) -> dict[str, Any]:
    info = fw.info
    used = fw.used()
    offered = fw.offered()
    out: dict[str, Any] = {
        "id": fw.id, "name": info.get("name", ""), "used_resources": used.to_state_map(),
        "offered_resources": offered.to_state_map(),
        "capabilities": _capability_names(info), "hostname": info.get("hostname", ""),
        "webui_url": info.get("webui_url", ""), "active": fw.active, "connected": fw.connected,
        "recovered": fw.recovered, "user": info.get("user", ""), "failover_timeout": float(info.get("failover_timeout", 0)),
        "checkpoint": bool(info.get("checkpoint", False)), "registered_time": fw.registered_time,
        "unregistered_time": fw.unregistered_time, "resources": (used + offered).to_state_map(),
    }
    if fw.reregistered_time is not None:
        out["reregistered_time"] = fw.reregistered_time
    if "principal" in info:
        out["principal"] = info["principal"]
    if "roles" in info:
        out["roles"] = info["roles"]
    else:
        out["role"] = info.get("role", "*")
    out["tasks"] = [_task_json(t) for t in fw.tasks.values()]
    out["unreachable_tasks"] = [_task_json(t) for t in fw.unreachable_tasks.values()]
    out["completed_tasks"] = [_task_json(t) for t in fw.completed_tasks]
    out["offers"] = [{"id": o.id, "framework_id": fw.id, "slave_id": o.agent_id,
                      "resources": o.resources.to_state_map()} for o in fw.offers.values()]
    out["executors"] = [{"executor_id": e["executor_id"]["value"], "name": e.get("name", ""),
                         "framework_id": fw.id, "command": e.get("command", {}), "slave_id": aid,
                         "resources": Resources.from_json(e.get("resources") or []).to_state_map(),
                         "type": e.get("type", "CUSTOM")}
                        for (aid, _), e in fw.executors.items()]
    if info.get("labels"):
        out["labels"] = info["labels"].get("labels", [])
    out["offer_constraints"] = {}
    return out


def _slave_json(master: Master, rec: Any, full: bool = False) -> dict[str, Any]:
    """An agent in ``/master/state`` (``full=False``) or ``/master/slaves`` (``full=True``: plus the
    ``*_resources_full`` arrays, transcript 16c)."""
    agent = rec.agent
    out: dict[str, Any] = {
        "id": rec.id, "hostname": agent.hostname, "port": agent.port,
        "attributes": {a.name: a.state_value() for a in agent.attributes},
        "pid": f"slave(1)@{agent.ip}:{agent.port}", "registered_time": rec.registered_time}
    if rec.reregistered_time is not None:
        out["reregistered_time"] = rec.reregistered_time
    out.update({
        "resources": agent.total.to_state_map(), "used_resources": rec.used.to_state_map(),
        "offered_resources": rec.offered.to_state_map(), "reserved_resources": {},
        "unreserved_resources": agent.total.to_state_map(), "active": rec.connected, "deactivated": False,
        "version": VERSION, "capabilities": list(AGENT_CAPABILITIES)})
    if full:
        out.update({"reserved_resources_full": {},
                    "unreserved_resources_full": agent.total.to_json(ranges_first=False),
                    "used_resources_full": rec.used.to_json(ranges_first=False, allocation_role="*"),
                    "offered_resources_full": rec.offered.to_json(ranges_first=False, allocation_role="*")})
    return out


def state_json(master: Master) -> dict[str, Any]:
    active = [r for r in master.agents.values() if r.connected]
    return {
        **VERSION_INFO, "start_time": master.start_time, "elected_time": master.elected_time, "id": master.id,
        "pid": master.pid, "hostname": master.flags.hostname, "capabilities": ["AGENT_UPDATE", "AGENT_DRAINING",
                                                                                "QUOTA_V2"],
        "activated_slaves": float(len(active)), "deactivated_slaves": 0.0,
        "unreachable_slaves": float(len(master.unreachable_agents)), "leader": master.pid,
        "leader_info": {"id": master.id, "pid": master.pid, "port": master.flags.port,
                        "hostname": master.flags.hostname},
        "log_dir": master_log_dir(master),
        "flags": dict(sorted(master_flags(master).items())),
        "slaves": [_slave_json(master, r) for r in master.agents.values()],
        "recovered_slaves": recovered_slaves_json(master),
        "frameworks": [_framework_json(master, f) for f in master.frameworks.values()],
        "completed_frameworks": [_framework_json(master, f) for f in master.completed_frameworks],
        "orphan_tasks": [], "unregistered_frameworks": []}


async def state(request: web.Request) -> web.Response:
    return wire.json_response(state_json(request.app[MASTER_KEY]), request=request)


async def state_summary(request: web.Request) -> web.Response:
    master = request.app[MASTER_KEY]
    body = {"hostname": master.flags.hostname, "slaves": [_slave_json(master, r) for r in master.agents.values()],
            "frameworks": [{k: v for k, v in _framework_json(master, f).items()
                            if k not in ("tasks", "completed_tasks", "unreachable_tasks", "offers", "executors")}
                           for f in master.frameworks.values()]}
    return wire.json_response(body, request=request)


async def frameworks(request: web.Request) -> web.Response:
    master = request.app[MASTER_KEY]
    return wire.json_response({"frameworks": [_framework_json(master, f) for f in master.frameworks.values()],
                               "completed_frameworks": [_framework_json(master, f)
                                                        for f in master.completed_frameworks],
                               "unregistered_frameworks": []}, request=request)


async def slaves(request: web.Request) -> web.Response:
    master = request.app[MASTER_KEY]
    return wire.json_response({"slaves": [_slave_json(master, r, full=True) for r in master.agents.values()],
                               "recovered_slaves": recovered_slaves_json(master)}, request=request)


async def tasks(request: web.Request) -> web.Response:
    master = request.app[MASTER_KEY]
    items: list[dict[str, Any]] = []
    for fw in list(master.frameworks.values()) + list(master.completed_frameworks):
        items += [_task_json(t) for t in fw.tasks.values()]
        items += [_task_json(t) for t in fw.unreachable_tasks.values()]
        items += [_task_json(t) for t in fw.completed_tasks]
    try:
        limit = int(request.query.get("limit", 100))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        return wire.text(400, "Failed to parse 'limit' or 'offset'")
    reverse = request.query.get("order", "des") == "des"
    if reverse:
        items.reverse()
    return wire.json_response({"tasks": items[offset:offset + limit]}, request=request)


async def roles(request: web.Request) -> web.Response:
    master = request.app[MASTER_KEY]
    names = sorted({r for f in master.frameworks.values() for r in f.info.get("roles") or [f.info.get("role", "*")]})
    return wire.json_response({"roles": [{"name": n, "weight": 1.0, "frameworks": [
        f.id for f in master.frameworks.values() if n in (f.info.get("roles") or [f.info.get("role", "*")])]}
        for n in names]}, request=request)


async def teardown(request: web.Request) -> web.Response:
    master = request.app[MASTER_KEY]
    form = await request.post()
    framework_id = str(form.get("frameworkId", ""))
    fw = master.frameworks.get(framework_id)
    if fw is None:
        return wire.text(400, f"No framework found with specified ID")
    master.remove_framework(fw)
    return wire.empty(200)


def metrics(master: Master) -> dict[str, float]:
    out: dict[str, float] = {"master/elected": 1.0, "master/uptime_secs": time.time() - master.start_time}
    connected = [r for r in master.agents.values() if r.connected]
    out["master/slaves_active"] = float(len(connected))
    out["master/slaves_connected"] = float(len(connected))
    out["master/slaves_disconnected"] = float(len(master.agents) - len(connected))
    out["master/slaves_inactive"] = 0.0
    out["master/slaves_unreachable"] = float(len(master.unreachable_agents))
    fws = list(master.frameworks.values())
    out["master/frameworks_active"] = float(sum(f.active for f in fws))
    out["master/frameworks_inactive"] = float(sum(not f.active for f in fws))
    out["master/frameworks_connected"] = float(sum(f.connected for f in fws))
    out["master/frameworks_disconnected"] = float(sum(not f.connected for f in fws))
    out["master/outstanding_offers"] = float(sum(len(f.offers) for f in fws))
    counts: dict[str, int] = {}
    for fw in fws + list(master.completed_frameworks):
        for t in list(fw.tasks.values()) + list(fw.unreachable_tasks.values()) + list(fw.completed_tasks):
            counts[t.state] = counts.get(t.state, 0) + 1
    for state_name in ("staging", "starting", "running", "killing", "finished", "failed", "killed", "lost",
                       "error", "dropped", "unreachable", "gone", "gone_by_operator"):
        out[f"master/tasks_{state_name}"] = float(counts.get("TASK_" + state_name.upper(), 0))
    total = Resources()
    used = Resources()
    for r in master.agents.values():
        total = total + r.agent.total
        used = used + r.used
    for name in ("cpus", "mem", "disk", "gpus"):
        have, taken = total.scalar(name), used.scalar(name)
        out[f"master/{name}_total"] = have
        out[f"master/{name}_used"] = taken
        out[f"master/{name}_percent"] = taken / have if have else 0.0
    out["master/valid_status_updates"] = float(master.metrics["valid_status_updates"])
    out["master/messages_launch_tasks"] = 0.0
    return out


async def metrics_snapshot(request: web.Request) -> web.Response:
    return wire.json_response(dict(sorted(metrics(request.app[MASTER_KEY]).items())), request=request)


# -- operator API (the calls tooling uses) ---------------------------------------------------------------
def _v1_task(task: Task) -> dict[str, Any]:
    """A Task as the operator API renders it (transcript 17f): full TaskStatus objects, the state and uuid of
    the latest agent update, resources with ``allocation_info``."""
    out: dict[str, Any] = {"name": task.name, "task_id": {"value": task.task_id},
                           "framework_id": {"value": task.framework_id}, "agent_id": {"value": task.agent_id}}
    if task.executor_id:
        out["executor_id"] = {"value": task.executor_id}
    out["state"] = task.state
    out["resources"] = task.resources.to_json(role=None, allocation_role=task.role, ranges_first=False)
    if task.statuses:
        out["statuses"] = list(task.statuses)
    if task.status_update_state:
        out["status_update_state"] = task.status_update_state
    if task.status_update_uuid:
        out["status_update_uuid"] = task.status_update_uuid
    for key in ("labels", "discovery", "container"):
        if task.info.get(key) is not None:
            out[key] = container_json(task.info[key]) if key == "container" else task.info[key]
    if task.info.get("health_check") is not None:
        out["health_check"] = health_check_json(task.info["health_check"])
    if task.role != "*":
        out["role"] = task.role
    return out


def _v1_agent(master: Master, rec: Any) -> dict[str, Any]:
    """An agent as the operator API renders it (transcript 17b): the master's AgentInfo carries
    ``checkpoint: true``; empty repeated fields are left out."""
    agent = rec.agent
    out: dict[str, Any] = {"agent_info": {**agent.agent_info(), "checkpoint": True}, "active": rec.connected,
                           "deactivated": False, "version": VERSION, "pid": f"slave(1)@{agent.ip}:{agent.port}",
                           "registered_time": {"nanoseconds": int(rec.registered_time * 1e9)}}
    if rec.reregistered_time is not None:
        out["reregistered_time"] = {"nanoseconds": int(rec.reregistered_time * 1e9)}
    out["total_resources"] = agent.total.to_json(ranges_first=False)
    if not rec.used.is_empty():
        out["allocated_resources"] = rec.used.to_json(ranges_first=False, allocation_role="*")
    if not rec.offered.is_empty():
        out["offered_resources"] = rec.offered.to_json(ranges_first=False, allocation_role="*")
    out["capabilities"] = [{"type": c} for c in AGENT_CAPABILITIES]
    return out


def _v1_framework(master: Master, fw: Framework) -> dict[str, Any]:
    """A framework as the operator API renders it (transcript 17e): reregistered_time is always there (the
    registration time if it never re-registered), unregistered_time once it is gone, empty lists left out."""
    out: dict[str, Any] = {"framework_info": fw.info, "active": fw.active, "connected": fw.connected,
                           "recovered": fw.recovered, "registered_time": {"nanoseconds": int(fw.registered_time * 1e9)},
                           "reregistered_time": {"nanoseconds": int((fw.reregistered_time or fw.registered_time)
                                                                    * 1e9)}}
    if fw.unregistered_time:
        out["unregistered_time"] = {"nanoseconds": int(fw.unregistered_time * 1e9)}
    offers = [master._offer_json(fw, master.agents[o.agent_id], o) for o in fw.offers.values()
              if o.agent_id in master.agents]
    if offers:
        out["offers"] = offers
    used, offered = fw.used(), fw.offered()
    if not used.is_empty():
        out["allocated_resources"] = used.to_json(role=None, allocation_role="*", ranges_first=False)
    if not offered.is_empty():
        out["offered_resources"] = offered.to_json(role=None, allocation_role="*", ranges_first=False)
    out["offer_constraints"] = {}
    return out


def _v1_tasks(master: Master) -> dict[str, Any]:
    live, unreachable, completed = [], [], []
    for fw in master.frameworks.values():
        live += [_v1_task(t) for t in fw.tasks.values()]
        unreachable += [_v1_task(t) for t in fw.unreachable_tasks.values()]
        completed += [_v1_task(t) for t in fw.completed_tasks]
    for fw in master.completed_frameworks:
        completed += [_v1_task(t) for t in fw.completed_tasks]
    return {"tasks": live, "unreachable_tasks": unreachable, "completed_tasks": completed}


def _v1_agents(master: Master) -> dict[str, Any]:
    return {"agents": [_v1_agent(master, r) for r in master.agents.values()],
            "recovered_agents": recovered_agents_json(master)}


def _v1_frameworks(master: Master) -> dict[str, Any]:
    return {"frameworks": [_v1_framework(master, f) for f in master.frameworks.values()],
            "completed_frameworks": [_v1_framework(master, f) for f in master.completed_frameworks]}


def _v1_executors(master: Master) -> dict[str, Any]:
    return {"executors": [{"executor_info": e, "agent_id": {"value": aid}}
                          for f in master.frameworks.values() for (aid, _), e in f.executors.items()]}


OPERATOR_CALLS: dict[str, Callable[[Master], Any]] = {
    "GET_HEALTH": lambda m: {"healthy": True},
    "GET_VERSION": lambda m: {"version_info": VERSION_INFO},
    "GET_FLAGS": lambda m: {"flags": [{"name": k, "value": v} for k, v in master_flags(m).items()]},
    "GET_METRICS": lambda m: {"metrics": [{"name": k, "value": v} for k, v in metrics(m).items()]},
    "GET_MASTER": lambda m: {"master_info": m.master_info(), "start_time": m.start_time,
                             "elected_time": m.elected_time},
    "GET_TASKS": _v1_tasks,
    "GET_AGENTS": _v1_agents,
    "GET_FRAMEWORKS": _v1_frameworks,
    "GET_EXECUTORS": _v1_executors,
    "GET_STATE": lambda m: {"get_tasks": _v1_tasks(m), "get_executors": _v1_executors(m),
                            "get_frameworks": _v1_frameworks(m), "get_agents": _v1_agents(m)},
}


async def operator_call(request: web.Request) -> web.Response:
    if request.method != "POST":
        return wire.method_not_allowed(request)
    master = request.app[MASTER_KEY]
    try:
        body = await wire.read_call(request, "master::Call")
        try:
            check("MasterCall", body)
        except ConversionError as exc:
            raise wire.BadRequest(400, f"Failed to convert JSON into Call protobuf: {exc}") from exc
    except wire.BadRequest as exc:
        return exc.response()
    call_type = body.get("type")
    handler = OPERATOR_CALLS.get(str(call_type))
    if handler is None:
        if call_type is None:
            return wire.text(400, "Failed to validate master::Call: Expecting 'type' to be present")
        return wire.text(501, f"Operator call {call_type} is not implemented by localmesos")
    key = str(call_type).lower()
    return wire.json_response({"type": call_type, key: handler(master)}, request=request, length_first=False)
