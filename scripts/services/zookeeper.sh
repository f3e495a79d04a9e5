#!/usr/bin/env bash
# Apache ZooKeeper 3.8 from Debian's `zookeeper` package, started as plain JVMs (no systemd,
# no Debian helper scripts: they force one log directory for every server on the host).
#
#   zookeeper.sh start  [standalone|ensemble|all|N]   (default all; N = one ensemble server)
#   zookeeper.sh stop   [standalone|ensemble|all|N]
#   zookeeper.sh kill   N        kill -9 ensemble server N (crash tests; `start N` brings it back)
#   zookeeper.sh status          one line per server with its Mode (standalone/leader/follower)
#
# The standalone server listens on 127.0.0.1:$DISTLAB_ZK_PORT (12181); the 3-server ensemble
# (the notes' 伪集群, a pseudo-cluster on one host) on 12182-12184, quorum ports 12888-12890,
# election ports 13888-13890. tickTime is 500 ms, so sessions may be as short as 1 s (tests of
# session expiry stay quick). Each server: .services/zk-<name>/{zoo.cfg,data,server.log,pid}.
. "$(dirname "$0")/lib.sh"

JARS=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar
TICK_MS=${DISTLAB_ZK_TICK_MS:-500}

ensemble_ids() { local i=0 p; for p in $ZK_ENSEMBLE_PORTS; do i=$((i + 1)); echo $i; done; }
client_port() { # standalone | N
    if [ "$1" = standalone ]; then echo "$ZK_PORT"; else echo $ZK_ENSEMBLE_PORTS | cut -d' ' -f"$1"; fi
}
dir_of() { echo "$STATE/zk-$1"; }

# The four-letter word `srvr`; prints the server's Mode (standalone/leader/follower) if it serves.
mode() ( # runs in a subshell: the probe's file descriptor and errors stay in here
    local port=$1 line out=""
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'srvr' >&3
    while IFS= read -r -t 2 line <&3; do out="$out$line"$'\n'; done
    printf '%s' "$out" | sed -n 's/^Mode: //p' | grep .
)

write_config() { # name
    local name=$1 dir port i p
    dir=$(dir_of "$name")
    port=$(client_port "$name")
    mkdir -p "$dir/data" "$dir/conf"
    {
        echo "tickTime=$TICK_MS"
        echo "initLimit=20"
        echo "syncLimit=10"
        echo "dataDir=$dir/data"
        echo "clientPort=$port"
        echo "clientPortAddress=127.0.0.1"
        echo "maxClientCnxns=0"
        echo "admin.enableServer=false"
        echo "4lw.commands.whitelist=*"
        if [ "$name" != standalone ]; then
            for i in $(ensemble_ids); do
                echo "server.$i=127.0.0.1:$((ZK_QUORUM_BASE + i)):$((ZK_QUORUM_BASE + 1000 + i))"
            done
        fi
    } > "$dir/conf/zoo.cfg"
    [ "$name" != standalone ] && echo "$name" > "$dir/data/myid"
    cat > "$dir/conf/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
EOF
}

# Launch one server without waiting for it; "already running" and "port taken" are decided here.
launch() { # name
    local name=$1 dir port
    dir=$(dir_of "$name")
    port=$(client_port "$name")
    if pid_alive "$dir/pid" QuorumPeerMain; then
        return 0
    fi
    port_busy "$port" && die "port $port is taken by another program; refusing to start ZooKeeper $name"
    if [ "$name" != standalone ]; then
        for p in $((ZK_QUORUM_BASE + name)) $((ZK_QUORUM_BASE + 1000 + name)); do
            port_busy "$p" && die "port $p is taken by another program; refusing to start ZooKeeper $name"
        done
    fi
    write_config "$name"
    : > "$dir/server.log"
    (cd "$dir" && exec setsid java -Xmx256m -XX:+UseSerialGC -Dzookeeper.log.dir="$dir" \
        -Dzookeeper.root.logger=INFO,CONSOLE -cp "$dir/conf:$JARS" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/conf/zoo.cfg" \
        > "$dir/server.log" 2>&1 < /dev/null) &
    echo $! > "$dir/pid"
}

await() { # name seconds
    local name=$1 seconds=$2 port
    port=$(client_port "$name")
    if ! wait_until "$seconds" mode "$port"; then
        show_log "$(dir_of "$name")/server.log" "ZooKeeper $name"
        die "ZooKeeper $name did not serve on 127.0.0.1:$port within $seconds s"
    fi
    say "ZooKeeper $name ready on 127.0.0.1:$port ($(mode "$port"), pid $(cat "$(dir_of "$name")/pid"))"
}

names() {
    case ${1:-all} in
        all) echo standalone; ensemble_ids ;;
        standalone) echo standalone ;;
        ensemble) ensemble_ids ;;
        [0-9]*) echo "$1" ;;
        *) die "unknown ZooKeeper server '$1' (standalone, ensemble, all or a number)" ;;
    esac
}

start() {
    [ -e /usr/share/java/zookeeper.jar ] && command -v java >/dev/null || ensure_packages zookeeper
    local n
    for n in $(names "$@"); do launch "$n"; done
    # An ensemble needs its majority up before any member serves: launch all, then wait.
    for n in $(names "$@"); do await "$n" 60; done
}

stop() {
    local n
    for n in $(names "$@"); do stop_pid "$(dir_of "$n")/pid" QuorumPeerMain "ZooKeeper $n"; done
}

crash() { # N: kill -9, as a power cut would
    local dir pid
    dir=$(dir_of "$1")
    pid_alive "$dir/pid" QuorumPeerMain || die "ZooKeeper $1 is not running"
    pid=$(cat "$dir/pid")
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$dir/pid"
    say "killed ZooKeeper $1 (pid $pid)"
}

status() {
    local n rc=0 m
    for n in $(names all); do
        if m=$(mode "$(client_port "$n")"); then echo "zookeeper $n up on 127.0.0.1:$(client_port "$n") ($m)"
        else echo "zookeeper $n down"; rc=1; fi
    done
    return $rc
}

cmd=${1:-status}
shift || true
case $cmd in
    start) start "$@" ;;
    stop) stop "$@" ;;
    kill) crash "${1:?usage: zookeeper.sh kill N}" ;;
    status) status ;;
    mode) mode "$(client_port "${1:?usage: zookeeper.sh mode standalone|N}")" ;;
    *) die "usage: $0 start|stop|kill|status|mode [standalone|ensemble|all|N]" ;;
esac
