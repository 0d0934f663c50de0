#!/usr/bin/env bash
# The helpers the provisioning scripts here share: log/die, apt_install, put_file, start_service, wait_until, and
# the environment they all run with. Not run by itself: each script sets LOG_TAG (the [tag] of its messages) and
# sources this file from the checkout Vagrant syncs to /mesospaas (synced folders are in place before any shell
# provisioner runs; PROVISION_LIB names another copy, e.g. to try a script outside a VM):
#
#   LOG_TAG=zookeeper
#   [ -r "${PROVISION_LIB:=/mesospaas/vagrant/provision/lib.sh}" ] \
#     || { echo "[$LOG_TAG] ERROR: no $PROVISION_LIB: is the checkout synced to /mesospaas?" >&2; exit 1; }
#   # shellcheck source-path=SCRIPTDIR/../.. source=vagrant/provision/lib.sh
#   source "$PROVISION_LIB"
#
# Vagrant uploads each script at every provisioning run, but this file only comes with the synced folder: with
# rsync (the default), `vagrant rsync` (or `vagrant up`/`reload`) before `vagrant provision` after changing it.
# Sourcing defines functions and sets the environment below, nothing else. The scripts set -euo pipefail
# themselves; it stands here too so that nothing sources these helpers without it.
set -euo pipefail

: "${LOG_TAG:?set LOG_TAG (the tag of the messages) before sourcing vagrant/provision/lib.sh}"

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive

log() { echo "[$LOG_TAG] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# installed PKG: whether the Debian package PKG is installed.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# apt_get_install PKG...: refreshes the package lists and installs PKG... (names or .deb paths), quietly.
apt_get_install() {
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# apt_install PKG...: installs those of PKG... that are not installed yet, and says which; nothing if none.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    installed "$pkg" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt_get_install "${missing[@]}"
}

# put_file PATH MODE [COMMAND [ARG...]]: writes stdin to PATH when it differs, and sets changed=1 then (the
# script sets changed=0 first). COMMAND, when given, runs just before a differing PATH is written.
put_file() {
  local path=$1 mode=$2 tmp
  shift 2
  tmp=$(mktemp)
  cat > "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 0
  fi
  [ $# -eq 0 ] || "$@"
  install -D -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  changed=1
  log "wrote $path"
}

# start_service UNIT [MESSAGE]: after a daemon-reload, enables UNIT and restarts it when changed=1 (logging
# MESSAGE first, when given), starts it otherwise.
start_service() {
  local unit=$1 message=${2:-}
  systemctl daemon-reload
  systemctl enable "$unit" >/dev/null 2>&1
  if [ "$changed" = 1 ]; then
    [ -z "$message" ] || log "$message"
    systemctl restart "$unit"
  else
    systemctl start "$unit"
  fi
}

# wait_until TRIES COMMAND [ARG...]: runs COMMAND until it succeeds, at most TRIES times, sleeping 2 seconds
# after each failure; fails when it never succeeded.
wait_until() {
  local tries=$1
  shift
  for _ in $(seq 1 "$tries"); do
    "$@" && return 0
    sleep 2
  done
  return 1
}
