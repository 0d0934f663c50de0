"""The part of Mesos's JSON-to-protobuf conversion that decides whether a call is well formed.

Owns: the v1 scheduler and executor messages that calls carry, with their field types, so that a call is
accepted or refused exactly as stout's JSON-to-protobuf parser does it, with its texts:

* a missing required field anywhere: ``Missing required fields: accept.operations[0].launch.task_infos[0].name``
  (all missing paths, in field order, joined with ``, ``), checked after the whole object was read;
* a value of the wrong JSON type: ``Not expecting a JSON string for field 'refuse_seconds'`` (also ``object``,
  ``number``, ``array``, ``boolean``), the first one met with the object keys taken in sorted order;
* a bad base64 ``bytes`` value: ``Failed to base64 decode bytes field 'uuid': ...``; an unknown value of a
  required enum: ``Failed to find enum for 'X'`` (an unknown value of an optional enum is dropped, as proto2 does);
* ``null`` means unset; a single object given for a repeated message field counts as one element; unknown keys
  are kept but not looked at, as Mesos ignores them.

``check`` normalises the call in place (nulls and dropped enums removed, repeated fields always lists), so the
code behind it only ever sees values of the declared types. Also renders messages the way the master's JSON
writer does where that matters to clients (``health_check_json``: proto defaults filled in, proto field order).

Schemas map a message name to its fields, in proto field order: ``name!`` is required, ``name[]`` is repeated,
and the value is the field's message type or a scalar type: ``string``, ``bytes``, ``bool``, ``double``,
``int`` (any integer width), ``enum:<Name>`` (values in ``ENUMS``; an enum missing from ``ENUMS`` accepts any
string).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

ENUMS: dict[str, frozenset[str]] = {
    "CallType": frozenset({"UNKNOWN", "SUBSCRIBE", "TEARDOWN", "ACCEPT", "DECLINE", "ACCEPT_INVERSE_OFFERS",
                           "DECLINE_INVERSE_OFFERS", "REVIVE", "KILL", "SHUTDOWN", "ACKNOWLEDGE",
                           "ACKNOWLEDGE_OPERATION_STATUS", "RECONCILE", "RECONCILE_OPERATIONS", "MESSAGE",
                           "REQUEST", "SUPPRESS", "UPDATE_FRAMEWORK"}),
    "ExecutorCallType": frozenset({"UNKNOWN", "SUBSCRIBE", "UPDATE", "MESSAGE", "HEARTBEAT"}),
    "OperationType": frozenset({"UNKNOWN", "LAUNCH", "LAUNCH_GROUP", "RESERVE", "UNRESERVE", "CREATE", "DESTROY",
                                "GROW_VOLUME", "SHRINK_VOLUME", "CREATE_DISK", "DESTROY_DISK"}),
    "ValueType": frozenset({"SCALAR", "RANGES", "SET", "TEXT"}),
    "HealthCheckType": frozenset({"UNKNOWN", "COMMAND", "HTTP", "TCP"}),
    "Protocol": frozenset({"IPv4", "IPv6"}),
    "ExecutorType": frozenset({"UNKNOWN", "DEFAULT", "CUSTOM"}),
    "VariableType": frozenset({"UNKNOWN", "VALUE", "SECRET"}),
    "ContainerType": frozenset({"DOCKER", "MESOS"}),
    "DockerNetwork": frozenset({"HOST", "BRIDGE", "NONE", "USER"}),
    "ImageType": frozenset({"APPC", "DOCKER"}),
    "VolumeMode": frozenset({"RW", "RO"}),
    "DiscoveryVisibility": frozenset({"FRAMEWORK", "CLUSTER", "EXTERNAL"}),
    "FrameworkCapability": frozenset({"UNKNOWN", "REVOCABLE_RESOURCES", "TASK_KILLING_STATE", "GPU_RESOURCES",
                                      "SHARED_RESOURCES", "PARTITION_AWARE", "MULTI_ROLE",
                                      "RESERVATION_REFINEMENT", "REGION_AWARE"}),
    "TaskState": frozenset({"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED",
                            "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED",
                            "TASK_UNREACHABLE", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"}),
    "Source": frozenset({"SOURCE_MASTER", "SOURCE_AGENT", "SOURCE_EXECUTOR"}),
    "MasterCallType": frozenset({
        "UNKNOWN", "GET_HEALTH", "GET_FLAGS", "SET_LOGGING_LEVEL", "LIST_FILES", "READ_FILE", "GET_METRICS",
        "GET_LOGGING_LEVEL", "GET_VERSION", "GET_STATE", "GET_AGENTS", "GET_FRAMEWORKS", "GET_EXECUTORS",
        "GET_OPERATIONS", "GET_TASKS", "GET_ROLES", "GET_WEIGHTS", "UPDATE_WEIGHTS", "GET_MASTER", "SUBSCRIBE",
        "RESERVE_RESOURCES", "UNRESERVE_RESOURCES", "CREATE_VOLUMES", "DESTROY_VOLUMES", "GROW_VOLUME",
        "SHRINK_VOLUME", "GET_MAINTENANCE_STATUS", "GET_MAINTENANCE_SCHEDULE", "UPDATE_MAINTENANCE_SCHEDULE",
        "START_MAINTENANCE", "STOP_MAINTENANCE", "DRAIN_AGENT", "DEACTIVATE_AGENT", "REACTIVATE_AGENT", "GET_QUOTA",
        "UPDATE_QUOTA", "SET_QUOTA", "REMOVE_QUOTA", "TEARDOWN", "MARK_AGENT_GONE"}),
}

_ID = {"value!": "string"}
SCHEMAS: dict[str, dict[str, str]] = {
    # scheduler::Call
    "Call": {"framework_id": "FrameworkID", "type": "enum:CallType", "subscribe": "Subscribe", "accept": "Accept",
             "decline": "Decline", "accept_inverse_offers": "OpaqueMessage",
             "decline_inverse_offers": "OpaqueMessage", "revive": "Revive", "kill": "Kill", "shutdown": "Shutdown",
             "acknowledge": "Acknowledge", "reconcile": "Reconcile", "message": "Message", "request": "OpaqueMessage",
             "suppress": "Suppress", "acknowledge_operation_status": "AcknowledgeOperationStatus",
             "reconcile_operations": "OpaqueMessage", "update_framework": "UpdateFramework"},
    "OpaqueMessage": {},
    "FrameworkID": _ID, "OfferID": _ID, "TaskID": _ID, "AgentID": _ID, "ExecutorID": _ID, "OperationID": _ID,
    "Subscribe": {"framework_info!": "FrameworkInfo", "suppressed_roles[]": "string"},
    "UpdateFramework": {"framework_info!": "FrameworkInfo", "suppressed_roles[]": "string"},
    "FrameworkInfo": {"user!": "string", "name!": "string", "id": "FrameworkID", "failover_timeout": "double",
                      "checkpoint": "bool", "role": "string", "hostname": "string", "principal": "string",
                      "webui_url": "string", "capabilities[]": "FrameworkCapability", "labels": "Labels",
                      "roles[]": "string"},
    "FrameworkCapability": {"type": "enum:FrameworkCapability"},
    "Revive": {"roles[]": "string"},
    "Suppress": {"roles[]": "string"},
    "Accept": {"offer_ids[]": "OfferID", "operations[]": "Operation", "filters": "Filters"},
    "Decline": {"offer_ids[]": "OfferID", "filters": "Filters"},
    "Filters": {"refuse_seconds": "double"},
    "Operation": {"type": "enum:OperationType", "launch": "Launch", "launch_group": "LaunchGroup",
                  "id": "OperationID"},
    "Launch": {"task_infos[]": "TaskInfo"},
    "LaunchGroup": {"executor!": "ExecutorInfo", "task_group!": "TaskGroupInfo"},
    "TaskGroupInfo": {"tasks[]": "TaskInfo"},
    "TaskInfo": {"name!": "string", "task_id!": "TaskID", "agent_id!": "AgentID", "resources[]": "Resource",
                 "executor": "ExecutorInfo", "command": "CommandInfo", "data": "bytes",
                 "health_check": "HealthCheck", "kill_policy": "KillPolicy", "labels": "Labels",
                 "max_completion_time": "DurationInfo", "container": "ContainerInfo", "discovery": "DiscoveryInfo"},
    # -- containers (mesos.proto ContainerInfo, Volume, Image, NetworkInfo, DiscoveryInfo)
    "ContainerInfo": {"type!": "enum:ContainerType", "volumes[]": "Volume", "hostname": "string",
                      "docker": "DockerInfo", "mesos": "MesosInfo", "network_infos[]": "NetworkInfo"},
    "DockerInfo": {"image!": "string", "network": "enum:DockerNetwork", "port_mappings[]": "PortMapping",
                   "privileged": "bool", "parameters[]": "Parameter", "force_pull_image": "bool",
                   "volume_driver": "string"},
    "PortMapping": {"host_port!": "int", "container_port!": "int", "protocol": "string"},
    "Parameter": {"key!": "string", "value!": "string"},
    "MesosInfo": {"image": "Image"},
    "Image": {"type!": "enum:ImageType", "appc": "AppcImage", "docker": "DockerImage", "cached": "bool"},
    "AppcImage": {"name!": "string", "id": "string", "labels": "Labels"},
    "DockerImage": {"name!": "string"},
    "Volume": {"container_path!": "string", "host_path": "string", "mode!": "enum:VolumeMode", "image": "Image"},
    "NetworkInfo": {"ip_addresses[]": "IPAddress", "name": "string", "groups[]": "string", "labels": "Labels",
                    "port_mappings[]": "PortMapping"},
    "IPAddress": {"protocol": "enum:Protocol", "ip_address": "string"},
    "DiscoveryInfo": {"visibility!": "enum:DiscoveryVisibility", "name": "string", "environment": "string",
                      "location": "string", "version": "string", "ports": "Ports", "labels": "Labels"},
    "Ports": {"ports[]": "Port"},
    "Port": {"number!": "int", "name": "string", "protocol": "string", "visibility": "enum:DiscoveryVisibility",
             "labels": "Labels"},
    "ExecutorInfo": {"executor_id!": "ExecutorID", "data": "bytes", "resources[]": "Resource",
                     "command": "CommandInfo", "framework_id": "FrameworkID", "name": "string", "source": "string",
                     "labels": "Labels", "shutdown_grace_period": "DurationInfo", "type": "enum:ExecutorType",
                     "container": "ContainerInfo"},
    "CommandInfo": {"uris[]": "URI", "environment": "Environment", "value": "string", "user": "string",
                    "shell": "bool", "arguments[]": "string"},
    "URI": {"value!": "string", "executable": "bool", "extract": "bool", "cache": "bool", "output_file": "string"},
    "Environment": {"variables[]": "Variable"},
    "Variable": {"name!": "string", "value": "string", "type": "enum:VariableType"},
    "Resource": {"name!": "string", "type!": "enum:ValueType", "scalar": "Scalar", "ranges": "Ranges",
                 "set": "Set", "role": "string", "allocation_info": "AllocationInfo"},
    "AllocationInfo": {"role": "string"},
    "Scalar": {"value!": "double"},
    "Ranges": {"range[]": "Range"},
    "Range": {"begin!": "int", "end!": "int"},
    "Set": {"item[]": "string"},
    "HealthCheck": {"delay_seconds": "double", "interval_seconds": "double", "timeout_seconds": "double",
                    "consecutive_failures": "int", "grace_period_seconds": "double", "command": "CommandInfo",
                    "type": "enum:HealthCheckType", "http": "HTTPCheck", "tcp": "TCPCheck"},
    "HTTPCheck": {"port!": "int", "path": "string", "statuses[]": "int", "scheme": "string",
                  "protocol": "enum:Protocol"},
    "TCPCheck": {"port!": "int", "protocol": "enum:Protocol"},
    "KillPolicy": {"grace_period": "DurationInfo"},
    "DurationInfo": {"nanoseconds!": "int"},
    "TimeInfo": {"nanoseconds!": "int"},
    "Labels": {"labels[]": "Label"},
    "Label": {"key!": "string", "value": "string"},
    "Kill": {"task_id!": "TaskID", "agent_id": "AgentID", "kill_policy": "KillPolicy"},
    "Shutdown": {"executor_id!": "ExecutorID", "agent_id!": "AgentID"},
    "Acknowledge": {"agent_id!": "AgentID", "task_id!": "TaskID", "uuid!": "bytes"},
    "AcknowledgeOperationStatus": {"agent_id": "AgentID", "uuid!": "bytes", "operation_id!": "OperationID"},
    "Reconcile": {"tasks[]": "ReconcileTask"},
    "ReconcileTask": {"task_id!": "TaskID", "agent_id": "AgentID"},
    "Message": {"agent_id!": "AgentID", "executor_id!": "ExecutorID", "data!": "bytes"},
    # master::Call (the operator API): only the type matters to localmesos
    "MasterCall": {"type": "enum:MasterCallType"},
    # executor::Call
    "ExecutorCall": {"executor_id!": "ExecutorID", "framework_id!": "FrameworkID", "type": "enum:ExecutorCallType",
                     "subscribe": "ExecutorSubscribe", "update": "ExecutorUpdate", "message": "ExecutorMessage"},
    "ExecutorSubscribe": {"unacknowledged_tasks[]": "TaskInfo", "unacknowledged_updates[]": "ExecutorUpdate"},
    "ExecutorUpdate": {"status!": "TaskStatus"},
    "ExecutorMessage": {"data!": "bytes"},
    "TaskStatus": {"task_id!": "TaskID", "state!": "enum:TaskState", "data": "bytes", "message": "string",
                   "agent_id": "AgentID", "timestamp": "double", "executor_id": "ExecutorID", "healthy": "bool",
                   "source": "enum:Source", "reason": "enum:Reason", "uuid": "bytes", "labels": "Labels",
                   "unreachable_time": "TimeInfo"},
}

_INT_RANGE = (-(2 ** 63), 2 ** 64 - 1)


class ConversionError(ValueError):
    """The JSON cannot be converted into the protobuf message; ``str()`` is the real master's text."""


def check(message: str, value: Any) -> None:
    """Raises ConversionError unless ``value`` converts into ``message``; normalises ``value`` in place."""
    if not isinstance(value, dict):
        raise ConversionError("Expecting a JSON object")
    missing: list[str] = []
    parsed = _message(message, value, "", missing)
    if missing:
        raise ConversionError("Missing required fields: " + ", ".join(missing))
    value.clear()
    value.update(parsed)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class _Field:
    """One field of a schema, parsed once from its spec (``name``, ``name!``, ``name[]``)."""

    __slots__ = ("name", "kind", "repeated", "required")

    def __init__(self, spec: str, kind: str) -> None:
        self.name = spec.rstrip("!").removesuffix("[]")
        self.kind = kind
        self.repeated = spec.endswith("[]")
        self.required = spec.endswith("!")


_COMPILED: dict[str, tuple[dict[str, _Field], tuple[str, ...]]] = {
    message: ({f.name: f for f in fields}, tuple(f.name for f in fields if f.required))
    for message, fields in ((m, [_Field(spec, kind) for spec, kind in specs.items()]) for m, specs in SCHEMAS.items())
}


def _message(message: str, value: dict[str, Any], path: str, missing: list[str]) -> dict[str, Any]:
    """One message: fields parsed in the JSON object's sorted key order (stout reads a std::map)."""
    fields, required_names = _COMPILED[message]
    out = dict(value)
    for key in sorted(value):
        spec = fields.get(key)
        if spec is None:
            continue  # unknown to the schema: kept, never looked at
        item = value[key]
        kind = spec.kind
        here = f"{path}.{key}" if path else key
        if item is None:
            del out[key]
            continue
        if isinstance(item, list):
            if not spec.repeated:
                raise ConversionError(f"Not expecting a JSON array for field '{key}'")
            elements: list[Any] = []
            for element in item:
                if element is None:
                    continue
                if isinstance(element, list):
                    raise ConversionError(f"Not expecting a JSON array for field '{key}'")
                parsed = _field(key, kind, element, f"{here}[{len(elements)}]", missing, spec.required)
                if parsed is not _DROP:
                    elements.append(parsed)
            out[key] = elements
            continue
        parsed = _field(key, kind, item, f"{here}[0]" if spec.repeated else here, missing, spec.required)
        if parsed is _DROP:
            del out[key]
        else:
            out[key] = [parsed] if spec.repeated else parsed
    for name in required_names:
        if name not in out:
            missing.append(f"{path}.{name}" if path else name)
    return out


_DROP = object()


def _field(name: str, kind: str, value: Any, path: str, missing: list[str], required: bool) -> Any:
    """One (non-null, non-array) JSON value for a field of type ``kind``."""
    json_kind = _json_kind(value)
    if kind in SCHEMAS:
        if json_kind != "object":
            raise ConversionError(f"Not expecting a JSON {json_kind} for field '{name}'")
        return _message(kind, value, path, missing)
    if json_kind == "object":
        raise ConversionError(f"Not expecting a JSON object for field '{name}'")
    if kind == "string":
        if json_kind != "string":
            raise ConversionError(f"Not expecting a JSON {json_kind} for field '{name}'")
        return value
    if kind == "bytes":
        if json_kind != "string":
            raise ConversionError(f"Not expecting a JSON {json_kind} for field '{name}'")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConversionError(f"Failed to base64 decode bytes field '{name}': {exc}") from None
        return value
    if kind.startswith("enum:"):
        if json_kind != "string":
            raise ConversionError(f"Not expecting a JSON {json_kind} for field '{name}'")
        values = ENUMS.get(kind[5:])
        if values is not None and value not in values:
            if required:
                raise ConversionError(f"Failed to find enum for '{value}'")
            return _DROP  # proto2: an unknown value of an optional enum leaves the field unset
        return value
    if kind == "bool":
        if json_kind != "boolean":
            raise ConversionError(f"Not expecting a JSON {json_kind} for field '{name}'")
        return value
    if json_kind != "number":  # double / int
        raise ConversionError(f"Not expecting a JSON {json_kind} for field '{name}'")
    if kind == "double":
        if not math.isfinite(value):  # 1e400: no timer, filter or resource can hold it
            raise ConversionError(f"Not expecting a JSON number for field '{name}'")
        return float(value)
    number = value
    if isinstance(number, float):
        if not math.isfinite(number):
            raise ConversionError(f"Not expecting a JSON number for field '{name}'")
        number = int(number)
    if not _INT_RANGE[0] <= number <= _INT_RANGE[1]:
        raise ConversionError(f"Not expecting a JSON number for field '{name}'")
    return number


def container_json(container: dict[str, Any]) -> dict[str, Any]:
    """ContainerInfo with the proto defaults filled in, as the master and agent render it (transcript 90:
    ``Image.cached`` true, ``DockerInfo.privileged`` false; ``DockerInfo.network`` HOST and
    ``IPAddress.protocol`` IPv4 are the protos' other explicit defaults)."""
    out = dict(container)
    if isinstance(out.get("docker"), dict):
        docker = {"network": "HOST", "privileged": False, **out["docker"]}
        order = ("image", "network", "port_mappings", "privileged", "parameters", "force_pull_image")
        out["docker"] = {**{k: docker[k] for k in order if k in docker}, **docker}
    if isinstance((out.get("mesos") or {}).get("image"), dict):
        out["mesos"] = {**out["mesos"], "image": {"cached": True, **out["mesos"]["image"]}}
    if out.get("network_infos"):
        out["network_infos"] = [{**n, "ip_addresses": [{"protocol": "IPv4", **a} for a in n["ip_addresses"]]}
                                if n.get("ip_addresses") else n for n in out["network_infos"]]
    return out


def health_check_json(check_: dict[str, Any]) -> dict[str, Any]:
    """HealthCheck with the proto defaults filled in, as the master renders it (transcripts 11, 17)."""
    out: dict[str, Any] = {"delay_seconds": 15.0, "interval_seconds": 10.0, "timeout_seconds": 20.0,
                           "consecutive_failures": 3, "grace_period_seconds": 10.0}
    out.update(check_)
    for key in ("delay_seconds", "interval_seconds", "timeout_seconds", "grace_period_seconds"):
        try:
            out[key] = float(out[key])
        except (TypeError, ValueError):
            pass
    if isinstance(out.get("command"), dict):
        out["command"] = {"shell": True, **out["command"]}
    for key, order in (("http", ("protocol", "scheme", "port", "path", "statuses")), ("tcp", ("protocol", "port"))):
        if isinstance(out.get(key), dict):
            given = {"protocol": "IPv4", **out[key]}
            out[key] = {**{k: given[k] for k in order if k in given},
                        **{k: v for k, v in given.items() if k not in order}}
    return out
