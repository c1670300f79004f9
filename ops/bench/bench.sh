#!/bin/sh
# make bench / make bench-smoke: install what is missing, build execlogd in
# Release and the ceiling programs, then run the driver (bench.py).
#   ops/bench/bench.sh full|smoke [BUILD_DIR]
# Writes BUILD_DIR/bench/results.json and BUILD_DIR/bench/chart.png.
set -eu
MODE=${1:-full}
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD=${2:-build-bench}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
JOBS=$(nproc 2>/dev/null || echo 2)
T0=$(date +%s)

# execlogd's build dependencies, then what the bench drives it with
ops/install-deps.sh build-essential cmake pkg-config librdkafka-dev libavro-dev librocksdb-dev \
  libh2o-evloop-dev libjansson-dev libssl-dev zlib1g-dev \
  curl nghttp2-client postgresql gnuplot-nox python3

echo "bench: building execlogd and the ceiling programs (Release) in $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target execlogd xl_bench_kafka xl_bench_rocksdb xl_bench_h2o_static >/dev/null
TOOLS="$BUILD/ops/bench"
EXECLOGD="$BUILD/api/execlogd"
echo "bench: build and set-up took $(( $(date +%s) - T0 )) s"

OUT="$BUILD/bench"
[ "$MODE" = smoke ] && OUT="$BUILD/bench-smoke"
export XL_BENCH_SERVER="$EXECLOGD"
exec /usr/bin/python3 ops/bench/bench.py --mode "$MODE" --tools "$TOOLS" \
  --out "$OUT" --started "$T0"
