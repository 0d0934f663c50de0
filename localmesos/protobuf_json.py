"""The part of Mesos's JSON-to-protobuf conversion that decides whether a call is well formed.

Owns: the required fields of the v1 scheduler and executor messages that calls carry, so a call missing one is
refused with the real master's text: ``Failed to convert JSON into Call protobuf: Missing required fields:
accept.operations[0].launch.task_infos[0].name`` (all missing paths, joined with ``, ``), and the few type
errors a client can make (an object where a string belongs, and the reverse).

Schemas map a message name to its fields: ``name!`` is required, ``name[]`` is repeated, and the value is the
field's message type (or None for a scalar). Unknown JSON keys are ignored, as Mesos ignores them.
"""

from __future__ import annotations

from typing import Any

SCHEMAS: dict[str, dict[str, str | None]] = {
    "Call": {"framework_id": "FrameworkID", "subscribe": "Subscribe", "accept": "Accept",
             "decline": "Decline", "kill": "Kill", "shutdown": "Shutdown", "acknowledge": "Acknowledge",
             "reconcile": "Reconcile", "message": "Message", "revive": None, "suppress": None,
             "request": None, "accept_inverse_offers": None, "decline_inverse_offers": None,
             "acknowledge_operation_status": "AcknowledgeOperationStatus",
             "reconcile_operations": None, "update_framework": "UpdateFramework", "type": None},
    "FrameworkID": {"value!": None},
    "OfferID": {"value!": None},
    "TaskID": {"value!": None},
    "AgentID": {"value!": None},
    "ExecutorID": {"value!": None},
    "Subscribe": {"framework_info!": "FrameworkInfo"},
    "UpdateFramework": {"framework_info!": "FrameworkInfo"},
    "FrameworkInfo": {"user!": None, "name!": None, "id": "FrameworkID", "labels": "Labels"},
    "Accept": {"offer_ids[]": "OfferID", "operations[]": "Operation", "filters": None},
    "Decline": {"offer_ids[]": "OfferID", "filters": None},
    "Operation": {"launch": "Launch", "launch_group": "LaunchGroup", "id": None},
    "Launch": {"task_infos[]": "TaskInfo"},
    "LaunchGroup": {"executor!": "ExecutorInfo", "task_group!": "TaskGroupInfo"},
    "TaskGroupInfo": {"tasks[]": "TaskInfo"},
    "TaskInfo": {"name!": None, "task_id!": "TaskID", "agent_id!": "AgentID", "resources[]": "Resource",
                 "executor": "ExecutorInfo", "command": "CommandInfo", "health_check": "HealthCheck",
                 "kill_policy": "KillPolicy", "labels": "Labels"},
    "ExecutorInfo": {"executor_id!": "ExecutorID", "framework_id": "FrameworkID", "command": "CommandInfo",
                     "resources[]": "Resource"},
    "CommandInfo": {"environment": "Environment", "uris[]": "URI"},
    "URI": {"value!": None},
    "Environment": {"variables[]": "Variable"},
    "Variable": {"name!": None},
    "Resource": {"name!": None, "type!": None, "scalar": "Scalar", "ranges": "Ranges"},
    "Scalar": {"value!": None},
    "Ranges": {"range[]": "Range"},
    "Range": {"begin!": None, "end!": None},
    "HealthCheck": {"command": "CommandInfo", "http": "HTTPCheck", "tcp": "TCPCheck"},
    "HTTPCheck": {"port!": None},
    "TCPCheck": {"port!": None},
    "KillPolicy": {"grace_period": "Duration"},
    "Duration": {"nanoseconds!": None},
    "Labels": {"labels[]": "Label"},
    "Label": {"key!": None},
    "Kill": {"task_id!": "TaskID", "agent_id": "AgentID", "kill_policy": "KillPolicy"},
    "Shutdown": {"executor_id!": "ExecutorID", "agent_id!": "AgentID"},
    "Acknowledge": {"agent_id!": "AgentID", "task_id!": "TaskID", "uuid!": None},
    "AcknowledgeOperationStatus": {"uuid!": None, "operation_id!": None},
    "Reconcile": {"tasks[]": "ReconcileTask"},
    "ReconcileTask": {"task_id!": "TaskID", "agent_id": "AgentID"},
    "Message": {"agent_id!": "AgentID", "executor_id!": "ExecutorID", "data!": None},
    # executor::Call
    "ExecutorCall": {"framework_id!": "FrameworkID", "executor_id!": "ExecutorID",
                     "subscribe": "ExecutorSubscribe", "update": "ExecutorUpdate", "message": "ExecutorMessage",
                     "type": None},
    "ExecutorSubscribe": {"unacknowledged_tasks[]": "TaskInfo", "unacknowledged_updates[]": "ExecutorUpdate"},
    "ExecutorUpdate": {"status!": "TaskStatus"},
    "ExecutorMessage": {"data!": None},
    "TaskStatus": {"task_id!": "TaskID", "state!": None},
}


class ConversionError(ValueError):
    """The JSON cannot be converted into the protobuf message; ``str()`` is the real master's text."""


def check(message: str, value: Any, path: str = "") -> None:
    """Raises ConversionError if ``value`` is not a well formed JSON rendering of ``message``."""
    missing: list[str] = []
    _walk(message, value, path, missing)
    if missing:
        raise ConversionError("Missing required fields: " + ", ".join(missing))


def _walk(message: str, value: Any, path: str, missing: list[str]) -> None:
    if not isinstance(value, dict):
        raise ConversionError(f"Expecting a JSON object for field '{path.rsplit('.', 1)[-1] or message}'")
    for spec, child in SCHEMAS[message].items():
        name = spec.rstrip("!").removesuffix("[]")
        required = spec.endswith("!")
        repeated = spec.endswith("[]")
        here = f"{path}.{name}" if path else name
        present = name in value and value[name] is not None
        if not present:
            if required:
                missing.append(here)
            continue
        item = value[name]
        if child is None:
            if isinstance(item, (dict, list)) and name in ("value", "name", "user", "uuid", "data", "key"):
                raise ConversionError(f"Not expecting a JSON {'object' if isinstance(item, dict) else 'array'}"
                                      f" for field '{name}'")
            continue
        if repeated:
            if not isinstance(item, list):
                raise ConversionError(f"Not expecting a JSON {'object' if isinstance(item, dict) else 'value'}"
                                      f" for field '{name}'")
            for i, element in enumerate(item):
                _walk(child, element, f"{here}[{i}]", missing)
        else:
            if not isinstance(item, dict):
                raise ConversionError(f"Not expecting a JSON "
                                      f"{'array' if isinstance(item, list) else 'value'} for field '{name}'")
            _walk(child, item, here, missing)
