#!/usr/bin/env bash
# A Mesos agent as a systemd service (mesos-agent.service). Needs Mesos installed (mesos-install.sh).
#
# Inputs (environment, set by the Vagrantfile):
#   NODE_IP           this node's private address: the agent binds and advertises it, also as its hostname, so the
#                     host:port of a task (in the mesospaas API) can be reached from outside the cluster
#   MASTER_ZK         zk://HOST:2181,.../mesos: where the agent finds the leading master
#   AGENT_ATTRIBUTES  Mesos attribute syntax, e.g. "rack:r1;zone:a" (constraints and affinity use them)
#   AGENT_RESOURCES   Mesos resource syntax, e.g. "cpus:2;mem:1536;ports:[31000-32000]" (disk: detected)
#
# Isolation is POSIX (posix/cpu, posix/mem, launcher posix): it works whatever cgroups version the kernel runs
# (Debian 12 boots with cgroups v2 only) and needs no systemd integration in the agent. Memory and CPU limits
# are then accounted, not enforced. KillMode=process: restarting the agent leaves the tasks running, and the
# agent recovers them from its checkpoints (mesospaas registers with checkpoint: true).
# Idempotent: the agent restarts only when its unit changed.
set -euo pipefail

LOG_TAG=mesos-agent
[ -r "${PROVISION_LIB:=/mesospaas/vagrant/provision/lib.sh}" ] \
  || { echo "[$LOG_TAG] ERROR: no $PROVISION_LIB: is the checkout synced to /mesospaas?" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR/../.. source=vagrant/provision/lib.sh
source "$PROVISION_LIB"

: "${NODE_IP:?NODE_IP is required}"
: "${MASTER_ZK:?MASTER_ZK is required: zk://host:2181,.../mesos}"
: "${AGENT_ATTRIBUTES:?AGENT_ATTRIBUTES is required, e.g. rack:r1;zone:a}"
: "${AGENT_RESOURCES:?AGENT_RESOURCES is required, e.g. cpus:2;mem:1536;ports:[31000-32000]}"

binary=$(command -v mesos-agent) || die "mesos-agent is not installed (run mesos-install.sh first)"

# Tasks are plain commands (the example app, examples/hello-web.json, runs python3's http.server), and Mesos
# runs HTTP health checks (MESOS_HTTP) with curl.
apt_install python3 curl

install -d -m 0755 /var/lib/mesos/agent /var/log/mesos

# Run by put_file just before it replaces the unit (SC2317: shellcheck does not see that call).
# shellcheck disable=SC2317
warn_if_registered() {
  if [ -f "$unit" ] && [ -e /var/lib/mesos/agent/meta/slaves/latest ]; then
    log "WARNING: the agent's flags changed. If it no longer starts ('Incompatible agent info' in"
    log "  journalctl -u mesos-agent), it must register anew, which loses its tasks:"
    log "  sudo rm -f /var/lib/mesos/agent/meta/slaves/latest && sudo systemctl restart mesos-agent"
  fi
}

changed=0
unit=/etc/systemd/system/mesos-agent.service
put_file "$unit" 0644 warn_if_registered <<EOF
# Written by vagrant/provision/mesos-agent.sh.
[Unit]
Description=Mesos agent $NODE_IP
Documentation=https://mesos.apache.org/documentation/latest/configuration/agent/
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=$binary \\
  --master=$MASTER_ZK \\
  --ip=$NODE_IP \\
  --hostname=$NODE_IP \\
  --port=5051 \\
  --work_dir=/var/lib/mesos/agent \\
  --log_dir=/var/log/mesos \\
  --containerizers=mesos \\
  --launcher=posix \\
  --isolation=posix/cpu,posix/mem \\
  --systemd_enable_support=false \\
  "--attributes=$AGENT_ATTRIBUTES" \\
  "--resources=$AGENT_RESOURCES"
KillMode=process
Restart=always
RestartSec=10
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOF

start_service mesos-agent.service

if wait_until 30 curl -fsS -o /dev/null "http://$NODE_IP:5051/state"; then
  log "running at http://$NODE_IP:5051 ($AGENT_ATTRIBUTES; $AGENT_RESOURCES)"
  exit 0
fi
die "mesos-agent did not answer on http://$NODE_IP:5051/state: see journalctl -u mesos-agent and /var/log/mesos"
