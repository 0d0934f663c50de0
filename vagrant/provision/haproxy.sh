#!/usr/bin/env bash
# The edge node: Debian's haproxy, driven by `mesospaas lb --run-haproxy` (systemd unit mesospaas-lb).
#
# mesospaas lb follows the mesospaas API (every instance: it fails over and follows the leader), renders the
# HAProxy configuration of the running apps from their HAPROXY_* labels and service ports (marathon-lb style)
# into /var/lib/mesospaas-lb/haproxy.cfg, validates it, and runs HAProxy itself in master-worker mode (reloads
# hand the listening sockets over; server-only changes go through the runtime API without a reload).
# Debian's own haproxy.service is stopped and masked: the lb supervises its HAProxy.
#
# Inputs (environment, set by the Vagrantfile):
#   NODE_IP         this node's private address
#   API_URLS        the mesospaas APIs, comma separated (http://HOST:PORT,...)
#   SOURCE_GIT_URL  empty: copy the checkout Vagrant synced to /mesospaas; set: clone this repository instead
#   SOURCE_GIT_REF  the branch, tag or commit to check out from SOURCE_GIT_URL (default main)
#
# Every `mesospaas lb` flag also reads MESOSPAAS_LB_<FLAG>, so the service's configuration is the environment
# file /etc/default/mesospaas-lb (rewritten on every run; local additions in /etc/default/mesospaas-lb.local).
# Idempotent: the service restarts only when code, configuration or unit changed.
set -euo pipefail

LOG_TAG=edge
[ -r "${PROVISION_LIB:=/mesospaas/vagrant/provision/lib.sh}" ] \
  || { echo "[$LOG_TAG] ERROR: no $PROVISION_LIB: is the checkout synced to /mesospaas?" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR/../.. source=vagrant/provision/lib.sh
source "$PROVISION_LIB"

NODE_IP=${NODE_IP:-$(hostname -I | awk '{print $NF}')}
: "${API_URLS:?API_URLS is required: http://host:8080,...}"
SOURCE_GIT_URL=${SOURCE_GIT_URL:-}
SOURCE_GIT_REF=${SOURCE_GIT_REF:-main}
SYNCED=/mesospaas
APP=/opt/mesospaas
STATE=/var/lib/mesospaas-lb

changed=0  # put_file and the code update below set it: start_service restarts mesospaas-lb then

apt_install haproxy python3 python3-venv python3-dev build-essential git rsync ca-certificates curl
# The lb runs HAProxy itself; the package's service would hold :80 and a configuration nobody maintains.
systemctl disable --now haproxy.service >/dev/null 2>&1 || true
systemctl mask haproxy.service >/dev/null 2>&1 || true

install -d -o root -g root -m 0755 "$APP" "$STATE"
if [ -n "$SOURCE_GIT_URL" ]; then
  [ -d "$APP/.git" ] || git -C "$APP" init -q
  before=$(git -C "$APP" rev-parse -q --verify HEAD || true)
  git -C "$APP" fetch -q "$SOURCE_GIT_URL" "$SOURCE_GIT_REF"
  git -C "$APP" checkout -q -f --detach FETCH_HEAD
  [ "$before" = "$(git -C "$APP" rev-parse HEAD)" ] || { changed=1; log "checked out $SOURCE_GIT_REF"; }
else
  [ -f "$SYNCED/setup.cfg" ] || die "no mesospaas checkout at $SYNCED (the synced folder; or set CLUSTER_MESOSPAAS_GIT_URL)"
  copied=$(rsync -a --delete --itemize-changes --exclude=/.venv/ --exclude=/.git/ --exclude=/vagrant/ \
    --exclude=.mypy_cache/ --exclude=.pytest_cache/ --exclude=__pycache__/ --exclude='*.egg-info/' \
    "$SYNCED/" "$APP/")
  [ -z "$copied" ] || { changed=1; log "copied the checkout from $SYNCED"; }
fi
(cd "$APP" && bash .ci/setup)
lb_help=$("$APP/.venv/bin/mesospaas" lb --help)
for flag in --api --run-haproxy --config --http-port --status-port; do
  grep -q -- "$flag " <<< "$lb_help" || die "this checkout's 'mesospaas lb' has no $flag flag"
done

put_file /etc/default/mesospaas-lb 0644 <<EOF
# Written by vagrant/provision/haproxy.sh on every provisioning run: put local changes in
# /etc/default/mesospaas-lb.local. Every 'mesospaas lb' flag reads MESOSPAAS_LB_<FLAG> ('mesospaas lb --help').
MESOSPAAS_LB_API=$API_URLS
MESOSPAAS_LB_GROUP=external
MESOSPAAS_LB_CONFIG=$STATE/haproxy.cfg
MESOSPAAS_LB_RUN_HAPROXY=true
MESOSPAAS_LB_HTTP_PORT=80
MESOSPAAS_LB_STATS_PORT=9090
MESOSPAAS_LB_STATUS_PORT=9092
EOF

# The API's credentials (vagrant/provision/mesospaas.sh makes them in the synced checkout): in a file only root
# reads, which the unit reads after the settings.
CREDENTIALS=$SYNCED/vagrant/.credentials
if [ -f "$CREDENTIALS/admin-token" ]; then
  put_file /etc/default/mesospaas-lb.credentials 0600 <<EOF
MESOSPAAS_LB_TOKEN=$(cat "$CREDENTIALS/admin-token")
EOF
else
  log "WARNING: no $CREDENTIALS/admin-token yet: provision a mesospaas node first, then this one again"
fi

put_file /etc/systemd/system/mesospaas-lb.service 0644 <<EOF
# Written by vagrant/provision/haproxy.sh.
[Unit]
Description=mesospaas lb: HAProxy routing for the apps ($NODE_IP)
After=network-online.target
Wants=network-online.target

[Service]
WorkingDirectory=$STATE
EnvironmentFile=/etc/default/mesospaas-lb
EnvironmentFile=-/etc/default/mesospaas-lb.local
EnvironmentFile=-/etc/default/mesospaas-lb.credentials
ExecStart=$APP/.venv/bin/mesospaas lb
# SIGTERM stops the lb and its HAProxy; systemd restarts it, and HAProxy again with it.
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=30
Restart=always
RestartSec=3
LimitNOFILE=200000

[Install]
WantedBy=multi-user.target
EOF

start_service mesospaas-lb.service "restarting mesospaas-lb"

if wait_until 60 curl -fsS -o /dev/null "http://$NODE_IP:9092/status"; then
  log "lb status at http://$NODE_IP:9092/status; HAProxy statistics at http://$NODE_IP:9090/haproxy?stats"
  exit 0
fi
log "WARNING: no answer on http://$NODE_IP:9092/status yet: see journalctl -u mesospaas-lb"
