#!/usr/bin/env bash
# Stop every server started by up.sh, by the pids in their pid files (never by name).
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")
rc=0
bash "$here/redis.sh" stop || rc=1
bash "$here/zookeeper.sh" stop all || rc=1
bash "$here/postgres.sh" stop || rc=1
exit $rc
