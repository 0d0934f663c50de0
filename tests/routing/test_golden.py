"""Golden-file tests for the HAProxy renderer: whole config text compared with ``golden/<case>.cfg``, and every
golden accepted by the real ``haproxy -c`` (Debian's package).

Regenerate after a deliberate change with ``MESOSPAAS_UPDATE_GOLDENS=1`` and review the diff.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mesospaas.routing import RenderOptions, apps_from_json, build_services, default_templates, render
from mesospaas.routing.templates import Templates
from tests.routing.apps import app, http_check, task, tcp_check

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
DATA = HERE / "data"
OPTIONS = RenderOptions(admin_socket="/var/run/haproxy/socket")
RESOLVE = {"agent1": "10.0.0.1", "agent2": "10.0.0.2", "agent3": "10.0.0.3"}


def files_templates() -> Templates:
    files = {p.name: p.read_text() for p in (DATA / "templates").iterdir()}
    return default_templates().with_overrides(files=files)


Case = tuple[list[dict[str, Any]], dict[str, Any]]
CASES: dict[str, Callable[[], Case]] = {
    "vhost": lambda: ([app("/nginx", 10000, labels={"HAPROXY_0_VHOST": "test.example.com"}, checks=[http_check()],
                           tasks=[task("t1", "agent1", 31001, alive=True), task("t2", "agent2", 31002, alive=False)])],
                      {}),
    "multiple_vhosts": lambda: ([app("/nginx", 10000, labels={"HAPROXY_0_VHOST": "test.example.com,Test"},
                                     checks=[http_check()], tasks=[task("t1", "agent1", 31001, alive=True)])], {}),
    "vhost_path": lambda: ([app("/web/api", 10001, labels={"HAPROXY_0_VHOST": "example.com",
                                                           "HAPROXY_0_PATH": "-i /api /v2"},
                                tasks=[task("t1", "agent1", 31001)]),
                            app("/web/site", 10002, labels={"HAPROXY_0_VHOST": "example.com"},
                                tasks=[task("t2", "agent2", 31002)])], {}),
    "tcp": lambda: ([app("/db/redis", 10100, checks=[tcp_check()], labels={"HAPROXY_0_BALANCE": "leastconn"},
                         tasks=[task("r1", "agent1", 31100, alive=True), task("r2", "agent2", 31101, alive=True)])],
                    {}),
    "sticky": lambda: ([app("/shop", 10200, labels={"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_STICKY": "true"},
                            tasks=[task("s1", "agent1", 31200), task("s2", "agent2", 31201)])], {}),
    "https_redirect": lambda: ([app("/secure", 10300, labels={"HAPROXY_0_VHOST": "secure.example.com",
                                                              "HAPROXY_0_REDIRECT_TO_HTTPS": "true",
                                                              "HAPROXY_0_USE_HSTS": "true"},
                                    tasks=[task("h1", "agent1", 31300)])],
                               {"options": RenderOptions(admin_socket="/var/run/haproxy/socket",
                                                         ssl_certs=("cert.pem",))}),
    "auth": lambda: ([app("/private", 10400, labels={"HAPROXY_0_VHOST": "private.example.com",
                                                     "HAPROXY_0_AUTH": "realm:alice:$5$salt$hash"},
                          tasks=[task("a1", "agent1", 31400)])],
                     {"options": RenderOptions(admin_socket="/var/run/haproxy/socket", ssl_certs=("cert.pem",))}),
    "groups": lambda: ([app("/public", 10500, tasks=[task("p1", "agent1", 31500)]),
                        app("/internal", 10501, labels={"HAPROXY_GROUP": "internal"},
                            tasks=[task("i1", "agent1", 31501)]),
                        app("/mixed", 10502, 10503, labels={"HAPROXY_GROUP": "internal", "HAPROXY_1_GROUP": "external"},
                            tasks=[task("m1", "agent2", 31502, 31503)]),
                        {**app("/nogroup", 10504, tasks=[task("n1", "agent3", 31504)]), "labels": {}}], {}),
    "several_service_ports": lambda: ([app("/multi", 10600, 10601, 10602,
                                           labels={"HAPROXY_1_VHOST": "multi.example.com",
                                                   "HAPROXY_2_MODE": "http", "HAPROXY_2_BIND_ADDR": "127.0.0.1",
                                                   "HAPROXY_2_BIND_OPTIONS": "maxconn 100",
                                                   "HAPROXY_0_PORT": "10699"},
                                           checks=[http_check("/health", port_index=1)],
                                           tasks=[task("x1", "agent1", 31600, 31601, 31602, alive=True),
                                                  task("x2", "agent2", 31603, 31604, 31605, alive=True)])], {}),
    "no_health_checks": lambda: ([app("/plain", 10700, labels={"HAPROXY_0_VHOST": "plain.example.com"},
                                      tasks=[task("k1", "agent1", 31700),
                                             task("k2", "agent2", 31701, state="TASK_KILLING"),
                                             task("k3", "agent3", 31702, state="TASK_UNREACHABLE"),
                                             task("k4", "agent3", 31703, state="TASK_LOST"),
                                             task("k5", "agent3", 31704, state="TASK_STAGING"),
                                             task("k6", "", 31705)])], {}),
    "template_label": lambda: ([app("/custom", 10800, labels={
        "HAPROXY_0_VHOST": "custom.example.com",
        "HAPROXY_0_BACKEND_HEAD": "\nbackend {backend}\n  balance {balance}\n  mode {mode}\n  timeout server 90s\n",
        "HAPROXY_0_FRONTEND_HEAD": "\nfrontend {backend}\n  bind {bindAddr}:{servicePort}\n  mode {mode}\n"
                                   "  option httplog\n"},
        tasks=[task("c1", "agent1", 31800)])], {}),
    "template_environment": lambda: ([app("/envy", 10900, tasks=[task("e1", "agent1", 31900)])],
                                     {"templates": default_templates().with_overrides(environment={
                                         "HAPROXY_FRONTEND_BACKEND_GLUE": "  # glue from the environment\\n"
                                                                          "  use_backend {backend}\\n"})}),
    "template_file": lambda: ([app("/filed", 11000, tasks=[task("f1", "agent1", 32000)])],
                              {"templates": files_templates()}),
    "blue_green": lambda: ([app("/web-blue", 11100, labels={
        "HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "11101", "HAPROXY_0_PORT": "11100",
        "HAPROXY_DEPLOYMENT_COLOUR": "blue", "HAPROXY_DEPLOYMENT_STARTED_AT": "2026-01-01T00:00:00Z",
        "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "3", "HAPROXY_0_VHOST": "web.example.com"},
        checks=[http_check()], tasks=[task(f"b{i}", "agent1", 32100 + i, alive=True) for i in range(3)]),
        app("/web-green", 11101, labels={
            "HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "11100", "HAPROXY_0_PORT": "11100",
            "HAPROXY_DEPLOYMENT_COLOUR": "green", "HAPROXY_DEPLOYMENT_STARTED_AT": "2026-01-02T00:00:00Z",
            "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "3", "HAPROXY_0_VHOST": "web.example.com"},
            checks=[http_check()], tasks=[task("g0", "agent2", 32200, alive=True),
                                          task("g1", "agent2", 32201, alive=False)])], {}),
    "bridge_and_container": lambda: ([
        {**app("/bridged", tasks=[task("br1", "agent1", 31901)]), "portDefinitions": [],
         "container": {"type": "DOCKER", "docker": {"image": "nginx", "network": "BRIDGE"},
                       "portMappings": [{"containerPort": 80, "hostPort": 0, "servicePort": 11200}]}},
        {**app("/overlay", tasks=[task("ov1", "agent2", ip="192.168.5.7")]), "portDefinitions": [],
         "networks": [{"mode": "container", "name": "dcos"}],
         "container": {"type": "DOCKER", "docker": {"image": "nginx"},
                       "portMappings": [{"containerPort": 8080, "servicePort": 11201}]}}], {}),
    "http_glue_labels": lambda: ([app("/glued", 11300, labels={
        "HAPROXY_0_VHOST": "glued.example.com", "HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH": "/glued",
        "HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH": "/", "HAPROXY_0_HTTP_BACKEND_REDIR": "/home",
        "HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL": "10.0.0.0/8 127.0.0.1", "HAPROXY_0_BACKEND_WEIGHT": "5"},
        tasks=[task("gl1", "agent1", 31300)]),
        app("/light", 11301, labels={"HAPROXY_0_VHOST": "glued.example.com", "HAPROXY_0_PATH": "/light"},
            tasks=[task("li1", "agent2", 31301)])], {}),
    "bad_label_left_out": lambda: ([app("/good", 11400, tasks=[task("go1", "agent1", 31400)]),
                                    app("/bad", 11401, labels={"HAPROXY_0_PORT": "eighty"},
                                        tasks=[task("ba1", "agent1", 31401)]),
                                    app("/unassigned", 0, tasks=[task("un1", "agent1", 31402)]),
                                    app("/other-clash", 11400, tasks=[task("cl1", "agent2", 31403)])], {}),
}


def rendered(case: str) -> str:
    apps, extra = CASES[case]()
    parsed = apps_from_json({"apps": apps})
    services = build_services(parsed.apps, extra.get("groups", ["external"]), resolve=RESOLVE)
    return render(services.services, extra.get("templates", default_templates()), extra.get("options", OPTIONS)).text


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_matches_golden(case: str) -> None:
    golden = GOLDEN / f"{case}.cfg"
    text = rendered(case)
    if os.environ.get("MESOSPAAS_UPDATE_GOLDENS") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_is_stable_whatever_the_input_order(case: str) -> None:
    apps, extra = CASES[case]()
    shuffled = [dict(a, tasks=random.Random(7).sample(a["tasks"], len(a["tasks"]))) for a in reversed(apps)]
    parsed = apps_from_json({"apps": shuffled})
    services = build_services(parsed.apps, extra.get("groups", ["external"]), resolve=RESOLVE)
    text = render(services.services, extra.get("templates", default_templates()), extra.get("options", OPTIONS)).text
    assert text == rendered(case)


# Debian's haproxy is installed by .ci/setup --test: a machine without it fails here rather than skipping.
@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.cfg")), ids=lambda p: p.stem)
def test_every_golden_is_valid_haproxy(golden: Path) -> None:
    result = subprocess.run(["haproxy", "-c", "-f", str(golden)], cwd=DATA, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_goldens_cover_every_case() -> None:
    assert {p.stem for p in GOLDEN.glob("*.cfg")} == set(CASES)
