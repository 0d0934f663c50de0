#!/usr/bin/env bash
# A Mesos master as a systemd service (mesos-master.service). Needs Mesos installed (mesos-install.sh).
#
# Inputs (environment, set by the Vagrantfile):
#   NODE_IP        this node's private address: the master binds and advertises it (also as its hostname, so the
#                  web UI's redirect to the leading master works from outside the cluster)
#   MASTER_ZK      zk://HOST:2181,.../mesos: where the masters elect a leader (agents and frameworks read it)
#   MASTER_QUORUM  masters that must agree on a registry write: a majority, 2 of 3
#   CLUSTER_NAME   shown in the web UI (default mesospaas-vagrant)
#
# Idempotent: the master restarts only when its unit changed.
set -euo pipefail

LOG_TAG=mesos-master
[ -r "${PROVISION_LIB:=/mesospaas/vagrant/provision/lib.sh}" ] \
  || { echo "[$LOG_TAG] ERROR: no $PROVISION_LIB: is the checkout synced to /mesospaas?" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR/../.. source=vagrant/provision/lib.sh
source "$PROVISION_LIB"

: "${NODE_IP:?NODE_IP is required}"
: "${MASTER_ZK:?MASTER_ZK is required: zk://host:2181,.../mesos}"
: "${MASTER_QUORUM:?MASTER_QUORUM is required}"
CLUSTER_NAME=${CLUSTER_NAME:-mesospaas-vagrant}

binary=$(command -v mesos-master) || die "mesos-master is not installed (run mesos-install.sh first)"
install -d -m 0755 /var/lib/mesos/master /var/log/mesos

changed=0
put_file /etc/systemd/system/mesos-master.service 0644 <<EOF
# Written by vagrant/provision/mesos-master.sh.
[Unit]
Description=Mesos master $NODE_IP
Documentation=https://mesos.apache.org/documentation/latest/configuration/master/
After=network-online.target zookeeper.service
Wants=network-online.target

[Service]
ExecStart=$binary \\
  --ip=$NODE_IP \\
  --hostname=$NODE_IP \\
  --port=5050 \\
  --zk=$MASTER_ZK \\
  --quorum=$MASTER_QUORUM \\
  --work_dir=/var/lib/mesos/master \\
  --log_dir=/var/log/mesos \\
  --cluster=$CLUSTER_NAME
Restart=always
RestartSec=10
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOF

start_service mesos-master.service

# A master answers /health as soon as it runs; a leader exists once a quorum of masters (and of ZooKeeper) runs.
if wait_until 30 curl -fsS -o /dev/null "http://$NODE_IP:5050/health"; then
  # A standby master redirects /state to the leader; without a leader there is no answer yet.
  leader=$(curl -fsSL --max-time 5 "http://$NODE_IP:5050/state" 2>/dev/null \
    | grep -o '"leader":"[^"]*"' | head -n 1 | cut -d'"' -f4 || true)
  log "running at http://$NODE_IP:5050 (leader: ${leader:-none yet})"
  exit 0
fi
# Not fatal: the first master is provisioned before the others, so ZooKeeper may have no majority yet.
log "WARNING: no answer on http://$NODE_IP:5050/health yet: see journalctl -u mesos-master and /var/log/mesos"
log "  (a master needs a ZooKeeper majority and $MASTER_QUORUM masters; later nodes' provisioning brings them)"
