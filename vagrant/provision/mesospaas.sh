#!/usr/bin/env bash
# A mesospaas instance: the checkout in /opt/mesospaas, its virtual environment made by `bash .ci/setup`, and
# mesospaas.service running `mesospaas serve` as the system user mesospaas, configured by /etc/default/mesospaas.
#
# Inputs (environment, set by the Vagrantfile):
#   NODE_IP         this node's private address: the API binds it, and it is what /v2/leader and the other
#                   instances (which proxy to the leader) see
#   MASTER_ZK       zk://HOST:2181,.../mesos: the Mesos masters' election (MESOSPAAS_MASTER)
#   STATE_ZK        zk://HOST:2181,.../mesospaas: mesospaas' own leader election and state (MESOSPAAS_ZK)
#   API_PORT        the API's port (default 8080)
#   SOURCE_GIT_URL  empty: copy the checkout Vagrant synced to /mesospaas; set: clone this repository instead
#   SOURCE_GIT_REF  the branch, tag or commit to check out from SOURCE_GIT_URL (default main)
#
# Every `mesospaas serve` flag also reads MESOSPAAS_<FLAG>, so the service's whole configuration is the
# environment file. This script rewrites /etc/default/mesospaas on every run; local additions belong in
# /etc/default/mesospaas.local, which the unit reads after it.
# Idempotent: the service restarts (a leadership handover if it led) only when code, configuration or unit changed.
set -euo pipefail

LOG_TAG=mesospaas
[ -r "${PROVISION_LIB:=/mesospaas/vagrant/provision/lib.sh}" ] \
  || { echo "[$LOG_TAG] ERROR: no $PROVISION_LIB: is the checkout synced to /mesospaas?" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR/../.. source=vagrant/provision/lib.sh
source "$PROVISION_LIB"

: "${NODE_IP:?NODE_IP is required}"
: "${MASTER_ZK:?MASTER_ZK is required: zk://host:2181,.../mesos}"
: "${STATE_ZK:?STATE_ZK is required: zk://host:2181,.../mesospaas}"
API_PORT=${API_PORT:-8080}
SOURCE_GIT_URL=${SOURCE_GIT_URL:-}
SOURCE_GIT_REF=${SOURCE_GIT_REF:-main}
SYNCED=/mesospaas
APP=/opt/mesospaas
STATE=/var/lib/mesospaas

as_mesospaas() { runuser -u mesospaas -- env HOME="$STATE" "$@"; }

changed=0  # put_file and the code updates below set it: start_service restarts mesospaas then

# Python 3.11 with venv, and a compiler and headers: .ci/setup builds pymesos' http-parser extension.
apt_install python3 python3-venv python3-dev build-essential git rsync ca-certificates curl

if ! id mesospaas >/dev/null 2>&1; then
  useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin mesospaas
fi
install -d -o mesospaas -g mesospaas -m 0750 "$STATE"
install -d -o mesospaas -g mesospaas -m 0755 "$APP"

# The code.
if [ -n "$SOURCE_GIT_URL" ]; then
  [ -d "$APP/.git" ] || as_mesospaas git -C "$APP" init -q
  before=$(as_mesospaas git -C "$APP" rev-parse -q --verify HEAD || true)
  as_mesospaas git -C "$APP" fetch -q "$SOURCE_GIT_URL" "$SOURCE_GIT_REF"
  as_mesospaas git -C "$APP" checkout -q -f --detach FETCH_HEAD
  after=$(as_mesospaas git -C "$APP" rev-parse HEAD)
  [ "$before" = "$after" ] || { changed=1; log "checked out $SOURCE_GIT_REF ($after)"; }
else
  if [ ! -f "$SYNCED/setup.cfg" ] || [ ! -f "$SYNCED/.ci/setup" ]; then
    die "no mesospaas checkout at $SYNCED (the synced folder; or set CLUSTER_MESOSPAAS_GIT_URL)"
  fi
  # Build products and the host's own virtual environment stay out; .venv here is this node's.
  copied=$(rsync -a --delete --itemize-changes --chown=mesospaas:mesospaas \
    --exclude=/.venv/ --exclude=/.git/ --exclude=/vagrant/ --exclude=.mypy_cache/ --exclude=.pytest_cache/ \
    --exclude=.hypothesis/ --exclude=__pycache__/ --exclude='*.egg-info/' \
    "$SYNCED/" "$APP/")
  [ -z "$copied" ] || { changed=1; log "copied the checkout from $SYNCED"; }
fi

# The virtual environment: .ci/setup is idempotent (it re-checks a fingerprint of the dependencies).
(cd "$APP" && as_mesospaas bash .ci/setup)
serve_help=$("$APP/.venv/bin/mesospaas" serve --help)
for flag in --master --zk --http-address --http-port --work-dir; do
  grep -q -- "$flag " <<< "$serve_help" \
    || die "this checkout's 'mesospaas serve' has no $flag flag, which this cluster needs"
done

# Credentials (the API binds $NODE_IP, not loopback: 'mesospaas serve' refuses to run it open). Every instance
# needs the same principals file (a standby hands requests to the leader, which checks them) and the same
# secrets key, so the first node to provision makes them in the synced checkout, beside this script's folder
# (vagrant/.credentials, which ignores itself for git), and every node installs a copy readable by mesospaas
# only. The admin token is written once into vagrant/.credentials/admin-token on the host.
CREDENTIALS=$SYNCED/vagrant/.credentials
if [ ! -f "$CREDENTIALS/principals.json" ]; then
  install -d -m 0700 "$CREDENTIALS"
  echo '*' > "$CREDENTIALS/.gitignore"
  "$APP/.venv/bin/mesospaas" auth token --file "$CREDENTIALS/principals.json" --name admin --grant 'admin:/**' \
    | sed 's/^Authorization: Bearer //' > "$CREDENTIALS/admin-token"
  head -c 32 /dev/urandom | base64 > "$CREDENTIALS/secrets.key"
  log "made the cluster's principals file, admin token and secrets key in $CREDENTIALS"
fi
put_file "$STATE/principals.json" 0600 < "$CREDENTIALS/principals.json"
put_file "$STATE/secrets.key" 0600 < "$CREDENTIALS/secrets.key"
chown mesospaas:mesospaas "$STATE/principals.json" "$STATE/secrets.key"
ADMIN_TOKEN=$(cat "$CREDENTIALS/admin-token")

put_file /etc/default/mesospaas 0644 <<EOF
# Written by vagrant/provision/mesospaas.sh on every provisioning run: put local changes in
# /etc/default/mesospaas.local. Every 'mesospaas serve' flag reads MESOSPAAS_<FLAG> ('mesospaas serve --help').
MESOSPAAS_MASTER=$MASTER_ZK
MESOSPAAS_ZK=$STATE_ZK
MESOSPAAS_HTTP_ADDRESS=$NODE_IP
MESOSPAAS_HTTP_PORT=$API_PORT
MESOSPAAS_WORK_DIR=$STATE
MESOSPAAS_AUTH_FILE=$STATE/principals.json
MESOSPAAS_AUTH_EXEMPT_PING=true
MESOSPAAS_SECRETS_KEY_FILE=$STATE/secrets.key
MESOSPAAS_AUDIT_LOG=$STATE/audit.jsonl
EOF

put_file /etc/systemd/system/mesospaas.service 0644 <<EOF
# Written by vagrant/provision/mesospaas.sh.
[Unit]
Description=mesospaas scheduler and Marathon-compatible API ($NODE_IP:$API_PORT)
After=network-online.target
Wants=network-online.target

[Service]
User=mesospaas
Group=mesospaas
WorkingDirectory=$STATE
EnvironmentFile=/etc/default/mesospaas
EnvironmentFile=-/etc/default/mesospaas.local
ExecStart=$APP/.venv/bin/mesospaas serve
# SIGTERM stops the scheduler and leaves the framework registered with Mesos: its tasks keep running.
KillSignal=SIGTERM
TimeoutStopSec=60
Restart=always
RestartSec=5
LimitNOFILE=65536
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full

[Install]
WantedBy=multi-user.target
EOF

start_service mesospaas.service "restarting mesospaas"

if wait_until 60 curl -fsS -o /dev/null "http://$NODE_IP:$API_PORT/ping"; then
  leader=$(curl -fsS --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" "http://$NODE_IP:$API_PORT/v2/leader" \
    2>/dev/null || true)
  log "API at http://$NODE_IP:$API_PORT (leader: ${leader:-not elected yet})"
  exit 0
fi
log "WARNING: no answer on http://$NODE_IP:$API_PORT/ping yet: see journalctl -u mesospaas"
log "  (it waits for ZooKeeper and a Mesos master, so it may just be early)"
