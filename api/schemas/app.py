"""The Marathon app definition (``/v2/apps`` bodies and responses) as marshmallow schemas.

Owns: ``AppSchema`` and the schemas of its parts (container, port definitions and mappings, health and
readiness checks, networks, strategies, fetch, secrets, residency, affinity). Loading checks JSON types and
per-field rules; it does *not* fill defaults, because an update body must stay distinguishable from a full
definition until it is merged (``normalize``). Defaults are documented in each field's ``metadata`` (the
OpenAPI document shows them) and applied in ``normalize.complete``.

Unknown keys are ignored, as Marathon's readers ignore them (clients such as marathon-python send read-only
keys like ``tasksRunning`` or ``versionInfo`` back on update). ``null`` means "absent".

Field reference: Marathon reference §2.1 (app), §2.2 (container), §4.2 (health checks), §4.4 (readiness),
§5.2 (upgradeStrategy), §5.6 (unreachableStrategy); ``affinity``/``placementStrategy`` are ours
(``mesospaas/placement/README.md``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load

from api.schemas.fields import (
    PATH_MISSING,
    PORT_RANGE,
    AtLeast,
    Between,
    FullMatch,
    JsonBoolean,
    JsonDict,
    JsonEnum,
    JsonInteger,
    JsonList,
    JsonNested,
    JsonNumber,
    JsonString,
    MaxLength,
    NotEmpty,
    OneOfTypes,
)

REQUIRED = {"required": PATH_MISSING}

HEALTH_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
MARATHON_HEALTH_PROTOCOLS = ("HTTP", "HTTPS", "TCP")
MESOS_HEALTH_PROTOCOLS = ("COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
HTTP_HEALTH_PROTOCOLS = ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS")
PORT_PROTOCOLS = ("tcp", "udp", "udp,tcp")
NETWORK_MODES = ("container/bridge", "container", "host")
DOCKER_NETWORKS = ("BRIDGE", "HOST", "USER", "NONE")
CONTAINER_TYPES = ("DOCKER", "MESOS")
KILL_SELECTIONS = ("YOUNGEST_FIRST", "OLDEST_FIRST")
PLACEMENT_STRATEGIES = ("SPREAD", "BINPACK")
EXECUTOR_PATTERN = r"^(//cmd)|(//mesospaas)|(/?[^/]+(/[^/]+)*)|$"
"""Marathon's pattern, widened by ``//mesospaas`` (the mesospaas executor, ``executor/``)."""


def meta(description: str, default: Any = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"description": description, **extra}
    if default is not None:
        meta["default"] = default
    return meta


def opt(field: fields.Field) -> fields.Field:
    """Mark an already-built field optional and nullable (``null`` = absent)."""
    field.allow_none = True
    return field


class StrictSchema(Schema):
    """Ignores unknown keys; drops keys whose value was ``null``."""

    class Meta:
        unknown = EXCLUDE

    @post_load
    def _drop_nulls(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value is not None}


def string_map(description: str) -> fields.Field:
    return opt(JsonDict(JsonString(), metadata=meta(description, {})))


class PortDefinitionSchema(StrictSchema):
    port = opt(JsonInteger(validate=PORT_RANGE, metadata=meta(
        "Service port; 0 = assigned from the service-port range. With requirePorts also the host port.", 0)))
    protocol = opt(JsonEnum(PORT_PROTOCOLS, metadata=meta("tcp, udp or udp,tcp", "tcp")))
    name = opt(JsonString(metadata=meta("Port name, unique within the app (PORT_<NAME> in the environment).")))
    labels = string_map("Free-form port labels.")


class ContainerPortMappingSchema(StrictSchema):
    containerPort = opt(JsonInteger(validate=PORT_RANGE, metadata=meta(
        "Port inside the container; 0 = same as the assigned host port.", 0)))
    hostPort = opt(JsonInteger(validate=PORT_RANGE, metadata=meta(
        "Host port; 0 = any. Defaults to 0 in bridge mode; unset in container mode means no host port.")))
    servicePort = opt(JsonInteger(validate=PORT_RANGE, metadata=meta(
        "Load-balancer port; 0 = assigned from the service-port range.", 0)))
    protocol = opt(JsonEnum(PORT_PROTOCOLS, metadata=meta("tcp, udp or udp,tcp", "tcp")))
    name = opt(JsonString(metadata=meta("Port name, unique within the app.")))
    labels = string_map("Free-form port labels.")
    networkNames = opt(JsonList(JsonString(), metadata=meta(
        "Container networks this mapping applies to (needed with several container networks).")))


class DockerParameterSchema(StrictSchema):
    key = JsonString(required=True, error_messages={**JsonString().error_messages, **REQUIRED},
                     metadata=meta("docker run option name, without dashes"))
    value = JsonString(required=True, error_messages={**JsonString().error_messages, **REQUIRED},
                       metadata=meta("option value"))


class PullConfigSchema(StrictSchema):
    secret = JsonString(required=True, error_messages={**JsonString().error_messages, **REQUIRED},
                        metadata=meta("Name of a secret holding the registry credentials (MESOS only)."))


class DockerSchema(StrictSchema):
    image = opt(JsonString(metadata=meta("Docker image; required for DOCKER containers.")))
    network = opt(JsonEnum(DOCKER_NETWORKS, metadata=meta(
        "Deprecated: translated into the app's networks (BRIDGE -> container/bridge, USER -> container, "
        "HOST -> host).")))
    portMappings = opt(JsonList(JsonNested(ContainerPortMappingSchema), metadata=meta(
        "Deprecated location; moved to container.portMappings.")))
    privileged = opt(JsonBoolean(metadata=meta("Run the container privileged.", False)))
    parameters = opt(JsonList(JsonNested(DockerParameterSchema), metadata=meta(
        "Extra docker run parameters.", [])))
    forcePullImage = opt(JsonBoolean(metadata=meta("Pull the image before every launch.", False)))
    pullConfig = opt(JsonNested(PullConfigSchema, metadata=meta("Registry credentials (MESOS only).")))


class PersistentVolumeInfoSchema(StrictSchema):
    size = JsonInteger(int64=True, required=True, error_messages={**JsonInteger().error_messages, **REQUIRED},
                       metadata=meta("Size in MiB (> 0)."))
    maxSize = opt(JsonInteger(int64=True, metadata=meta("Maximum size in MiB (mount volumes only).")))
    type = opt(JsonEnum(("root", "path", "mount"), metadata=meta("Disk type.", "root")))
    constraints = opt(JsonList(JsonList(JsonString()), metadata=meta("Volume constraints ([path, LIKE, re]).")))
    profileName = opt(JsonString(metadata=meta("Storage profile name.")))


class ExternalVolumeInfoSchema(StrictSchema):
    name = opt(JsonString(metadata=meta("Volume name.")))
    provider = opt(JsonString(metadata=meta("Volume provider (e.g. dvdi).")))
    options = string_map("Provider options.")
    size = opt(JsonInteger(int64=True, metadata=meta("Size in GiB.")))


class VolumeSchema(StrictSchema):
    containerPath = opt(JsonString(metadata=meta("Mount path inside the container.")))
    hostPath = opt(JsonString(metadata=meta("Host path (host volumes).")))
    mode = opt(JsonEnum(("RO", "RW"), metadata=meta("Access mode.", "RW")))
    persistent = opt(JsonNested(PersistentVolumeInfoSchema, metadata=meta("Local persistent volume.")))
    external = opt(JsonNested(ExternalVolumeInfoSchema, metadata=meta("External volume.")))
    secret = opt(JsonString(metadata=meta("Secret volume: the name of a secret of the app.")))


class ContainerSchema(StrictSchema):
    type = opt(JsonEnum(CONTAINER_TYPES, metadata=meta("DOCKER (Docker containerizer) or MESOS (UCR).", "DOCKER")))
    docker = opt(JsonNested(DockerSchema, metadata=meta("Docker image and options.")))
    portMappings = opt(JsonList(JsonNested(ContainerPortMappingSchema), metadata=meta(
        "Port mappings for bridge and container networking (not allowed in host mode).")))
    volumes = opt(JsonList(JsonNested(VolumeSchema), metadata=meta("Volumes.", [])))
    appc = opt(fields.Raw(metadata=meta(  # read only to refuse it (api.schemas.normalize): containers, issue 16
        "Not supported: appc images are deprecated in Mesos; a 422 says so.")))


class CommandCheckSchema(StrictSchema):
    value = JsonString(required=True, error_messages={**JsonString().error_messages, **REQUIRED},
                       metadata=meta("Shell command; exit code 0 means healthy."))


class HealthCheckSchema(StrictSchema):
    protocol = opt(JsonEnum(HEALTH_PROTOCOLS, metadata=meta(
        "HTTP/HTTPS/TCP run on the leader; COMMAND and MESOS_* run on the agent.", "HTTP")))
    path = opt(JsonString(metadata=meta("HTTP path (HTTP, HTTPS, MESOS_HTTP, MESOS_HTTPS).", "/")))
    portIndex = opt(JsonInteger(validate=PORT_RANGE, metadata=meta(
        "Index into portDefinitions / portMappings; 0 when neither port nor portIndex is given.")))
    port = opt(JsonInteger(validate=PORT_RANGE, metadata=meta("A literal port, instead of portIndex.")))
    command = opt(JsonNested(CommandCheckSchema, metadata=meta("The command of a COMMAND check.")))
    gracePeriodSeconds = opt(JsonInteger(validate=AtLeast(0), metadata=meta(
        "Failures are ignored until the first success or this long after the task started.", 300)))
    intervalSeconds = opt(JsonInteger(validate=AtLeast(0), metadata=meta("Seconds between checks.", 60)))
    timeoutSeconds = opt(JsonInteger(validate=AtLeast(0), metadata=meta(
        "A check not answered within this many seconds failed.", 20)))
    maxConsecutiveFailures = opt(JsonInteger(validate=AtLeast(0), metadata=meta(
        "Consecutive failures before the task is killed; 0 = never (Marathon-level checks).", 3)))
    delaySeconds = opt(JsonInteger(validate=AtLeast(0), metadata=meta("Delay before the first check.", 15)))
    ignoreHttp1xx = opt(JsonBoolean(metadata=meta("Ignore 1xx responses (HTTP only).", False)))
    ipProtocol = opt(JsonEnum(("IPv4", "IPv6"), metadata=meta(
        "IPv6 only for MESOS_HTTP/MESOS_HTTPS/MESOS_TCP with DOCKER.", "IPv4")))


class ReadinessCheckSchema(StrictSchema):
    name = opt(JsonString(metadata=meta("Check name.", "readinessCheck")))
    protocol = opt(JsonEnum(("HTTP", "HTTPS"), metadata=meta("HTTP or HTTPS.", "HTTP")))
    path = opt(JsonString(metadata=meta("HTTP path.", "/")))
    portName = opt(JsonString(metadata=meta("Name of a port definition or port mapping.", "http-api")))
    intervalSeconds = opt(JsonInteger(validate=AtLeast(1), metadata=meta("Seconds between probes.", 30)))
    timeoutSeconds = opt(JsonInteger(validate=AtLeast(1), metadata=meta(
        "Probe timeout; must be less than intervalSeconds.", 10)))
    httpStatusCodesForReady = opt(JsonList(JsonInteger(validate=Between(100, 999)), metadata=meta(
        "Statuses that mean ready.", [200])))
    preserveLastResponse = opt(JsonBoolean(metadata=meta("Keep the last response in the results.", False)))


def _capacity(description: str) -> fields.Field:
    return opt(JsonNumber(
        validate=Between(0.0, 1.0, double=True, below="is less than 0", above="is greater than 1"),
        metadata=meta(description, 1.0),
    ))


class CanarySchema(StrictSchema):
    instances = opt(JsonInteger(validate=AtLeast(1), metadata=meta(
        "New instances started first, on top of the old ones (out of the over-capacity budget, at least 1).", 1)))
    healthySeconds = opt(JsonNumber(validate=AtLeast(0.0, double=True), metadata=meta(
        "How long every canary must stay healthy (and ready) before the rollout goes on.", 60)))
    promote = opt(JsonEnum(("AUTO", "MANUAL"), metadata=meta(
        "AUTO: go on by itself; MANUAL: pause until POST /v2/deployments/{id}/continue.", "AUTO")))


class UpgradeStrategySchema(StrictSchema):
    minimumHealthCapacity = _capacity("Share of instances kept healthy during a restart (0..1).")
    maximumOverCapacity = _capacity("Share of instances that may run on top during a restart (0..1).")
    progressDeadlineSeconds = opt(JsonNumber(validate=AtLeast(1.0, double=True), metadata=meta(
        "mesospaas extension: a deployment that makes no progress (no new instance healthy and ready, no old "
        "one stopped) for this long fails. Shown only with embed=app.extensions.")))
    autoRollback = opt(JsonBoolean(metadata=meta(
        "mesospaas extension: a failed deployment rolls back to the previous version by itself (with no "
        "progressDeadlineSeconds the deadline is 600 s). Shown only with embed=app.extensions.", False)))
    canary = opt(JsonNested(CanarySchema, metadata=meta(
        "mesospaas extension: a restart starts this many new instances first and waits until they have been "
        "healthy for healthySeconds. Shown only with embed=app.extensions.")))


class UnreachableEnabledSchema(StrictSchema):
    inactiveAfterSeconds = opt(JsonInteger(int64=True, validate=AtLeast(0), metadata=meta(
        "Unreachable this long: the instance is replaced.", 0)))
    expungeAfterSeconds = opt(JsonInteger(int64=True, validate=AtLeast(0), metadata=meta(
        "Unreachable this long: the instance is forgotten (killed if it returns).", 0)))


class NetworkSchema(StrictSchema):
    mode = opt(JsonEnum(NETWORK_MODES, metadata=meta("host, container/bridge or container.", "container")))
    name = opt(JsonString(metadata=meta("Container network name (container mode).")))
    labels = string_map("Network labels.")


class IpDiscoveryPortSchema(StrictSchema):
    number = JsonInteger(required=True, validate=PORT_RANGE,
                         error_messages={**JsonInteger().error_messages, **REQUIRED}, metadata=meta("Port."))
    name = JsonString(required=True, error_messages={**JsonString().error_messages, **REQUIRED},
                      metadata=meta("Port name."))
    protocol = opt(JsonEnum(PORT_PROTOCOLS, metadata=meta("Protocol.", "tcp")))
    labels = string_map("Port labels.")


class IpDiscoverySchema(StrictSchema):
    ports = opt(JsonList(JsonNested(IpDiscoveryPortSchema), metadata=meta("Discovery ports.", [])))


class IpAddressSchema(StrictSchema):
    groups = opt(JsonList(JsonString(), metadata=meta("Deprecated.")))
    labels = string_map("Network labels.")
    discovery = opt(JsonNested(IpDiscoverySchema, metadata=meta("Ports to advertise (MESOS containers).")))
    networkName = opt(JsonString(metadata=meta("Container network name.")))


class ResidencySchema(StrictSchema):
    relaunchEscalationTimeoutSeconds = opt(JsonInteger(validate=AtLeast(0), metadata=meta(
        "Deprecated; no effect.", 3600)))
    taskLostBehavior = opt(JsonEnum(("WAIT_FOREVER", "RELAUNCH_AFTER_TIMEOUT"), metadata=meta(
        "Deprecated; no effect.", "WAIT_FOREVER")))


class SecretDefSchema(StrictSchema):
    source = JsonString(required=True, error_messages={**JsonString().error_messages, **REQUIRED},
                        metadata=meta("Where the secret comes from."))


class EnvSecretRefSchema(StrictSchema):
    secret = JsonString(required=True, error_messages={**JsonString().error_messages, **REQUIRED},
                        metadata=meta("Name of an entry of the app's secrets."))


class ArtifactSchema(StrictSchema):
    uri = JsonString(required=True, validate=[NotEmpty(), MaxLength(1024)],
                     error_messages={**JsonString().error_messages, **REQUIRED},
                     metadata=meta("URI fetched into the sandbox (1..1024 characters)."))
    extract = opt(JsonBoolean(metadata=meta("Extract archives.", True)))
    executable = opt(JsonBoolean(metadata=meta("Make the file executable.", False)))
    cache = opt(JsonBoolean(metadata=meta("Use the fetcher cache.", False)))
    destPath = opt(JsonString(metadata=meta("Destination path in the sandbox.")))


class AffinityRuleSchema(StrictSchema):
    app = JsonString(required=True, error_messages={**JsonString().error_messages, **REQUIRED},
                     metadata=meta("The other app's path (relative paths resolve like dependencies)."))
    type = JsonEnum(("AFFINITY", "ANTI_AFFINITY"), required=True,
                    error_messages={**JsonEnum(()).error_messages, **REQUIRED},
                    metadata=meta("Place where the other app runs, or where it does not."))
    field = opt(JsonString(metadata=meta(
        "hostname, @hostname, @region, @zone or an agent attribute name.", "hostname")))
    mode = opt(JsonEnum(("REQUIRED", "PREFERRED"), metadata=meta(
        "REQUIRED is a hard filter, PREFERRED a scored preference.", "REQUIRED")))
    weight = opt(JsonInteger(validate=Between(1, 100), metadata=meta(
        "Relative weight among PREFERRED rules (1..100).", 50)))


class AffinitySchema(StrictSchema):
    apps = opt(JsonList(JsonNested(AffinityRuleSchema), metadata=meta("Rules relative to other apps.", [])))


def _limit(description: str) -> fields.Field:
    return opt(OneOfTypes(
        [JsonNumber(validate=AtLeast(0.0, double=True)), JsonEnum(("unlimited",))],
        metadata=meta(description, type_hint=("number", "unlimited")),
    ))


class ResourceLimitsSchema(StrictSchema):
    cpus = _limit("CPU limit (>= cpus) or \"unlimited\".")
    mem = _limit("Memory limit in MiB (>= mem) or \"unlimited\".")


class VersionInfoSchema(StrictSchema):
    lastScalingAt = JsonString(metadata=meta("Last scale or config change (ISO-8601, ...Z)."))
    lastConfigChangeAt = JsonString(metadata=meta("Last config change or restart (ISO-8601, ...Z)."))


class AppSchema(StrictSchema):
    """A Marathon app definition. Output carries every field with its default filled in."""

    id = opt(JsonString(metadata=meta(
        "App path, e.g. /shop/web; relative ids resolve against the enclosing group (or /).")))
    cmd = opt(JsonString(metadata=meta("Shell command (/bin/sh -c). Exactly one of cmd/args, or a container.")))
    args = opt(JsonList(JsonString(), metadata=meta("Exec-style argv, instead of cmd.")))
    user = opt(JsonString(metadata=meta("OS user on the agent.")))
    env = opt(JsonDict(
        OneOfTypes([JsonString(), JsonNested(EnvSecretRefSchema)]),
        metadata=meta("Environment: string values, or {\"secret\": name} references.", {},
                       value_shapes=("string", "EnvSecretRef")),
    ))
    instances = opt(JsonInteger(validate=AtLeast(0), metadata=meta("Number of instances; 0 suspends.", 1)))
    cpus = opt(JsonNumber(validate=AtLeast(0.001, double=True), metadata=meta("CPU shares per instance.", 1.0)))
    mem = opt(JsonNumber(validate=AtLeast(0.0, double=True), metadata=meta("Memory per instance, MiB.", 128.0)))
    disk = opt(JsonNumber(validate=AtLeast(0.0, double=True), metadata=meta("Disk per instance, MiB.", 0.0)))
    gpus = opt(JsonInteger(validate=AtLeast(0), metadata=meta("GPUs per instance (MESOS containers).", 0)))
    executor = opt(JsonString(validate=FullMatch(EXECUTOR_PATTERN), metadata=meta(
        "\"\" or //cmd: the Mesos command executor; //mesospaas: the mesospaas executor (log rotation, "
        "local health checks, usage); other custom executor paths are refused.", "")))
    constraints = opt(JsonList(JsonList(JsonString()), metadata=meta(
        "Placement constraints [field, OPERATOR, value?]; OPERATOR in UNIQUE, CLUSTER, GROUP_BY, LIKE, "
        "UNLIKE, MAX_PER, IS.", [])))
    acceptedResourceRoles = opt(JsonList(JsonString(), metadata=meta(
        "Offer roles this app may use (default: * and the app's role).")))
    role = opt(JsonString(metadata=meta("Mesos role the app's resources are allocated to.", "*")))
    container = opt(JsonNested(ContainerSchema, metadata=meta("Container (DOCKER or MESOS).")))
    networks = opt(JsonList(JsonNested(NetworkSchema), metadata=meta(
        "Networks: one host, one container/bridge, or 1..n container networks.", [{"mode": "host"}])))
    portDefinitions = opt(JsonList(JsonNested(PortDefinitionSchema), metadata=meta(
        "Ports in host mode.", [{"port": 0, "name": "default", "protocol": "tcp"}])))
    ports = opt(JsonList(JsonInteger(validate=PORT_RANGE), metadata=meta(
        "Deprecated: translated into portDefinitions.")))
    requirePorts = opt(JsonBoolean(metadata=meta(
        "Host mode: the declared ports are the host ports (only offers holding them fit).", False)))
    healthChecks = opt(JsonList(JsonNested(HealthCheckSchema), metadata=meta("Health checks.", [])))
    readinessChecks = opt(JsonList(JsonNested(ReadinessCheckSchema), metadata=meta(
        "Readiness checks (at most one).", [])))
    dependencies = opt(JsonList(JsonString(), metadata=meta("Apps or groups deployed before this one.", [])))
    upgradeStrategy = opt(JsonNested(UpgradeStrategySchema, metadata=meta(
        "Restart capacities.", {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0})))
    backoffSeconds = opt(JsonInteger(validate=AtLeast(0), metadata=meta("Initial launch delay after a failure.", 1)))
    backoffFactor = opt(JsonNumber(validate=AtLeast(1.0, double=True), metadata=meta(
        "Delay multiplier per further failure.", 1.15)))
    maxLaunchDelaySeconds = opt(JsonInteger(validate=AtLeast(0), metadata=meta("Cap on the launch delay.", 300)))
    killSelection = opt(JsonEnum(KILL_SELECTIONS, metadata=meta(
        "Which instances go first when scaling down.", "YOUNGEST_FIRST")))
    unreachableStrategy = opt(OneOfTypes(
        [JsonEnum(("disabled",)), JsonNested(UnreachableEnabledSchema)],
        metadata=meta("\"disabled\" or {inactiveAfterSeconds, expungeAfterSeconds}.",
                       {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
                       type_hint=("disabled", "UnreachableEnabled")),
    ))
    taskKillGracePeriodSeconds = opt(JsonInteger(validate=AtLeast(0), metadata=meta(
        "Seconds between SIGTERM and SIGKILL.")))
    fetch = opt(JsonList(JsonNested(ArtifactSchema), metadata=meta("URIs fetched into the sandbox.", [])))
    uris = opt(JsonList(JsonString(validate=[NotEmpty(), MaxLength(1024)]), metadata=meta(
        "Deprecated: translated into fetch.")))
    storeUrls = opt(JsonList(JsonString(validate=NotEmpty()), metadata=meta("Deprecated artifact store URLs.", [])))
    labels = string_map("Free-form labels (marathon-lb and Traefik read HAPROXY_*/traefik.* labels).")
    secrets = opt(JsonDict(JsonNested(SecretDefSchema), metadata=meta("Secrets by name.", {})))
    ipAddress = opt(JsonNested(IpAddressSchema, metadata=meta("Deprecated: translated into networks.")))
    residency = opt(JsonNested(ResidencySchema, metadata=meta(
        "Deprecated; its presence marks the app resident (persistent volumes).")))
    tty = opt(JsonBoolean(metadata=meta("Allocate a TTY.")))
    resourceLimits = opt(JsonNested(ResourceLimitsSchema, metadata=meta("Resource limits above the requests.")))
    affinity = opt(JsonNested(AffinitySchema, metadata=meta(
        "Affinity and anti-affinity to other apps (mesospaas extension; only echoed when set).")))
    placementStrategy = opt(JsonEnum(PLACEMENT_STRATEGIES, metadata=meta(
        "SPREAD (default) or BINPACK (mesospaas extension; only echoed when set).")))
    version = opt(JsonString(metadata=meta(
        "Read-only version timestamp. On update, {\"version\": ts} alone rolls back to that version.")))
    versionInfo = JsonNested(VersionInfoSchema, dump_only=True, metadata=meta("Read-only."))
