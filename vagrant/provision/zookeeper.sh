#!/usr/bin/env bash
# A member of the ZooKeeper ensemble, from Debian's zookeeper package, as a systemd service.
#
# Inputs (environment, set by the Vagrantfile):
#   ZK_MYID      this member's id (1..255), written to myid
#   ZK_SERVERS   the whole ensemble, "ID=IP,ID=IP,..." (the same on every member)
#   ZK_HEAP      JVM heap (default 512m)
#
# The configuration lives in /etc/zookeeper/conf_mesospaas, made the active /etc/zookeeper/conf through Debian's
# alternatives (the package's conf_example stays untouched). Debian's zookeeperd (a SysV script) is not used:
# zookeeper.service here runs the server directly. Data in /var/lib/zookeeper, logs in the journal.
# Idempotent: ZooKeeper restarts only when its configuration or unit changed.
set -euo pipefail

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
log() { echo "[zookeeper] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

: "${ZK_MYID:?ZK_MYID is required (1..255)}"
: "${ZK_SERVERS:?ZK_SERVERS is required: \"ID=IP,ID=IP,...\"}"
ZK_HEAP=${ZK_HEAP:-512m}
if ! [[ $ZK_MYID =~ ^[0-9]+$ ]] || [ "$ZK_MYID" -lt 1 ] || [ "$ZK_MYID" -gt 255 ]; then
  die "ZK_MYID must be 1..255, got $ZK_MYID"
fi

apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

changed=0
# put_file PATH MODE: writes stdin to PATH when it differs; sets changed=1 then.
put_file() {
  local path=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat > "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 0
  fi
  install -D -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  changed=1
  log "wrote $path"
}

apt_install zookeeper netcat-openbsd

conf=/etc/zookeeper/conf_mesospaas
mkdir -p "$conf"
for f in environment log4j.properties configuration.xsl; do
  [ -f "$conf/$f" ] || cp "/etc/zookeeper/conf_example/$f" "$conf/$f"
done

servers=""
IFS=',' read -r -a members <<< "$ZK_SERVERS"
found=0
for member in "${members[@]}"; do
  id=${member%%=*}
  ip=${member#*=}
  if ! [[ $id =~ ^[0-9]+$ ]] || [ -z "$ip" ] || [ "$ip" = "$member" ]; then
    die "bad ZK_SERVERS entry: $member"
  fi
  servers+="server.$id=$ip:2888:3888"$'\n'
  [ "$id" = "$ZK_MYID" ] && found=1
done
[ $found = 1 ] || die "ZK_MYID $ZK_MYID is not among ZK_SERVERS ($ZK_SERVERS)"

put_file "$conf/zoo.cfg" 0644 <<EOF
# Written by vagrant/provision/zookeeper.sh: member $ZK_MYID of a ${#members[@]}-member ensemble.
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
clientPort=2181
maxClientCnxns=200
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr,conf
autopurge.snapRetainCount=5
autopurge.purgeInterval=6
$servers
EOF
put_file "$conf/myid" 0644 <<< "$ZK_MYID"

# The package links /var/lib/zookeeper/myid to /etc/zookeeper/conf/myid, i.e. to the active alternative.
update-alternatives --install /etc/zookeeper/conf zookeeper-conf "$conf" 50 >/dev/null
if [ "$(readlink -f /etc/zookeeper/conf)" != "$conf" ]; then
  update-alternatives --set zookeeper-conf "$conf" >/dev/null
  changed=1
fi
install -d -o zookeeper -g zookeeper -m 0750 /var/lib/zookeeper

put_file /etc/systemd/system/zookeeper.service 0644 <<EOF
# Written by vagrant/provision/zookeeper.sh.
[Unit]
Description=ZooKeeper ensemble member $ZK_MYID
Documentation=https://zookeeper.apache.org/doc/r3.8.0/zookeeperAdmin.html
After=network-online.target
Wants=network-online.target

[Service]
User=zookeeper
Group=zookeeper
ExecStart=/usr/bin/java -Xms$ZK_HEAP -Xmx$ZK_HEAP -Dzookeeper.root.logger=INFO,CONSOLE \\
  -Dzookeeper.log.dir=/var/log/zookeeper -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar \\
  org.apache.zookeeper.server.quorum.QuorumPeerMain /etc/zookeeper/conf/zoo.cfg
Restart=always
RestartSec=5
LimitNOFILE=65536
SuccessExitStatus=143

[Install]
WantedBy=multi-user.target
EOF

systemctl daemon-reload
systemctl enable zookeeper.service >/dev/null 2>&1
if [ $changed = 1 ]; then
  log "restarting zookeeper"
  systemctl restart zookeeper.service
else
  systemctl start zookeeper.service
fi

# Report the state: the ensemble serves once a majority of members runs, so the first member waits alone.
for _ in $(seq 1 30); do
  if mode=$(echo srvr | nc -w 2 127.0.0.1 2181 2>/dev/null | awk -F': ' '/^Mode/ {print $2}') && [ -n "$mode" ]; then
    log "serving as $mode (member $ZK_MYID)"
    exit 0
  fi
  sleep 2
done
log "running, not serving yet: waiting for a majority of the ensemble ($ZK_SERVERS)"
