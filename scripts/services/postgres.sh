#!/usr/bin/env bash
# PostgreSQL from Debian's `postgresql` package, a private cluster on 127.0.0.1:$DISTLAB_PG_PORT
# (15432) with a trusted user and database both called `distlab`:
#   DSN postgresql://distlab@127.0.0.1:15432/distlab
#   postgres.sh start | stop | status
# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user
# (created by the package). Data, pid file (data/postmaster.pid) and server.log live in
# .services/postgres/, or in /tmp when the `postgres` user cannot reach the repository.
. "$(dirname "$0")/lib.sh"

DIR=$STATE/postgres

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

prepare_dir() {
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "the postgres user is missing (reinstall the postgresql package)"
        if [ ! -L "$DIR" ] && ! runuser -u postgres -- test -x "$STATE"; then
            # The postgres user cannot walk into the repository: keep the cluster in /tmp.
            local tmp=/tmp/distlab-postgres-$PG_PORT
            mkdir -p "$tmp"
            rm -rf "$DIR"
            ln -s "$tmp" "$DIR"
        fi
        # Through a link the path would still cross the directory postgres cannot enter.
        [ -L "$DIR" ] && DIR=$(readlink -f "$DIR")
        mkdir -p "$DIR"
        chown postgres: "$DIR"
    else
        mkdir -p "$DIR"
    fi
}

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U distlab -d distlab; }

start() {
    [ -n "$(bindir)" ] || ensure_packages postgresql
    BIN=$(bindir)
    prepare_dir
    local data=$DIR/data log=$DIR/server.log
    if pid_alive "$data/postmaster.pid" postgres && ready; then
        say "postgres already running (pid $(head -n 1 "$data/postmaster.pid")) on 127.0.0.1:$PG_PORT"
        return 0
    fi
    port_busy "$PG_PORT" && die "port $PG_PORT is taken by another program; refusing to start postgres (set DISTLAB_PG_PORT)"
    if [ ! -s "$data/PG_VERSION" ]; then
        rm -rf "$data"
        as_owner "$BIN/initdb" -D "$data" -U distlab -A trust -E UTF8 --no-sync > "$DIR/initdb.log" 2>&1 \
            || { show_log "$DIR/initdb.log" initdb; die "initdb failed"; }
        cat >> "$data/postgresql.conf" <<EOF
# distlab: loopback only, a private socket directory
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIR'
max_connections = 100
EOF
    fi
    as_owner touch "$log"
    if ! as_owner "$BIN/pg_ctl" -D "$data" -l "$log" -w -t 30 start > "$DIR/pg_ctl.log" 2>&1; then
        show_log "$log" postgres
        die "postgres did not start on 127.0.0.1:$PG_PORT"
    fi
    if ! wait_until 30 ready; then
        show_log "$log" postgres
        die "postgres did not accept connections on 127.0.0.1:$PG_PORT within 30 s"
    fi
    if [ "$(as_owner "$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U distlab -d postgres -tAc \
            "select 1 from pg_database where datname = 'distlab'")" != 1 ]; then
        as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U distlab distlab \
            || { show_log "$log" postgres; die "could not create database distlab"; }
    fi
    say "postgres ready on 127.0.0.1:$PG_PORT (pid $(head -n 1 "$data/postmaster.pid"))"
}

stop() {
    BIN=$(bindir)
    [ -L "$DIR" ] && DIR=$(readlink -f "$DIR")
    local data=$DIR/data
    if [ -z "$BIN" ] || ! pid_alive "$data/postmaster.pid" postgres; then
        return 0
    fi
    local pid
    pid=$(head -n 1 "$data/postmaster.pid")
    as_owner "$BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop > /dev/null 2>&1 \
        || stop_pid "$data/postmaster.pid" postgres postgres
    say "stopped postgres (pid $pid)"
}

case ${1:-status} in
    start) start ;;
    stop) stop ;;
    status) BIN=$(bindir); if [ -n "$BIN" ] && ready; then echo "postgres up on 127.0.0.1:$PG_PORT"; else echo "postgres down"; exit 1; fi ;;
    *) die "usage: $0 start|stop|status" ;;
esac
