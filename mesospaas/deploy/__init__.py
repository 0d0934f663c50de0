"""Deployments: what a change means, the ordered plan that carries it out, and how far it has come.

- ``changes``: restart vs scale (reference §2.5) and Marathon's version fields (``assign_versions``).
- ``plan``: ``plan(original, target, now, new_id)`` (also the dry run), ``conflicts``, ``revert``.
- ``progress``: level-triggered step completion and the reconciler's inputs (``progress``).

The shell's loop for an API change: edit the root with the ``Group`` helpers, ``assign_versions``, then
``plan``; reject on ``DependencyCycle`` (422) or ``conflicts`` (409 unless force); persist the target root
and the plan with step index 0; then on every tick call ``progress`` with the instances, persist the index
when it moved, reconcile each affected app with its ``ReconcileInput``, and drop the plan once finished.
"""

from mesospaas.deploy.changes import (
    ChangeKind,
    VersionInfo,
    assign_versions,
    changed_fields,
    classify,
    marathon_timestamp,
    version_info,
    with_version,
)
from mesospaas.deploy.plan import apps_by_action, conflicts, plan, revert, reverted_root, versions_in_flight
from mesospaas.deploy.prune import pruned
from mesospaas.deploy.progress import (
    ActionStatus,
    Progress,
    ReconcileInput,
    StepStatus,
    action_status,
    advance,
    is_finished,
    progress,
    reconcile_inputs,
    step_status,
)
from mesospaas.model.deployment import (
    ActionKind,
    DeploymentAction,
    DeploymentId,
    DeploymentPlan,
    PlanStep,
    random_deployment_ids,
)
from mesospaas.model.group import CYCLE_MESSAGE, ROOT, DependencyCycle, Group, GroupId, group_id, resolve_path

__all__ = [
    "CYCLE_MESSAGE",
    "ROOT",
    "ActionKind",
    "ActionStatus",
    "ChangeKind",
    "DependencyCycle",
    "DeploymentAction",
    "DeploymentId",
    "DeploymentPlan",
    "Group",
    "GroupId",
    "PlanStep",
    "Progress",
    "ReconcileInput",
    "StepStatus",
    "VersionInfo",
    "action_status",
    "advance",
    "apps_by_action",
    "assign_versions",
    "changed_fields",
    "classify",
    "conflicts",
    "group_id",
    "is_finished",
    "marathon_timestamp",
    "plan",
    "progress",
    "random_deployment_ids",
    "reconcile_inputs",
    "resolve_path",
    "pruned",
    "revert",
    "versions_in_flight",
    "reverted_root",
    "step_status",
    "version_info",
    "with_version",
]
