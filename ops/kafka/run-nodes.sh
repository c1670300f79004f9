#!/usr/bin/env bash
# The scale-out demo: two execlogd nodes on the local Kafka cluster
# (ops/kafka/kafka.sh), each writing and reading the same topic.
#   node 1: http://127.0.0.1:8080, data in data/node1, ingest.node.id 1
#   node 2: http://127.0.0.1:8081, data in data/node2, ingest.node.id 2
# Usage: ops/kafka/run-nodes.sh EXECLOGD [extra execlogd flags...]
# Runs in the foreground until Ctrl-C (or SIGTERM), then stops both nodes;
# the cluster keeps running (make kafka-down stops it).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
execlogd=$1
shift
bootstrap=$(ops/kafka/kafka.sh bootstrap)
pids=()
stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
}
trap stop INT TERM EXIT

for n in 1 2; do
    mkdir -p "data/node$n"
    "$execlogd" --kafka.bootstrap.servers="$bootstrap" --data.dir="data/node$n" \
        --listen="127.0.0.1:$((8079 + n))" --ingest.node.id="$n" "$@" \
        > >(sed -u "s/^/[node$n] /") 2>&1 &
    pids+=($!)
done
# both answer /readyz before the banner (bounded)
for n in 1 2; do
    for _ in $(seq 1 120); do
        curl -sf "http://127.0.0.1:$((8079 + n))/readyz" >/dev/null && break
        kill -0 "${pids[$((n - 1))]}" 2>/dev/null || { echo "node $n exited (see above)" >&2; exit 1; }
        sleep 0.5
    done
done
cat <<MSG

execlog on Kafka ($bootstrap): node 1 on http://127.0.0.1:8080, node 2 on http://127.0.0.1:8081.
Write through one, read through the other, e.g.:
  A=\$(curl -s -H 'content-type: application/json' -d '{"flow_id":"demo"}' http://127.0.0.1:8080/v1/executions |
       python3 -c 'import json,sys; print(json.load(sys.stdin)["audit_id"])')
  curl -s -H 'content-type: application/json' -d '{"type":"started"}' http://127.0.0.1:8081/v1/executions/\$A/events
  curl -s http://127.0.0.1:8081/v1/executions/\$A
Ctrl-C stops both nodes; make kafka-down stops the cluster.
MSG
wait
