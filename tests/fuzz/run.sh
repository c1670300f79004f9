#!/bin/sh
# One bounded libFuzzer run of a fuzz target over a fresh copy of its seeds:
#   run.sh BINARY SRC_DIR NAME WORK_DIR
# SRC_DIR/corpus/NAME is copied to WORK_DIR/corpus (new inputs land there,
# never in the source tree); crashes go to WORK_DIR/artifacts. A crash-* seed
# in the corpus is a regression input: it must no longer fail. Fuzzes for
# XL_FUZZ_SECONDS (default 5) and prints one line of statistics.
set -eu
bin=$1 src=$2 name=$3 work=$4
secs=${XL_FUZZ_SECONDS:-5}

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$src/corpus/$name"/* "$work/corpus/"
set -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$work/artifacts/"
[ -f "$src/$name.dict" ] && set -- "$@" -dict="$src/$name.dict"
command -v llvm-symbolizer >/dev/null 2>&1 || {
  [ -x /usr/bin/llvm-symbolizer-14 ] && export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
}
export UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}"

if ! "$bin" "$@" "$work/corpus" >"$work/log" 2>&1; then
  tail -n 60 "$work/log"
  echo "fuzz_$name: FAILED; the input is in $work/artifacts/, the whole log in $work/log"
  exit 1
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
corpus=$(ls "$work/corpus" | wc -l)
echo "fuzz_$name: ${runs:-?} runs in ${secs} s, ${rate:-?} exec/s, corpus $(ls "$src/corpus/$name" | wc -l) -> $corpus" |
  tee "$work/summary"
