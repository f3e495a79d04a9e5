# Shared helpers for the service scripts (sourced, not run). bash only: /dev/tcp is used to
# probe ports, so no nc or redis-cli is needed to tell whether something listens.
#
# Everything runs on 127.0.0.1 under .services/ at the repository root (git-ignored): one
# directory per server with its config, data, pid file and server.log. Ports are chosen away
# from the defaults so a developer's own Redis / ZooKeeper / PostgreSQL never collides with
# ours; each can be overridden from the environment.

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${DISTLAB_SERVICES_DIR:-$ROOT/.services}

REDIS_PORT=${DISTLAB_REDIS_PORT:-16379}
ZK_PORT=${DISTLAB_ZK_PORT:-12181}                  # the standalone server
ZK_ENSEMBLE_PORTS=${DISTLAB_ZK_ENSEMBLE_PORTS:-"12182 12183 12184"}
ZK_QUORUM_BASE=${DISTLAB_ZK_QUORUM_BASE:-12887}    # server N: quorum BASE+N, election BASE+1000+N
PG_PORT=${DISTLAB_PG_PORT:-15432}

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when the pid in file $1 is alive and its command line contains $2.
pid_alive() {
    local file=$1 what=$2 pid
    [ -s "$file" ] || return 1
    pid=$(head -n 1 "$file" | tr -dc 0-9)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$what"
}

# Stop the process in pid file $1 (command line must contain $2): TERM, wait, then KILL.
stop_pid() {
    local file=$1 what=$2 name=$3 pid i
    if ! pid_alive "$file" "$what"; then
        rm -f "$file"
        return 0
    fi
    pid=$(head -n 1 "$file" | tr -dc 0-9)
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) did not stop in 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
    say "stopped $name (pid $pid)"
}

# Poll `$2...` (a command) until it succeeds or $1 seconds pass.
wait_until() {
    local seconds=$1 i
    shift
    for i in $(seq 1 $((seconds * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# Print the last lines of a log so a failure shows why.
show_log() {
    local file=$1 name=$2
    if [ -s "$file" ]; then
        say "---- last 40 lines of $name's log ($file) ----"
        tail -n 40 "$file" >&2
        say "---- end of $name's log ----"
    else
        say "$name wrote no log at $file"
    fi
}

# Install Debian packages that are missing (only as root with apt-get); otherwise name them.
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        # "install ok installed" only: a removed package keeps a status entry (config-files)
        [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing ${missing[*]} with apt-get ..."
        # policy-rc.d exit 101: the packages must not start their own servers on install.
        local policy=/usr/sbin/policy-rc.d made_policy=
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
        fi
        local rc=0
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
            > "$STATE/apt.log" 2>&1 || rc=$?
        [ -n "$made_policy" ] && rm -f "$policy"
        if [ $rc -ne 0 ]; then
            show_log "$STATE/apt.log" apt-get
            die "could not install ${missing[*]}"
        fi
        return 0
    fi
    die "missing packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}"
}

mkdir -p "$STATE"
