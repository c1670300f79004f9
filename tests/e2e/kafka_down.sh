#!/bin/sh
# ctest's kafka_down (FIXTURES_CLEANUP kafka): ops/kafka/kafka.sh down, once no
# test of the real-cluster lane uses the cluster, from this ctest run or from
# another one sharing the cluster (they hold LOCK shared, e2e_cluster
# exclusively: lane_lock in execlogd.py). When one still does after 300 s the
# cluster is left running for it, and that is not a failure.
# usage: kafka_down.sh LOCK KAFKA_SH
set -u
lock=$1 kafka_sh=$2
flock -E 75 -x -w 300 "$lock" "$kafka_sh" down
rc=$?
if [ "$rc" = 75 ]; then
  echo "kafka_down: another test still uses the cluster after 300 s: left running"
  exit 0
fi
exit "$rc"
