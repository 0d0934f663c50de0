#!/usr/bin/env bash
# The edge node: Debian's haproxy package with a PLACEHOLDER configuration.
#
# The real /etc/haproxy/haproxy.cfg (frontends and backends for the running apps, from their HAPROXY_* labels and
# service ports, marathon-lb style) is written by mesospaas' routing generator, which a later issue brings. Until
# then HAProxy serves its statistics page on :9090 and answers 503 on :80.
#
# Input (environment, set by the Vagrantfile):
#   NODE_IP   this node's private address (for the messages)
#
# Idempotent, and never overwrites a configuration someone else wrote: the placeholder goes in only while the
# file is missing, still the package's default, or still this placeholder.
set -euo pipefail

LOG_TAG=haproxy
[ -r "${PROVISION_LIB:=/mesospaas/vagrant/provision/lib.sh}" ] \
  || { echo "[$LOG_TAG] ERROR: no $PROVISION_LIB: is the checkout synced to /mesospaas?" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR/../.. source=vagrant/provision/lib.sh
source "$PROVISION_LIB"

NODE_IP=${NODE_IP:-$(hostname -I | awk '{print $NF}')}
CFG=/etc/haproxy/haproxy.cfg
MARKER="# mesospaas-vagrant placeholder"

apt_install haproxy

package_md5=$(dpkg-query -W -f='${Conffiles}\n' haproxy | awk -v f="$CFG" '$1 == f {print $2}')
current_md5=""
if [ -f "$CFG" ]; then
  current_md5=$(md5sum "$CFG" | cut -d' ' -f1)
fi
if [ -f "$CFG" ] && ! grep -qF "$MARKER" "$CFG" && [ "$current_md5" != "$package_md5" ]; then
  log "$CFG is neither the package's nor the placeholder: left as it is (the routing generator's, presumably)"
  haproxy -c -q -f "$CFG" || die "$CFG does not pass 'haproxy -c'"
  systemctl enable --now haproxy.service >/dev/null 2>&1
  exit 0
fi

tmp=$(mktemp)
cat > "$tmp" <<EOF
$MARKER (vagrant/provision/haproxy.sh)
# PLACEHOLDER. mesospaas' routing generator (a later issue) replaces this file with the frontends and backends
# of the running apps and reloads HAProxy. Until then: statistics on :9090, 503 on :80.
global
    log /dev/log local0
    chroot /var/lib/haproxy
    stats socket /run/haproxy/admin.sock mode 660 level admin
    stats timeout 30s
    user haproxy
    group haproxy
    daemon
    maxconn 20000

defaults
    log global
    mode http
    option httplog
    option dontlognull
    timeout connect 5s
    timeout client 50s
    timeout server 50s

frontend stats
    bind *:9090
    stats enable
    stats uri /haproxy?stats
    stats refresh 10s

frontend http-in
    bind *:80
    http-request return status 503 content-type text/plain string "mesospaas edge: no routes configured yet"
EOF
haproxy -c -q -f "$tmp" || { rm -f "$tmp"; die "the placeholder configuration does not pass 'haproxy -c'"; }
if cmp -s "$tmp" "$CFG"; then
  rm -f "$tmp"
  systemctl enable --now haproxy.service >/dev/null 2>&1
  log "placeholder configuration in place; statistics at http://$NODE_IP:9090/haproxy?stats"
  exit 0
fi
install -m 0644 "$tmp" "$CFG"
rm -f "$tmp"
systemctl enable haproxy.service >/dev/null 2>&1
systemctl reload-or-restart haproxy.service
log "wrote the placeholder $CFG; statistics at http://$NODE_IP:9090/haproxy?stats"
