#!/bin/sh
# make bench / make bench-smoke: install what is missing, build execlogd in
# Release and the ceiling programs, then run the driver (bench.py).
#   ops/bench/bench.sh full|smoke [BUILD_DIR] [embedded|cluster]
# Writes BUILD_DIR/bench/results.json and BUILD_DIR/bench/chart.png
# (BUILD_DIR/bench-cluster/ with `cluster`: the same run, then ingest again on
# the local 3-broker Kafka cluster of ops/kafka/, in a second table).
set -eu
MODE=${1:-full}
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD=${2:-build/bench-release}
KAFKA=${3:-embedded}
# PROFILE=1: a perf profile of execlogd during each measurement (BUILD_DIR/bench/profiles/)
PROF_ARGS=""
[ "${PROFILE:-0}" = 1 ] && PROF_ARGS="--profile"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
case "$KAFKA" in
  ""|embedded) KAFKA=embedded ;;
  cluster) ;;
  *) echo "bench: KAFKA=$KAFKA: expected embedded (the default) or cluster" >&2; exit 2 ;;
esac
JOBS=$(nproc 2>/dev/null || echo 2)
T0=$(date +%s)

# execlogd's build dependencies, then what the bench drives it with
ops/install-deps.sh build-essential cmake pkg-config librdkafka-dev libavro-dev librocksdb-dev \
  libh2o-evloop-dev libjansson-dev libssl-dev zlib1g-dev \
  curl nghttp2-client h2o postgresql gnuplot-nox python3
[ "${PROFILE:-0}" = 1 ] && ops/install-deps.sh linux-perf
# the real cluster's (what `make kafka-up` installs)
[ "$KAFKA" = cluster ] && ops/install-deps.sh openjdk-17-jre-headless maven kcat

echo "bench: building execlogd and the ceiling programs (Release) in $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target execlogd xl_bench_kafka xl_bench_rocksdb >/dev/null
TOOLS="$BUILD/ops/bench"
EXECLOGD="$BUILD/api/execlogd"

OUT="$BUILD/bench"
[ "$MODE" = smoke ] && OUT="$BUILD/bench-smoke"
export XL_BENCH_SERVER="$EXECLOGD"
if [ "$KAFKA" = embedded ]; then
  echo "bench: build and set-up took $(( $(date +%s) - T0 )) s"
  exec /usr/bin/python3 ops/bench/bench.py --mode "$MODE" --tools "$TOOLS" \
    --out "$OUT" --started "$T0" $PROF_ARGS
fi

# KAFKA=cluster: start the cluster if no node runs (and stop it again at the
# end); a running one is used as it is (`up` only restarts missing nodes) and
# left running. The bench creates and deletes topics of its own only.
OUT="$OUT-cluster"
K=ops/kafka/kafka.sh
STARTED=0
"$K" status 2>/dev/null | grep -q '^node .* running' || STARTED=1
BOOTSTRAP=$("$K" up | tail -n 1)
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' ops/kafka/pom.xml)
echo "bench: Kafka $VERSION cluster at $BOOTSTRAP$( [ "$STARTED" = 1 ] && echo ' (started now, stopped at the end)')"
echo "bench: build and set-up took $(( $(date +%s) - T0 )) s"
[ "$STARTED" = 1 ] && trap '"$K" down >/dev/null 2>&1 || true' EXIT
/usr/bin/python3 ops/bench/bench.py --mode "$MODE" --tools "$TOOLS" --out "$OUT" --started "$T0" $PROF_ARGS \
  --kafka "$BOOTSTRAP" --kafka-version "$VERSION"
