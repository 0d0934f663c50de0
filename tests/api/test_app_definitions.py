"""App definitions as Marathon accepts and rejects them: defaults, valid shapes, exact 422 paths and messages."""

from __future__ import annotations

from typing import Any

import pytest

from api.schemas import load_app
from api.schemas.normalize import complete
from mesospaas.model import (
    AffinityMode,
    AffinityType,
    CommandExecutor,
    CustomExecutor,
    KillSelection,
    Operator,
    PlacementStrategy,
)
from tests.api.helpers import accepted, an_app, errors_at, rejected

ID_REGEX = r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$"


def test_a_minimal_app_gets_every_marathon_default() -> None:
    app = accepted({"id": "/app", "cmd": "sleep 1000"})
    assert app.definition == {
        "id": "/app",
        "cmd": "sleep 1000",
        "env": {},
        "instances": 1,
        "cpus": 1.0,
        "mem": 128.0,
        "disk": 0.0,
        "gpus": 0,
        "executor": "",
        "constraints": [],
        "fetch": [],
        "storeUrls": [],
        "backoffSeconds": 1,
        "backoffFactor": 1.15,
        "maxLaunchDelaySeconds": 300,
        "healthChecks": [],
        "readinessChecks": [],
        "dependencies": [],
        "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
        "labels": {},
        "secrets": {},
        "requirePorts": False,
        "portDefinitions": [{"port": 0, "protocol": "tcp", "name": "default"}],
        "networks": [{"mode": "host"}],
        "killSelection": "YOUNGEST_FIRST",
        "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
        "role": "*",
    }


def test_the_spec_carries_the_same_defaults_as_the_core() -> None:
    spec = accepted(an_app()).spec
    assert (spec.instances, spec.cpus, spec.mem, spec.disk, spec.gpus) == (1, 1.0, 128.0, 0.0, 0)
    assert (spec.backoff_seconds, spec.backoff_factor, spec.max_launch_delay_seconds) == (1.0, 1.15, 300.0)
    assert spec.kill_selection is KillSelection.YOUNGEST_FIRST
    assert [(p.port, p.name) for p in spec.port_definitions] == [(0, "default")]
    assert spec.executor == CommandExecutor()
    assert spec.role == "*" and spec.accepted_resource_roles is None
    assert spec.placement_strategy is PlacementStrategy.SPREAD


def test_default_role_comes_from_the_caller() -> None:
    assert accepted(an_app(), default_role="prod").definition["role"] == "prod"
    assert accepted(an_app(role="dev"), default_role="prod").spec.role == "dev"


@pytest.mark.parametrize(
    ("body", "base_path", "expected"),
    [
        ({"id": "web"}, "/shop", "/shop/web"),
        ({"id": "/web"}, "/shop", "/web"),
        ({"id": "../api"}, "/shop/front", "/shop/api"),
        ({"id": "./a/./b"}, "/", "/a/b"),
        ({"id": "a.b-c"}, "/", "/a.b-c"),
    ],
)
def test_relative_ids_resolve_against_the_base_group(body: dict[str, Any], base_path: str, expected: str) -> None:
    assert accepted({**body, "cmd": "sleep 1"}, base_path=base_path).id == expected


def test_dependencies_resolve_like_ids_and_collapse_duplicates() -> None:
    app = accepted(an_app(id="web", dependencies=["db", "../infra/cache", "/shop/db"]), base_path="/shop")
    assert app.definition["dependencies"] == ["/shop/db", "/infra/cache"]


VALID: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("args instead of cmd", an_app(cmd=..., args=["sleep", "1"]), {"args": ["sleep", "1"]}),
    ("a docker container alone", an_app(cmd=..., container={"docker": {"image": "nginx"}}),
     {"container": {"type": "DOCKER", "docker": {"image": "nginx", "privileged": False, "parameters": [],
                                                 "forcePullImage": False}, "volumes": []}}),
    ("deprecated ports", an_app(ports=[0, 0]),
     {"portDefinitions": [{"port": 0, "protocol": "tcp"}, {"port": 0, "protocol": "tcp"}]}),
    ("ports equivalent to portDefinitions", an_app(ports=[8080], portDefinitions=[{"port": 8080, "name": "http"}]),
     {"portDefinitions": [{"port": 8080, "protocol": "tcp", "name": "http"}]}),
    ("no ports at all", an_app(portDefinitions=[]), {"portDefinitions": []}),
    ("operators are upper-cased and duplicates collapse",
     an_app(constraints=[["hostname", "unique"], ["rack", "group_by", "3"], ["rack", "GROUP_BY", "3"]]),
     {"constraints": [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "3"]]}),
    ("enum literals match case-insensitively", an_app(killSelection="oldest_first"),
     {"killSelection": "OLDEST_FIRST"}),
    ("uris become fetch, archives are extracted",
     an_app(uris=["http://example.com/app.tar.gz", "http://example.com/run.sh"]),
     {"fetch": [{"uri": "http://example.com/app.tar.gz", "extract": True, "executable": False, "cache": False},
                {"uri": "http://example.com/run.sh", "extract": False, "executable": False, "cache": False}]}),
    ("fetch keeps destPath", an_app(fetch=[{"uri": "https://x/y", "destPath": "bin/y", "executable": True}]),
     {"fetch": [{"uri": "https://x/y", "extract": True, "executable": True, "cache": False, "destPath": "bin/y"}]}),
    ("a partial upgrade strategy", an_app(upgradeStrategy={"minimumHealthCapacity": 0.5}),
     {"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 1.0}}),
    ("single-instance apps default to {0, 0}", an_app(labels={"MARATHON_SINGLE_INSTANCE_APP": "true"}),
     {"upgradeStrategy": {"minimumHealthCapacity": 0.0, "maximumOverCapacity": 0.0}}),
    ("unreachable strategy disabled", an_app(unreachableStrategy="disabled"), {"unreachableStrategy": "disabled"}),
    ("a partial unreachable strategy", an_app(unreachableStrategy={"expungeAfterSeconds": 600}),
     {"unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 600}}),
    ("env with a secret reference",
     an_app(env={"PLAIN": "1", "PASSWORD": {"secret": "db"}}, secrets={"db": {"source": "/vault/db"}}),
     {"env": {"PLAIN": "1", "PASSWORD": {"secret": "db"}}, "secrets": {"db": {"source": "/vault/db"}}}),
    ("zero instances suspends", an_app(instances=0), {"instances": 0}),
    ("a whole-number float is an int", an_app(instances=2.0), {"instances": 2}),
    ("null means absent", an_app(user=None, labels=None, instances=None), {"labels": {}, "instances": 1}),
    ("HTTP health check defaults",
     an_app(healthChecks=[{"path": "health"}]),
     {"healthChecks": [{"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 300,
                        "intervalSeconds": 60, "timeoutSeconds": 20, "maxConsecutiveFailures": 3,
                        "delaySeconds": 15, "ignoreHttp1xx": False}]}),
    ("a COMMAND check", an_app(healthChecks=[{"command": {"value": "true"}}]),
     {"healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}, "gracePeriodSeconds": 300,
                        "intervalSeconds": 60, "timeoutSeconds": 20, "maxConsecutiveFailures": 3,
                        "delaySeconds": 15}]}),
    ("a MESOS_TCP check with a literal port", an_app(healthChecks=[{"protocol": "MESOS_TCP", "port": 8080}]),
     {"healthChecks": [{"protocol": "MESOS_TCP", "port": 8080, "gracePeriodSeconds": 300, "intervalSeconds": 60,
                        "timeoutSeconds": 20, "maxConsecutiveFailures": 3, "delaySeconds": 15,
                        "ipProtocol": "IPv4"}]}),
    ("readiness check defaults", an_app(portDefinitions=[{"name": "http-api"}], readinessChecks=[{}]),
     {"readinessChecks": [{"name": "readinessCheck", "protocol": "HTTP", "path": "/", "portName": "http-api",
                           "intervalSeconds": 30, "timeoutSeconds": 10, "httpStatusCodesForReady": [200],
                           "preserveLastResponse": False}]}),
    ("accepted roles are de-duplicated", an_app(acceptedResourceRoles=["*", "prod", "*"]),
     {"acceptedResourceRoles": ["*", "prod"]}),
    ("a task kill grace period", an_app(taskKillGracePeriodSeconds=30), {"taskKillGracePeriodSeconds": 30}),
    ("gpus with a MESOS container", an_app(gpus=1, container={"type": "MESOS"}), {"gpus": 1}),
    ("affinity and placement strategy",
     an_app(affinity={"apps": [{"app": "db", "type": "affinity"}]}, placementStrategy="binpack"),
     {"affinity": {"apps": [{"app": "/db", "type": "AFFINITY", "field": "hostname", "mode": "REQUIRED",
                             "weight": 50}]}, "placementStrategy": "BINPACK"}),
]


@pytest.mark.parametrize(("body", "expected"), [(b, e) for _, b, e in VALID], ids=[n for n, _, _ in VALID])
def test_valid_definitions_normalize_as_marathon_does(body: dict[str, Any], expected: dict[str, Any]) -> None:
    definition = accepted(body).definition
    assert {key: definition.get(key) for key in expected} == expected


def test_unknown_and_read_only_fields_are_ignored_and_never_echoed() -> None:
    app = accepted(an_app(tasksRunning=3, deployments=[{"id": "x"}], versionInfo={"lastScalingAt": "x"},
                          fooBar={"nested": [1, 2]}, version="2015-01-01T00:00:00.000Z"))
    assert not {"tasksRunning", "deployments", "versionInfo", "fooBar", "version"} & set(app.definition)


def test_bridge_networking_takes_host_ports_from_port_mappings() -> None:
    app = accepted(an_app(container={"type": "DOCKER", "docker": {"image": "nginx", "network": "BRIDGE"},
                                     "portMappings": [{"containerPort": 80, "name": "http"},
                                                      {"containerPort": 443, "hostPort": 31443}]}))
    assert app.definition["networks"] == [{"mode": "container/bridge"}]
    assert "portDefinitions" not in app.definition
    assert app.definition["container"]["portMappings"] == [
        {"containerPort": 80, "hostPort": 0, "servicePort": 0, "protocol": "tcp", "name": "http"},
        {"containerPort": 443, "hostPort": 31443, "servicePort": 0, "protocol": "tcp"},
    ]
    assert [p.port for p in app.spec.port_definitions] == [0, 31443]
    assert app.spec.require_ports is True


def test_deprecated_docker_port_mappings_move_to_the_container() -> None:
    app = accepted(an_app(container={"docker": {"image": "nginx", "network": "BRIDGE",
                                                "portMappings": [{"containerPort": 8080}]}}))
    assert "portMappings" not in app.definition["container"]["docker"]
    assert "network" not in app.definition["container"]["docker"]
    assert app.definition["container"]["portMappings"][0]["containerPort"] == 8080


def test_bridge_mode_without_port_mappings_gets_the_default_mapping() -> None:
    app = accepted(an_app(networks=[{"mode": "container/bridge"}], container={"docker": {"image": "nginx"}}))
    assert app.definition["container"]["portMappings"] == [
        {"containerPort": 0, "hostPort": 0, "servicePort": 0, "protocol": "tcp", "name": "default"}
    ]


def test_container_networking_without_a_container_implies_a_mesos_one() -> None:
    app = accepted(an_app(networks=[{"mode": "container", "name": "dcos"}]))
    assert app.definition["container"]["type"] == "MESOS"
    assert app.definition["container"]["portMappings"] == [
        {"containerPort": 0, "servicePort": 0, "protocol": "tcp", "name": "default"}
    ]
    assert app.spec.port_definitions == ()  # container mode: no host port unless hostPort is set


def test_legacy_ip_address_becomes_a_container_network() -> None:
    app = accepted(an_app(ipAddress={"networkName": "dcos", "discovery": {"ports": [{"number": 80, "name": "http"}]}}))
    assert app.definition["networks"] == [{"mode": "container", "name": "dcos"}]
    assert app.definition["container"]["portMappings"] == [
        {"containerPort": 80, "servicePort": 0, "protocol": "tcp", "name": "http"}
    ]
    assert "ipAddress" not in app.definition


def test_persistent_volumes_make_the_app_resident() -> None:
    # Persistent volumes are refused with a 422 until they are supported (tests/api/test_containers.py); the
    # canonical definition still carries Marathon's resident defaults.
    definition = complete(an_app(container={"type": "MESOS", "volumes": [
        {"containerPath": "data", "mode": "RW", "persistent": {"size": 512}}]}), base_path="/", default_role="*")
    assert definition["residency"] == {"relaunchEscalationTimeoutSeconds": 3600, "taskLostBehavior": "WAIT_FOREVER"}
    assert definition["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0}
    assert definition["unreachableStrategy"] == "disabled"


def test_executor_maps_to_the_core() -> None:
    assert accepted(an_app(executor="//cmd")).spec.executor == CommandExecutor()
    assert accepted(an_app(executor="")).spec.executor == CommandExecutor()
    assert accepted(an_app(executor="//mesospaas")).spec.executor == CustomExecutor("//mesospaas")


def test_custom_executor_paths_other_than_ours_are_refused() -> None:
    status, body = rejected(an_app(executor="/opt/exec"))
    assert status == 422
    (message,) = errors_at(body, "/executor")
    assert "'/opt/exec' is not supported" in message and "//mesospaas" in message


def test_the_mesospaas_executor_labels_are_validated() -> None:
    accepted(an_app(executor="//mesospaas", labels={"MESOSPAAS_LOG_MAX_BYTES": "4096", "MESOSPAAS_LOG_KEEP": "2"}))
    status, body = rejected(an_app(executor="//mesospaas", labels={"MESOSPAAS_LOG_MAX_BYTES": "lots"}))
    assert status == 422
    assert any("MESOSPAAS_LOG_MAX_BYTES must be an integer" in e for e in errors_at(body, "/labels"))
    status, body = rejected(an_app(executor="//mesospaas", labels={"MESOSPAAS_USAGE_INTERVAL_SECONDS": "0"}))
    assert any("must be positive" in e for e in errors_at(body, "/labels"))


def test_constraints_and_affinity_reach_the_spec() -> None:
    spec = accepted(an_app(id="web", constraints=[["rack", "max_per", "2"]],
                           affinity={"apps": [{"app": "../db", "type": "ANTI_AFFINITY", "field": "@zone",
                                               "mode": "PREFERRED", "weight": 30}]}), base_path="/shop").spec
    assert [(c.field, c.operator, c.value) for c in spec.constraints] == [("rack", Operator.MAX_PER, "2")]
    (rule,) = spec.affinity
    assert (rule.app, rule.type, rule.field, rule.mode, rule.weight) == (
        "/db", AffinityType.ANTI_AFFINITY, "@zone", AffinityMode.PREFERRED, 30)


def test_secret_references_stay_out_of_the_spec_environment() -> None:
    spec = accepted(an_app(env={"A": "1", "B": {"secret": "s"}}, secrets={"s": {"source": "x"}})).spec
    assert dict(spec.env) == {"A": "1"}


# --- rejections: (body, kind, path, message); both kinds are 422, as Marathon 1.5 and later answer ------------

INVALID_JSON = "Invalid JSON"
NOT_VALID = "Object is not valid"

INVALID: list[tuple[str, Any, str, str, str]] = [
    ("body is not an object", ["not", "an", "app"], INVALID_JSON, "/", "error.expected.jsobject"),
    ("id missing", {"cmd": "sleep 1"}, INVALID_JSON, "/id", "error.path.missing"),
    ("id not a string", an_app(id=123), INVALID_JSON, "/id", "error.expected.jsstring"),
    ("id with capitals", an_app(id="/MyApp"), NOT_VALID, "/id", f"must fully match regular expression '{ID_REGEX}'"),
    ("id with underscore", an_app(id="/my_app"), NOT_VALID, "/id", f"must fully match regular expression '{ID_REGEX}'"),
    ("id is the root", an_app(id="/"), NOT_VALID, "/id", "Path must contain at least one path element"),
    ("id ends in a reserved word", an_app(id="/shop/tasks"), NOT_VALID, "/id",
     "must not end with any of the following reserved keywords: restart, tasks, versions"),
    ("cmd empty", an_app(cmd=""), NOT_VALID, "/", "must not be an empty string"),
    ("cmd and args", an_app(args=["x"]), NOT_VALID, "/",
     "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."),
    ("neither cmd, args nor container", an_app(cmd=...), NOT_VALID, "/",
     "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."),
    ("a MESOS container without image does not count", an_app(cmd=..., container={"type": "MESOS"}), NOT_VALID, "/",
     "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."),
    ("cpus as a string", an_app(cpus="1"), INVALID_JSON, "/cpus", "error.expected.jsnumber"),
    ("cpus negative", an_app(cpus=-1), NOT_VALID, "/cpus", "got -1.0, expected 0.001 or more"),
    ("cpus zero", an_app(cpus=0), NOT_VALID, "/cpus", "got 0.0, expected 0.001 or more"),
    ("mem negative", an_app(mem=-5), NOT_VALID, "/mem", "got -5.0, expected 0.0 or more"),
    ("disk negative", an_app(disk=-0.5), NOT_VALID, "/disk", "got -0.5, expected 0.0 or more"),
    ("gpus negative", an_app(gpus=-1), NOT_VALID, "/gpus", "got -1, expected 0 or more"),
    ("instances negative", an_app(instances=-1), NOT_VALID, "/instances", "got -1, expected 0 or more"),
    ("instances fractional", an_app(instances=1.5), INVALID_JSON, "/instances", "error.expected.int"),
    ("instances boolean", an_app(instances=True), INVALID_JSON, "/instances", "error.expected.jsnumber"),
    ("instances beyond int32", an_app(instances=2**31), INVALID_JSON, "/instances", "error.expected.int"),
    ("backoffFactor below 1", an_app(backoffFactor=0.5), NOT_VALID, "/backoffFactor", "got 0.5, expected 1.0 or more"),
    ("backoffSeconds negative", an_app(backoffSeconds=-1), NOT_VALID, "/backoffSeconds", "got -1, expected 0 or more"),
    ("maxLaunchDelaySeconds negative", an_app(maxLaunchDelaySeconds=-1), NOT_VALID, "/maxLaunchDelaySeconds",
     "got -1, expected 0 or more"),
    ("minimumHealthCapacity above 1", an_app(upgradeStrategy={"minimumHealthCapacity": 1.5}), NOT_VALID,
     "/upgradeStrategy/minimumHealthCapacity", "is greater than 1"),
    ("maximumOverCapacity below 0", an_app(upgradeStrategy={"maximumOverCapacity": -0.1}), NOT_VALID,
     "/upgradeStrategy/maximumOverCapacity", "is less than 0"),
    ("requirePorts not a boolean", an_app(requirePorts="true"), INVALID_JSON, "/requirePorts",
     "error.expected.jsboolean"),
    ("unknown kill selection", an_app(killSelection="RANDOM"), INVALID_JSON, "/killSelection",
     "error.unknown.enum.literal"),
    ("constraint with one field", an_app(constraints=[["hostname"]]), NOT_VALID, "/constraints(0)",
     "Each constraint must have either 2 or 3 fields"),
    ("constraint with four fields", an_app(constraints=[["a", "IS", "b", "c"]]), NOT_VALID, "/constraints(0)",
     "Each constraint must have either 2 or 3 fields"),
    ("unknown operator", an_app(constraints=[["hostname", "UNIQUE"], ["rack", "NEAR"]]), NOT_VALID,
     "/constraints(1)", "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"),
    ("UNIQUE with a value", an_app(constraints=[["hostname", "UNIQUE", "x"]]), NOT_VALID, "/constraints(0)",
     "UNIQUE does not accept a value"),
    ("GROUP_BY with a word", an_app(constraints=[["rack", "GROUP_BY", "three"]]), NOT_VALID, "/constraints(0)",
     "GROUP BY must define an integer value or else no value at all"),
    ("LIKE without a value", an_app(constraints=[["rack", "LIKE"]]), NOT_VALID, "/constraints(0)",
     "LIKE and UNLIKE require a non-empty, regular expression value"),
    ("LIKE with a bad regex", an_app(constraints=[["rack", "LIKE", "["]]), NOT_VALID, "/constraints(0)",
     "'[' is not a valid regular expression"),
    ("MAX_PER without a number", an_app(constraints=[["rack", "MAX_PER"]]), NOT_VALID, "/constraints(0)",
     "MAX_PER requires an integer value"),
    ("IS with a bad value", an_app(constraints=[["rack", "IS", "a b"]]), NOT_VALID, "/constraints(0)",
     "IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)"),
    ("a constraint that is not an array", an_app(constraints=["hostname:UNIQUE"]), INVALID_JSON, "/constraints(0)",
     "error.expected.jsarray"),
    ("a constraint value that is a number", an_app(constraints=[["rack", "GROUP_BY", 3]]), INVALID_JSON,
     "/constraints(0)(2)", "error.expected.jsstring"),
    ("ports and different portDefinitions", an_app(ports=[80], portDefinitions=[{"port": 81}]), NOT_VALID, "/",
     "cannot specify both ports and port definitions"),
    ("duplicate fixed ports", an_app(ports=[80, 80]), NOT_VALID, "/", "ports must be unique"),
    ("duplicate port names", an_app(portDefinitions=[{"name": "a"}, {"name": "a"}]), NOT_VALID, "/portDefinitions",
     "Port names must be unique."),
    ("duplicate fixed port definitions", an_app(portDefinitions=[{"port": 80}, {"port": 80}]), NOT_VALID,
     "/portDefinitions", "Ports must be unique."),
    ("port out of range", an_app(portDefinitions=[{"port": 70000}]), NOT_VALID, "/portDefinitions(0)/port",
     "got 70000, expected between 0 and 65535"),
    ("unknown port protocol", an_app(portDefinitions=[{"protocol": "sctp"}]), INVALID_JSON,
     "/portDefinitions(0)/protocol", "error.unknown.enum.literal"),
    ("health check port index out of range", an_app(healthChecks=[{"protocol": "HTTP", "portIndex": 1}]),
     NOT_VALID, "/healthChecks(0)",
     "Health check port indices must address an element of the ports array or container port mappings."),
    ("health check without ports", an_app(portDefinitions=[], healthChecks=[{"protocol": "TCP"}]), NOT_VALID,
     "/healthChecks(0)",
     "Health check port indices must address an element of the ports array or container port mappings."),
    ("two Mesos health checks", an_app(healthChecks=[{"protocol": "MESOS_HTTP"}, {"protocol": "MESOS_TCP"}]),
     NOT_VALID, "/", "AppDefinition can contain at most one Mesos health check"),
    ("IPv6 on a Marathon-level check", an_app(healthChecks=[{"protocol": "HTTP", "ipProtocol": "IPv6"}]),
     NOT_VALID, "/healthChecks(0)",
     "IPv6 can only be used for container type DOCKER and Mesos http/https/tcp health checks"),
    ("COMMAND check without a command", an_app(healthChecks=[{"protocol": "COMMAND"}]), NOT_VALID,
     "/healthChecks(0)/command", "A command is required when using the COMMAND health check protocol."),
    ("health check interval negative", an_app(healthChecks=[{"intervalSeconds": -1}]), NOT_VALID,
     "/healthChecks(0)/intervalSeconds", "got -1, expected 0 or more"),
    ("unknown health check protocol", an_app(healthChecks=[{"protocol": "UDP"}]), INVALID_JSON,
     "/healthChecks(0)/protocol", "error.unknown.enum.literal"),
    ("readiness check port name unknown", an_app(readinessChecks=[{"portName": "http"}]), NOT_VALID,
     "/readinessChecks(0)/portName", "No port definition reference for portName http"),
    ("readiness timeout not below interval",
     an_app(portDefinitions=[{"name": "http-api"}], readinessChecks=[{"intervalSeconds": 5, "timeoutSeconds": 5}]),
     NOT_VALID, "/readinessChecks(0)/timeoutSeconds", "got 5, expected less than 5"),
    ("two readiness checks", an_app(portDefinitions=[{"name": "http-api"}], readinessChecks=[{}, {}]), NOT_VALID,
     "/readinessChecks/size", "got 2, expected 1 or less"),
    ("inactiveAfter above expungeAfter",
     an_app(unreachableStrategy={"inactiveAfterSeconds": 600, "expungeAfterSeconds": 300}), NOT_VALID,
     "/unreachableStrategy", "inactiveAfterSeconds (600) must be less or equal to expungeAfterSeconds, which is 300"),
    ("unreachable strategy word", an_app(unreachableStrategy="never"), INVALID_JSON, "/unreachableStrategy",
     "error.unknown.enum.literal"),
    ("DOCKER container without docker", an_app(container={"type": "DOCKER"}), NOT_VALID, "/container/docker",
     "not defined"),
    ("DOCKER container with an empty image", an_app(container={"docker": {"image": ""}}), NOT_VALID,
     "/container/docker/image", "must not be empty"),
    ("pullConfig with the Docker containerizer",
     an_app(container={"docker": {"image": "x", "pullConfig": {"secret": "s"}}}), NOT_VALID,
     "/container/docker/pullConfig", "pullConfig is not supported with Docker containerizer"),
    ("MESOS container with docker parameters",
     an_app(container={"type": "MESOS", "docker": {"image": "x", "parameters": [{"key": "a", "value": "b"}]}}),
     NOT_VALID, "/container/docker/parameters", "must be empty"),
    ("docker parameter without a value", an_app(container={"docker": {"image": "x", "parameters": [{"key": "a"}]}}),
     INVALID_JSON, "/container/docker/parameters(0)/value", "error.path.missing"),
    ("GPUs with the Docker containerizer", an_app(gpus=1, container={"docker": {"image": "x"}}), NOT_VALID, "/",
     "GPU resources only work with the Mesos containerizer"),
    ("env secret that does not exist", an_app(env={"P": {"secret": "nope"}}), NOT_VALID, "/env/P/secret",
     "references an undefined secret"),
    ("env value that is a number", an_app(env={"A": 1}), INVALID_JSON, "/env/A", "error.expected.jsstring"),
    ("label value that is a boolean", an_app(labels={"HAPROXY_GROUP": True}), INVALID_JSON, "/labels/HAPROXY_GROUP",
     "error.expected.jsstring"),
    ("labels as an array", an_app(labels=["a"]), INVALID_JSON, "/labels", "error.expected.jsobject"),
    ("empty accepted roles", an_app(acceptedResourceRoles=[]), NOT_VALID, "/acceptedResourceRoles", "must not be empty"),
    ("docker network and networks",
     an_app(networks=[{"mode": "host"}], container={"docker": {"image": "x", "network": "HOST"}}), NOT_VALID, "/",
     "must not specify both container.docker.network and networks"),
    ("ipAddress and networks", an_app(ipAddress={}, networks=[{"mode": "host"}]), NOT_VALID, "/",
     "must not specify both networks and ipAddress"),
    ("ipAddress and ports", an_app(ipAddress={}, ports=[80]), NOT_VALID, "/", "cannot specify both an IP address and port"),
    ("host and container networks mixed",
     an_app(networks=[{"mode": "host"}, {"mode": "container", "name": "a"}]), NOT_VALID, "/networks",
     "May specify a single host network, single bridge network, or else 1-to-n container networks"),
    ("container network without a name", an_app(networks=[{"mode": "container"}]), NOT_VALID, "/networks",
     "Network name must be specified when container network is selected."),
    ("host network with a name", an_app(networks=[{"mode": "host", "name": "x"}]), NOT_VALID, "/networks",
     "Host networks may not have names or labels"),
    ("persistent volume path with a slash",
     an_app(container={"type": "MESOS", "volumes": [{"containerPath": "a/b", "persistent": {"size": 1}}]}),
     NOT_VALID, "/container/volumes(0)/containerPath", 'value must not contain "/"'),
    ("persistent volume of size 0",
     an_app(container={"type": "MESOS", "volumes": [{"containerPath": "d", "persistent": {"size": 0}}]}),
     NOT_VALID, "/container/volumes(0)/persistent/size", "got 0, expected more than 0"),
    ("residency without persistent volumes", an_app(residency={}), NOT_VALID, "/",
     "App must contain persistent volumes and define residency"),
    ("host volume without hostPath", an_app(container={"docker": {"image": "x"}, "volumes": [{"containerPath": "/d"}]}),
     NOT_VALID, "/container/volumes(0)/hostPath", "must not be empty"),
    ("uris and fetch", an_app(uris=["http://a"], fetch=[{"uri": "http://b"}]), NOT_VALID, "/uris",
     "may not be set in conjunction with fetch"),
    ("fetch URI with a space", an_app(fetch=[{"uri": "http://a b"}]), NOT_VALID, "/fetch(0)/uri",
     "URI has invalid syntax."),
    ("fetch without uri", an_app(fetch=[{"extract": False}]), INVALID_JSON, "/fetch(0)/uri", "error.path.missing"),
    ("dependency with a bad segment", an_app(dependencies=["/db", "/Cache"]), NOT_VALID, "/dependencies(1)",
     f"must fully match regular expression '{ID_REGEX}'"),
    ("executor with an empty segment", an_app(executor="a//b"), NOT_VALID, "/executor",
     "must fully match regular expression '^(//cmd)|(//mesospaas)|(/?[^/]+(/[^/]+)*)|$'"),
    ("single-instance app with two instances", an_app(instances=2, labels={"MARATHON_SINGLE_INSTANCE_APP": "true"}),
     NOT_VALID, "/instances", "got 2, expected between 0 and 1"),
    ("resident app allowed over capacity",
     an_app(upgradeStrategy={"maximumOverCapacity": 0.5},
            container={"type": "MESOS", "volumes": [{"containerPath": "d", "persistent": {"size": 1}}]}),
     NOT_VALID, "/upgradeStrategy/maximumOverCapacity", "got 0.5, expected 0.0"),
    ("affinity weight out of range", an_app(affinity={"apps": [{"app": "/db", "type": "AFFINITY", "weight": 0}]}),
     NOT_VALID, "/affinity/apps(0)/weight", "got 0, expected between 1 and 100"),
    ("affinity without a type", an_app(affinity={"apps": [{"app": "/db"}]}), INVALID_JSON, "/affinity/apps(0)/type",
     "error.path.missing"),
    ("affinity to a bad path", an_app(affinity={"apps": [{"app": "/DB", "type": "AFFINITY"}]}), NOT_VALID,
     "/affinity/apps(0)/app", f"must fully match regular expression '{ID_REGEX}'"),
    ("unknown placement strategy", an_app(placementStrategy="RANDOM"), INVALID_JSON, "/placementStrategy",
     "error.unknown.enum.literal"),
    ("resource limit below the request", an_app(cpus=2, resourceLimits={"cpus": 1}), NOT_VALID,
     "/resourceLimits/cpus", "got 1.0, expected 2.0 or more"),
]


@pytest.mark.parametrize(
    ("body", "kind", "path", "message"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_definitions_get_marathons_status_path_and_message(
    body: Any, kind: str, path: str, message: str
) -> None:
    got_status, error = rejected(body)
    assert got_status == 422
    assert error["message"] == kind
    assert message in errors_at(error, path), error


def test_violations_at_one_path_are_grouped() -> None:
    _, error = rejected(an_app(networks=[{"mode": "host", "name": "a"}, {"mode": "container"}]))
    paths = [detail["path"] for detail in error["details"]]
    assert paths.count("/networks") == 1
    assert len(errors_at(error, "/networks")) >= 2


def test_shape_errors_are_reported_alone_as_marathons_reader_stops_first() -> None:
    status, error = rejected(an_app(id="/BAD", cpus="one", instances=-1))
    assert status == 422
    assert error == {"message": "Invalid JSON", "details": [{"path": "/cpus", "errors": ["error.expected.jsnumber"]}]}


def test_every_problem_is_reported_at_once() -> None:
    _, error = rejected(an_app(cpus=-1, mem=-1, constraints=[["a", "UNIQUE", "x"]]))
    assert {d["path"] for d in error["details"]} == {"/cpus", "/mem", "/constraints(0)"}


def test_a_rejected_definition_never_builds_a_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    import api.schemas.definition as definition

    built: list[Any] = []
    monkeypatch.setattr(definition, "to_app_spec", lambda d: built.append(d))
    rejected(an_app(cpus=-1))
    rejected(an_app(constraints=[["a", "NEAR"]]))
    assert built == []


def test_requireports_with_dynamic_ports_is_allowed_as_in_marathon() -> None:
    # Marathon assigns the service port and then requires it as the host port (DC/OS tests use [0] + true).
    spec = load_app(an_app(portDefinitions=[{"port": 0}, {"port": 8080}], requirePorts=True)).spec
    assert spec.require_ports is True
    assert [p.port for p in spec.port_definitions] == [0, 8080]
