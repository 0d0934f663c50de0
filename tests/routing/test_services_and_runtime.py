"""The renderer's decisions one by one: which apps are left out and why, health gating, draining, template
precedence (label > environment > file > default), and the runtime API plan for server-only changes."""

from __future__ import annotations

from mesospaas.routing import RenderOptions, ServerState, apps_from_json, build_services, default_templates, render
from mesospaas.routing.render import slot_capacity
from mesospaas.routing.runtime_plan import runtime_plan
from tests.routing.apps import app, http_check, task

OPTIONS = RenderOptions(admin_socket="/run/haproxy/admin.sock")


def services(*apps: dict, groups: tuple[str, ...] = ("external",), gating: bool = True):  # type: ignore[no-untyped-def]
    return build_services(apps_from_json({"apps": list(apps)}).apps, groups, health_gating=gating)


def test_bad_labels_and_port_clashes_leave_only_those_apps_out_with_a_reason() -> None:
    built = services(app("/good", 11400, tasks=[task("g", "10.0.0.1", 1)]),
                     app("/bad", 11401, labels={"HAPROXY_0_PORT": "eighty"}, tasks=[task("b", "10.0.0.1", 2)]),
                     app("/zero", 0, tasks=[task("z", "10.0.0.1", 3)]),
                     app("/second", 11400, tasks=[task("s", "10.0.0.1", 4)]),
                     app("/mode", 11402, labels={"HAPROXY_0_MODE": "udp"}, tasks=[task("m", "10.0.0.1", 5)]))
    assert [s.app_id for s in built.services] == ["/good"]
    reasons = {e.app_id: e.reason for e in built.excluded}
    assert reasons == {"/bad": "HAPROXY_0_PORT='eighty' is not a number",
                       "/zero": "service port 0 of port index 0 is not assigned",
                       "/second": "service port already used by /good",
                       "/mode": "HAPROXY_0_MODE='udp' is neither http nor tcp"}


def test_health_gating_keeps_only_alive_tasks_of_apps_with_checks() -> None:
    checked = app("/checked", 10000, checks=[http_check()],
                  tasks=[task("a", "10.0.0.1", 1, alive=True), task("b", "10.0.0.2", 2, alive=False),
                         task("c", "10.0.0.3", 3)])
    gated = services(checked).services[0]
    assert [s.task_id for s in gated.servers] == ["a"]
    ungated = services(checked, gating=False).services[0]
    assert sorted(s.task_id for s in ungated.servers) == ["a", "b", "c"]


def test_killing_tasks_drain_and_lost_or_unreachable_are_not_servers() -> None:
    built = services(app("/app", 10000, tasks=[task("run", "10.0.0.1", 1), task("kill", "10.0.0.2", 2,
                                                                               state="TASK_KILLING"),
                                               task("lost", "10.0.0.3", 3, state="TASK_LOST"),
                                               task("gone", "10.0.0.4", 4, state="TASK_UNREACHABLE")]))
    states = {s.task_id: s.state for s in built.services[0].servers}
    assert states == {"run": ServerState.READY, "kill": ServerState.DRAIN}


def test_template_precedence_is_label_then_environment_then_file_then_default() -> None:
    templates = default_templates().with_overrides(
        files={"HAPROXY_FRONTEND_BACKEND_GLUE": "  # file\n  use_backend {backend}\n",
               "HAPROXY_BACKEND_HEAD": "\nbackend {backend}\n  # file head\n  mode {mode}\n"},
        environment={"HAPROXY_FRONTEND_BACKEND_GLUE": "  # env\\n  use_backend {backend}\\n"})
    plain = services(app("/plain", 10000, tasks=[task("p", "10.0.0.1", 1)])).services
    labelled = services(app("/lab", 10001, labels={"HAPROXY_0_FRONTEND_BACKEND_GLUE": "  # label\n  use_backend {backend}\n"},
                            tasks=[task("l", "10.0.0.1", 2)])).services
    text = render(plain, templates, OPTIONS).text
    assert "  # env\n  use_backend plain_10000\n" in text and "# file\n" not in text and "# file head" in text
    assert "  # label\n  use_backend lab_10001\n" in render(labelled, templates, OPTIONS).text


def test_unknown_placeholder_in_a_label_template_names_the_app() -> None:
    from mesospaas.routing import TemplateError
    broken = services(app("/broken", 10000, labels={"HAPROXY_0_BACKEND_HEAD": "backend {nope}\n"},
                          tasks=[task("b", "10.0.0.1", 1)])).services
    try:
        render(broken, default_templates(), OPTIONS)
    except TemplateError as exc:
        assert exc.app_id == "/broken"
    else:
        raise AssertionError("a template naming an unknown placeholder rendered")


def _rendered(*tasks: dict, labels: dict | None = None):  # type: ignore[no-untyped-def]
    return render(services(app("/web", 10000, labels=labels, tasks=list(tasks))).services, default_templates(),
                  OPTIONS)


def test_scale_up_and_task_replacement_are_runtime_commands_into_spare_slots() -> None:
    loaded = _rendered(task("a", "10.0.0.1", 1))
    wanted = _rendered(task("a", "10.0.0.1", 1), task("b", "10.0.0.2", 2))
    plan = runtime_plan(loaded.skeleton, loaded.slots, wanted)
    assert plan is not None
    assert plan.commands == ("set server web_10000/slot1 addr 10.0.0.2 port 2", "set weight web_10000/slot1 1",
                             "set server web_10000/slot1 state ready")
    replaced = _rendered(task("b", "10.0.0.2", 2), task("c", "10.0.0.3", 3, state="TASK_KILLING"))
    second = runtime_plan(loaded.skeleton, plan.running, replaced)
    assert second is not None
    assert second.commands == ("set server web_10000/slot2 addr 10.0.0.3 port 3",
                               "set server web_10000/slot2 state drain",
                               "set server web_10000/10_0_0_1_10_0_0_1_1 state maint")
    assert runtime_plan(loaded.skeleton, second.running, replaced) is not None
    assert runtime_plan(loaded.skeleton, second.running, replaced).commands == ()  # type: ignore[union-attr]


def test_anything_but_servers_changing_or_too_many_servers_needs_a_reload() -> None:
    loaded = _rendered(task("a", "10.0.0.1", 1))
    relabelled = _rendered(task("a", "10.0.0.1", 1), labels={"HAPROXY_0_BALANCE": "leastconn"})
    assert runtime_plan(loaded.skeleton, loaded.slots, relabelled) is None
    many = _rendered(*[task(f"t{i}", "10.0.0.1", 100 + i) for i in range(slot_capacity(1) + 1)])
    assert runtime_plan(loaded.skeleton, loaded.slots, many) is None
