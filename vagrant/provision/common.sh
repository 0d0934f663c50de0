#!/usr/bin/env bash
# Every node: the base packages, time synchronisation, and every node's name in /etc/hosts.
#
# Input (environment, set by the Vagrantfile):
#   CLUSTER_HOSTS   "IP NAME;IP NAME;..." for all nodes of the cluster
#
# Idempotent: a second run changes nothing. Runs as root (Vagrant's shell provisioner uses sudo).
set -euo pipefail

LOG_TAG=common
[ -r "${PROVISION_LIB:=/mesospaas/vagrant/provision/lib.sh}" ] \
  || { echo "[$LOG_TAG] ERROR: no $PROVISION_LIB: is the checkout synced to /mesospaas?" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR/../.. source=vagrant/provision/lib.sh
source "$PROVISION_LIB"

: "${CLUSTER_HOSTS:?CLUSTER_HOSTS is required: \"IP NAME;IP NAME;...\"}"

apt_install ca-certificates curl rsync procps

# ZooKeeper and Mesos compare timestamps across nodes: keep the clocks synchronised. Whatever time daemon the box
# brings stays; without one, systemd-timesyncd.
if ! installed chrony && ! installed ntpsec && ! installed openntpd; then
  apt_install systemd-timesyncd
  systemctl enable --now systemd-timesyncd >/dev/null 2>&1 || log "systemd-timesyncd did not start (no network time?)"
fi

# Every node by name, on its private address. Vagrant maps the node's own name to 127.0.1.1, which would make
# a service that resolves its hostname announce loopback: that line goes.
me=$(hostname)
block=$(
  echo "# BEGIN mesospaas cluster (vagrant/provision/common.sh)"
  IFS=';' read -r -a entries <<< "$CLUSTER_HOSTS"
  for entry in "${entries[@]}"; do
    [ -n "$entry" ] && echo "$entry"
  done
  echo "# END mesospaas cluster"
)
current=$(cat /etc/hosts)
wanted=$(
  printf '%s\n' "$current" \
    | sed '/^# BEGIN mesospaas cluster/,/^# END mesospaas cluster/d' \
    | awk -v me="$me" '{ drop = 0; if ($1 == "127.0.1.1") for (i = 2; i <= NF; i++) if ($i == me) drop = 1 } !drop'
  printf '%s\n' "$block"
)
if [ "$current" != "$wanted" ]; then
  printf '%s\n' "$wanted" > /etc/hosts.mesospaas-new
  mv /etc/hosts.mesospaas-new /etc/hosts
  log "/etc/hosts updated"
fi
log "done"
