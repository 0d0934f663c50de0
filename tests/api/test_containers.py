"""Container definitions the API refuses (reference section 2.2), each with a clear 422 at Marathon's path."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import accepted, an_app, errors_at, rejected

INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("docker without docker", an_app(container={"type": "DOCKER"}), "/container/docker", "not defined"),
    ("docker with an empty image", an_app(container={"type": "DOCKER", "docker": {"image": ""}}),
     "/container/docker/image", "must not be empty"),
    ("mesos with docker.network", an_app(container={"type": "MESOS", "docker": {"image": "x", "network": "BRIDGE"}}),
     "/container/docker/network", "must be empty"),
    ("mesos with docker.parameters", an_app(container={"type": "MESOS", "docker": {
        "image": "x", "parameters": [{"key": "a", "value": "b"}]}}), "/container/docker/parameters", "must be empty"),
    ("mesos with docker.portMappings", an_app(container={"type": "MESOS", "docker": {
        "image": "x", "portMappings": [{"containerPort": 80}]}}), "/container/docker/portMappings", "must be empty"),
    ("pullConfig with docker", an_app(container={"docker": {"image": "x", "pullConfig": {"secret": "s"}}}),
     "/container/docker/pullConfig", "pullConfig is not supported with Docker containerizer"),
    ("pullConfig with mesos (no secret store yet)", an_app(
        container={"type": "MESOS", "docker": {"image": "x", "pullConfig": {"secret": "s"}}},
        secrets={"s": {"source": "/v"}}), "/container/docker/pullConfig", "pullConfig is not supported yet"),
    ("both port mapping locations", an_app(container={"docker": {"image": "x", "network": "BRIDGE",
                                                                 "portMappings": [{"containerPort": 1}]},
                                                      "portMappings": [{"containerPort": 2}]}),
     "/", "cannot specify both portMappings and docker.portMappings"),
    ("docker with two container networks", an_app(networks=[{"mode": "container", "name": "a"},
                                                            {"mode": "container", "name": "b"}],
                                                  container={"docker": {"image": "x"}}),
     "/", "may only specify a single container network when using the Docker container engine"),
    ("persistent volume", an_app(container={"type": "MESOS", "volumes": [
        {"containerPath": "data", "mode": "RW", "persistent": {"size": 1}}]}),
     "/container/volumes(0)/persistent", "persistent volumes are not supported yet"),
    ("secret volume", an_app(container={"type": "MESOS", "volumes": [{"containerPath": "s", "secret": "k"}]},
                             secrets={"k": {"source": "/v"}}),
     "/container/volumes(0)/secret", "secret volumes are not supported yet"),
    ("mesospaas executor with a container", an_app(executor="//mesospaas", container={
        "type": "MESOS", "docker": {"image": "busybox:1.36"}}), "/container",
     "a container is not supported with the mesospaas executor yet"),
]


@pytest.mark.parametrize(("body", "path", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_containers_are_422s_with_a_clear_message(body: dict[str, Any], path: str, message: str) -> None:
    status, answer = rejected(body)
    assert status == 422
    assert any(message in text for text in errors_at(answer, path)), answer


def test_appc_images_are_refused() -> None:
    status, answer = rejected(an_app(container={"type": "MESOS", "appc": {"image": "coreos.com/etcd:v2"}}))
    assert status == 422
    assert any("appc images are not supported" in t for t in errors_at(answer, "/container/appc")), answer


@pytest.mark.parametrize("container", [
    {"type": "MESOS"}, {"type": "MESOS", "docker": {"image": "busybox:1.36"}},
    {"type": "DOCKER", "docker": {"image": "nginx", "network": "BRIDGE"}},
    {"type": "MESOS", "volumes": [{"containerPath": "/d", "hostPath": "/srv/d", "mode": "RO"}]},
])
def test_supported_containers_are_accepted(container: dict[str, Any]) -> None:
    assert accepted(an_app(container=container)).spec.container is not None
