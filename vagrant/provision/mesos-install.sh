#!/usr/bin/env bash
# Apache Mesos on a Debian 12 node (masters and agents). Debian does not package Mesos, and the Mesosphere/D2iQ
# packages stopped before Debian 12, so (README.md, "Mesos binaries"):
#
#   MESOS_DEB_URL set   that .deb is installed with apt, which brings its dependencies from Debian.
#   otherwise           Mesos built from source: MESOS_GIT_URL at MESOS_GIT_REF (default: Apache Mesos, master,
#                       which has the fixes for current compilers that came after the 1.11.0 release). A build
#                       one node made is reused: the install looks for
#                         /mesospaas/vagrant/.cache/mesos-<ref>-<hash>-<codename>-<arch>.tar.gz  (from the host)
#                         /var/cache/mesospaas-vagrant/<the same name>                        (this node's own)
#                       and builds only when neither exists (one to two hours), then stores the result in both
#                       places (the first reaches the host only with a two-way synced folder; README.md says how
#                       to copy it otherwise).
#
# Inputs (environment): MESOS_DEB_URL, MESOS_GIT_URL, MESOS_GIT_REF, MESOS_BUILD_JOBS (default: one per CPU).
# Result: mesos-master and mesos-agent on PATH (/usr/local/sbin for a build). Idempotent: a stamp in
# /var/lib/mesospaas-vagrant records what was installed, and the same inputs again do nothing.
set -euo pipefail

LOG_TAG=mesos-install
[ -r "${PROVISION_LIB:=/mesospaas/vagrant/provision/lib.sh}" ] \
  || { echo "[$LOG_TAG] ERROR: no $PROVISION_LIB: is the checkout synced to /mesospaas?" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR/../.. source=vagrant/provision/lib.sh
source "$PROVISION_LIB"

MESOS_DEB_URL=${MESOS_DEB_URL:-}
MESOS_GIT_URL=${MESOS_GIT_URL:-https://github.com/apache/mesos.git}
MESOS_GIT_REF=${MESOS_GIT_REF:-master}
MESOS_BUILD_JOBS=${MESOS_BUILD_JOBS:-}
SHARED_CACHE=/mesospaas/vagrant/.cache
LOCAL_CACHE=/var/cache/mesospaas-vagrant
STAMP=/var/lib/mesospaas-vagrant/mesos-installed
BUILD_DIR=/var/tmp/mesos-build
BUILD_SWAP=/var/tmp/mesos-build.swap
# Runtime libraries of a Mesos built with the packages in build_mesos (and nothing optional enabled).
RUNTIME_PACKAGES=(libcurl4 libsasl2-2 libsasl2-modules libsvn1 libapr1 zlib1g)

os_field() { sed -n "s/^$1=//p" /etc/os-release | tr -d '"'; }

if [ -n "$MESOS_DEB_URL" ]; then
  wanted="deb $MESOS_DEB_URL"
else
  wanted="git $MESOS_GIT_URL $MESOS_GIT_REF"
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] && command -v mesos-master >/dev/null \
    && command -v mesos-agent >/dev/null; then
  log "Mesos already installed ($wanted)"
  exit 0
fi
mkdir -p "$LOCAL_CACHE" "$(dirname "$STAMP")"

cleanup_build() {
  if [ -f "$BUILD_SWAP" ]; then
    swapoff "$BUILD_SWAP" 2>/dev/null || true
    rm -f "$BUILD_SWAP"
  fi
}

# build_mesos OUT: builds Mesos from MESOS_GIT_URL at MESOS_GIT_REF and writes the installed tree to OUT (.tar.gz).
build_mesos() {
  local out=$1 jobs mem_kb avail_kb commit buildlog=/var/log/mesos-build.log
  apt_install build-essential autoconf automake libtool git ca-certificates patch python3 \
    libcurl4-openssl-dev libsasl2-dev libsasl2-modules libapr1-dev libsvn-dev zlib1g-dev
  jobs=${MESOS_BUILD_JOBS:-$(nproc)}
  avail_kb=$(df --output=avail -k /var/tmp | tail -n 1)
  if [ "$avail_kb" -lt $((12 * 1024 * 1024)) ]; then
    log "WARNING: $((avail_kb / 1024 / 1024)) GiB free in /var/tmp; a build needs about 12"
  fi
  # Compiling Mesos takes more than 1 GiB per compiler at times: below 4 GiB of memory, swap for the build.
  mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  trap cleanup_build EXIT
  if [ "$mem_kb" -lt $((4 * 1024 * 1024)) ] && [ -z "$(swapon --show=NAME --noheadings)" ]; then
    log "adding 4 GiB of swap for the build"
    fallocate -l 4G "$BUILD_SWAP"
    chmod 600 "$BUILD_SWAP"
    mkswap "$BUILD_SWAP" >/dev/null
    swapon "$BUILD_SWAP"
  fi

  rm -rf "$BUILD_DIR"
  mkdir -p "$BUILD_DIR/src" "$BUILD_DIR/build" "$BUILD_DIR/stage"
  git -C "$BUILD_DIR/src" init -q
  git -C "$BUILD_DIR/src" fetch -q --depth 1 "$MESOS_GIT_URL" "$MESOS_GIT_REF"
  git -C "$BUILD_DIR/src" checkout -q FETCH_HEAD
  commit=$(git -C "$BUILD_DIR/src" rev-parse HEAD)
  log "building Mesos $MESOS_GIT_REF ($commit) with $jobs jobs: one to two hours; log in $buildlog"
  : > "$buildlog"
  # Only the C++ master and agent: no Java or Python bindings; warnings of newer compilers are not fatal.
  # (An explicit && chain: `set -e` does not apply inside a command whose status `if` tests.)
  if ! ( cd "$BUILD_DIR/src" && ./bootstrap \
      && cd "$BUILD_DIR/build" \
      && ../src/configure --prefix=/usr/local --disable-java --disable-python --disable-werror --enable-optimize \
      && make -j"$jobs" \
      && make install DESTDIR="$BUILD_DIR/stage" ) >> "$buildlog" 2>&1; then
    tail -n 80 "$buildlog" >&2
    die "the Mesos build failed (full log: $buildlog on $(hostname))"
  fi
  mkdir -p "$BUILD_DIR/stage/usr/local/share/mesos"
  printf 'url=%s\nref=%s\ncommit=%s\nbuilt=%s on %s\n' "$MESOS_GIT_URL" "$MESOS_GIT_REF" "$commit" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(os_field PRETTY_NAME)" \
    > "$BUILD_DIR/stage/usr/local/share/mesos/BUILD-INFO"
  tar -C "$BUILD_DIR/stage" -czf "$out.part" usr
  chmod 0644 "$out.part"
  mv "$out.part" "$out"
  rm -rf "$BUILD_DIR"
  cleanup_build
  trap - EXIT
  log "built: $out"
}

if [ -n "$MESOS_DEB_URL" ]; then
  deb="$LOCAL_CACHE/$(basename "${MESOS_DEB_URL%%\?*}")"
  case "$deb" in *.deb) ;; *) deb="$deb.deb" ;; esac
  log "downloading $MESOS_DEB_URL"
  curl -fsSL --retry 3 -o "$deb.part" "$MESOS_DEB_URL"
  mv "$deb.part" "$deb"
  apt_get_install "$deb"
else
  codename=$(os_field VERSION_CODENAME)
  arch=$(dpkg --print-architecture)
  hash=$(printf '%s %s' "$MESOS_GIT_URL" "$MESOS_GIT_REF" | sha256sum | cut -c1-8)
  name="mesos-${MESOS_GIT_REF//[^A-Za-z0-9._-]/_}-$hash-$codename-$arch.tar.gz"
  artifact=""
  for dir in "$SHARED_CACHE" "$LOCAL_CACHE"; do
    if [ -f "$dir/$name" ]; then
      artifact="$dir/$name"
      break
    fi
  done
  if [ -z "$artifact" ]; then
    artifact="$LOCAL_CACHE/$name"
    build_mesos "$artifact"
    if mkdir -p "$SHARED_CACHE" 2>/dev/null && cp "$artifact" "$SHARED_CACHE/$name.part" 2>/dev/null; then
      mv "$SHARED_CACHE/$name.part" "$SHARED_CACHE/$name"
    fi
  else
    log "installing the Mesos build $artifact"
  fi
  apt_install "${RUNTIME_PACKAGES[@]}"
  tar -xzf "$artifact" -C /
  ldconfig
fi

for binary in mesos-master mesos-agent; do
  path=$(command -v "$binary") || die "$binary is not on PATH after the install"
  absent=$( (ldd "$path" 2>/dev/null || true) | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
  [ -z "$absent" ] || die "$binary needs libraries this node lacks: $absent"
done
# A clean environment: Mesos reads MESOS_* variables as flags.
version=$(env -i PATH="$PATH" mesos-master --version 2>&1 | head -n 1) || die "mesos-master does not run: $version"
echo "$wanted" > "$STAMP"
log "installed: $version ($wanted)"
