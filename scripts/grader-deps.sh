#!/bin/sh
# What the grader's sandbox needs from the system (see README "Labs and grading"):
#   - bubblewrap (`bwrap`): each submission runs in its own user, PID, network, IPC and mount
#     namespaces, seeing only the interpreter and the lab's stripped library;
#   - a Python >= 3.10 that an unprivileged user can run (Debian's python3): the sandbox's uid
#     cannot reach an interpreter kept in a private home such as /root/.pyenv.
# As root (with apt-get) missing packages are installed; otherwise a message names the command.
#   --require  fail (exit 1) if bubblewrap is missing afterwards (make test: the tests need it)
#   --warn     only say so: the grader then falls back to a weaker sandbox and reports it
set -eu
mode=${1:---require}

missing=""
command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
[ -x /usr/bin/python3 ] || missing="$missing python3"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "distlab: installing the grader's sandbox ($missing ) with apt-get ..."
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    command -v bwrap >/dev/null 2>&1 && exit 0
fi
echo "distlab: the grader's sandbox needs bubblewrap. Install it with:
  Debian/Ubuntu: sudo apt-get install bubblewrap python3
Without it the grader uses a weaker sandbox and says so in every report." >&2
[ "$mode" = --warn ] && exit 0
exit 1
