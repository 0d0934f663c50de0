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

LOG_TAG=zookeeper
[ -r "${PROVISION_LIB:=/mesospaas/vagrant/provision/lib.sh}" ] \
  || { echo "[$LOG_TAG] ERROR: no $PROVISION_LIB: is the checkout synced to /mesospaas?" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR/../.. source=vagrant/provision/lib.sh
source "$PROVISION_LIB"

: "${ZK_MYID:?ZK_MYID is required (1..255)}"
: "${ZK_SERVERS:?ZK_SERVERS is required: \"ID=IP,ID=IP,...\"}"
ZK_HEAP=${ZK_HEAP:-512m}
if ! [[ $ZK_MYID =~ ^[0-9]+$ ]] || [ "$ZK_MYID" -lt 1 ] || [ "$ZK_MYID" -gt 255 ]; then
  die "ZK_MYID must be 1..255, got $ZK_MYID"
fi

changed=0  # put_file and the alternatives below set it: start_service restarts ZooKeeper then

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

start_service zookeeper.service "restarting zookeeper"

# Report the state: the ensemble serves once a majority of members runs, so the first member waits alone.
serving() {
  mode=$(echo srvr | nc -w 2 127.0.0.1 2181 2>/dev/null | awk -F': ' '/^Mode/ {print $2}') && [ -n "$mode" ]
}
if wait_until 30 serving; then
  log "serving as $mode (member $ZK_MYID)"
  exit 0
fi
log "running, not serving yet: waiting for a majority of the ensemble ($ZK_SERVERS)"
