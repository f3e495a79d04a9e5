#!/usr/bin/env bash
# Start every real server the lock tests and `distlab bench locks` use, on 127.0.0.1:
#   redis 16379 · ZooKeeper standalone 12181 + 3-server ensemble 12182-12184 · postgres 15432
# Installs missing Debian packages first (as root), starts the servers in parallel and waits
# until each answers. Idempotent: servers already running are left alone. Exits 1, after
# showing the failing server's log, if any server does not come up.
#   up.sh [redis] [zookeeper] [postgres]      (default: all three)
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

wanted=${*:-redis zookeeper postgres}
need=()
for s in $wanted; do
    case $s in
        redis) command -v redis-server >/dev/null || need+=(redis-server) ;;
        zookeeper) [ -e /usr/share/java/zookeeper.jar ] && command -v java >/dev/null || need+=(zookeeper) ;;
        postgres) ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || need+=(postgresql) ;;
        *) die "unknown service '$s' (redis, zookeeper, postgres)" ;;
    esac
done
[ ${#need[@]} -eq 0 ] || ensure_packages "${need[@]}"

pids=()
for s in $wanted; do
    bash "$here/$s.sh" start & pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ $rc -eq 0 ] || die "some servers did not start (see above); stop the others with: make services-down"
say "all up: redis://127.0.0.1:$REDIS_PORT/0 · zk 127.0.0.1:$ZK_PORT · zk ensemble $(for p in $ZK_ENSEMBLE_PORTS; do printf '127.0.0.1:%s ' "$p"; done)· postgresql://distlab@127.0.0.1:$PG_PORT/distlab"
