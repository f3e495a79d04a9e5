#!/usr/bin/env bash
# Redis 7 from Debian's redis-server, on 127.0.0.1:$DISTLAB_REDIS_PORT (16379), no persistence.
#   redis.sh start | stop | status
# start is idempotent (a running server of ours is left alone) and refuses a port that
# something else holds. Pid file and log: .services/redis/.
. "$(dirname "$0")/lib.sh"

DIR=$STATE/redis
PID=$DIR/redis.pid
LOG=$DIR/server.log

ping() ( # runs in a subshell: the probe's file descriptor and errors stay in here
    local reply
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || exit 1
    printf 'PING\r\n' >&3
    read -r -t 1 reply <&3 || true
    [ "${reply%$'\r'}" = "+PONG" ]
)

start() {
    mkdir -p "$DIR"
    if pid_alive "$PID" redis-server; then
        say "redis already running (pid $(cat "$PID")) on 127.0.0.1:$REDIS_PORT"
        return 0
    fi
    port_busy "$REDIS_PORT" && die "port $REDIS_PORT is taken by another program; refusing to start redis (set DISTLAB_REDIS_PORT)"
    command -v redis-server >/dev/null || ensure_packages redis-server
    : > "$LOG"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize yes --pidfile "$PID" --dir "$DIR" --logfile "$LOG" \
        || { show_log "$LOG" redis; die "redis-server failed to start"; }
    if ! wait_until 10 ping; then
        show_log "$LOG" redis
        die "redis did not answer PING on 127.0.0.1:$REDIS_PORT within 10 s"
    fi
    say "redis ready on 127.0.0.1:$REDIS_PORT (pid $(cat "$PID"))"
}

case ${1:-status} in
    start) start ;;
    stop) stop_pid "$PID" redis-server redis ;;
    status) if pid_alive "$PID" redis-server && ping; then echo "redis up on 127.0.0.1:$REDIS_PORT"; else echo "redis down"; exit 1; fi ;;
    *) die "usage: $0 start|stop|status" ;;
esac
