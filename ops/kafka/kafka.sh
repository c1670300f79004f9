#!/usr/bin/env bash
# A real 3-node Apache Kafka 4.x cluster (KRaft, every node both broker and
# controller) on 127.0.0.1, for tests, fault injection and demos. The jars come
# from Maven Central through ops/kafka/pom.xml into a cache directory; data, logs
# and pid files live under one state directory. It never touches a Kafka it did
# not start (nodes are found by pid file and command line), and every wait is
# bounded. Plaintext, no authentication: loopback only, never for production.
# `kafka.sh --help` lists the commands.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
POM=$HERE/pom.xml
NODES=(1 2 3)

STATE=${XL_KAFKA_DIR:-$TOP/build/kafka-cluster}
UP_TIMEOUT=${KAFKA_UP_TIMEOUT:-60}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx384m -Xms128m}
# Serial GC and the C1 compiler only: a broker of a test cluster starts in less
# CPU time and keeps a smaller footprint on a 2-core machine (see README.md).
JVM_OPTS=${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError}
TOOL_OPTS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

usage() {
  cat <<EOF
usage: ops/kafka/kafka.sh [--dir DIR] COMMAND [ARGS]

A 3-node Apache Kafka $(kafka_version) cluster (KRaft, combined broker+controller)
on 127.0.0.1 for tests and demos: replication factor 3, min.insync.replicas=2,
no automatic topic creation.

commands:
  up            start the nodes that are not running (a killed node is started
                again alone, a SIGSTOPped one is continued), then wait until all
                three brokers answer metadata and every partition has its full
                ISR (at most KAFKA_UP_TIMEOUT=${UP_TIMEOUT}s); the last line of
                stdout is the bootstrap list. The first run fetches the jars
                with Maven and formats the storage.
  down [--wipe] stop all nodes (SIGTERM, SIGKILL after KAFKA_STOP_TIMEOUT=${STOP_TIMEOUT}s);
                --wipe also deletes their data and logs
  status        state, pid and ports of each node, brokers seen in metadata;
                exit status 0 only when all three are running
  kill N        kill -9 node N (1-3)
  stop N        SIGSTOP node N (it keeps its sockets but answers nothing)
  cont N        SIGCONT node N
  bootstrap     print the bootstrap list, e.g. 127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094
  topics ARGS   Kafka's topic tool against the cluster, e.g.
                topics --create --topic t --partitions 6 --replication-factor 3
  groups ARGS   Kafka's consumer group tool against the cluster, e.g. groups --describe --all-groups
  run CLASS ARGS  any Java main class with the Kafka jars on the classpath
  libs          fetch the jars if needed and print their directory

options and environment:
  --dir DIR          state directory (default: XL_KAFKA_DIR, else <repo>/build/kafka-cluster)
                     holding node1..3/{server.properties,data,logs/server.log,stdout.log,pid}
  KAFKA_PORT_BASE    client port of node 1 (default 19092); node N listens on
                     BASE+N-1 for clients and BASE+100+N-1 for the controller quorum
                     (19092-19094 and 19192-19194). Fixed when the cluster is formatted.
  KAFKA_HEAP_OPTS    broker heap (default: $HEAP_OPTS)
  KAFKA_JVM_OPTS     other broker JVM flags (default: $JVM_OPTS)
  XL_KAFKA_LIBS      jar directory (default: \${XDG_CACHE_HOME:-\$HOME/.cache}/execlog/kafka-VERSION/libs)

Needs java 17+ (Debian: openjdk-17-jre-headless), maven for the first run and
kcat (Debian: kcat); \`make kafka-up\` installs them.
EOF
}

die() { echo "kafka.sh: $*" >&2; exit 1; }
note() { echo "kafka.sh: $*" >&2; }

kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM"
}

libs_dir() {
  echo "${XL_KAFKA_LIBS:-${XDG_CACHE_HOME:-$HOME/.cache}/execlog/kafka-$(kafka_version)/libs}"
}

node_dir() { echo "$STATE/node$1"; }

check_node() {
  case "${1:-}" in
    1|2|3) ;;
    *) die "expected a node number 1, 2 or 3, got '${1:-}'" ;;
  esac
}

# The port base: the one the cluster was formatted with, else the environment's.
port_base() {
  if [ -f "$STATE/port-base" ]; then
    cat "$STATE/port-base"
  else
    echo "${KAFKA_PORT_BASE:-19092}"
  fi
}
client_port() { echo $(( $(port_base) + $1 - 1 )); }
controller_port() { echo $(( $(port_base) + 100 + $1 - 1 )); }

bootstrap_list() {
  local n out=""
  for n in "${NODES[@]}"; do out="$out${out:+,}127.0.0.1:$(client_port "$n")"; done
  echo "$out"
}

need_java() {
  command -v java >/dev/null 2>&1 ||
    die "java not found: install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless), or run make kafka-up"
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [ -n "$v" ] && [ "$v" -ge 17 ] ||
    die "Kafka 4 needs Java 17 or later, $(command -v java) is version '${v:-unknown}' (Debian: apt-get install openjdk-17-jre-headless)"
}

need_kcat() {
  command -v kcat >/dev/null 2>&1 ||
    die "kcat not found: install it (Debian: apt-get install kcat), or run make kafka-up"
}

# Fill the jar cache once; a changed pom.xml refills it (from ~/.m2, cheaply).
libs_current() {
  [ -f "$1/.pom.sha256" ] && [ "$(cat "$1/.pom.sha256")" = "$(sha256sum "$POM" | cut -d' ' -f1)" ]
}

ensure_libs() {
  local libs
  libs=$(libs_dir)
  libs_current "$libs" && return 0
  command -v mvn >/dev/null 2>&1 ||
    die "mvn not found: the first run fetches Kafka with Maven (Debian: apt-get install maven), or run make kafka-up"
  # One filler at a time (the cache is shared by every state directory).
  mkdir -p "$(dirname "$libs")"
  exec 8>"$(dirname "$libs")/.lock"
  flock -w 600 8 || die "another kafka.sh has been filling $libs for 10 minutes"
  if libs_current "$libs"; then exec 8>&-; return 0; fi
  note "fetching Apache Kafka $(kafka_version) with Maven into $libs"
  local tmp="$libs.tmp.$$"
  rm -rf "$tmp"
  # Debian's Maven writes colour resets even with -q: keep its output in a log,
  # shown only when it fails.
  local log
  log=$(dirname "$libs")/maven.log
  if ! timeout 600 mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$log" >&2
    rm -rf "$tmp"
    die "Maven could not fetch the Kafka jars (is Maven Central reachable? log: $log)"
  fi
  sha256sum "$POM" | cut -d' ' -f1 >"$tmp/.pom.sha256"
  rm -rf "$libs"
  mv "$tmp" "$libs"
  exec 8>&-
}

# java with the Kafka jars, for a command-line tool (quiet logging on stderr).
kafka_tool() {
  # shellcheck disable=SC2086
  java $TOOL_OPTS -Dlog4j2.configurationFile="$HERE/log4j2-tools.properties" \
    -cp "$(libs_dir)/*" "$@"
}

# The pid of node N when that process is alive and is this cluster's node N.
node_pid() {
  local pidfile pid
  pidfile=$(node_dir "$1")/pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
      grep -qF "kafka.Kafka $(node_dir "$1")/server.properties"; then
    echo "$pid"
  fi
}

# running | stopped (SIGSTOP) | down (no process, or a zombie)
node_state() {
  local pid st
  pid=$(node_pid "$1")
  [ -n "$pid" ] || { echo down; return; }
  st=$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null || echo X)
  case "$st" in
    T|t) echo stopped ;;
    Z|X) echo down ;;
    *) echo running ;;
  esac
}

write_config() {
  local n=$1 dir voters="" m
  dir=$(node_dir "$n")
  for m in "${NODES[@]}"; do voters="$voters${voters:+,}$m@127.0.0.1:$(controller_port "$m")"; done
  mkdir -p "$dir/data" "$dir/logs"
  cat >"$dir/server.properties.tmp" <<EOF
# Node $n of the local test cluster, written by ops/kafka/kafka.sh at each start.
process.roles=broker,controller
node.id=$n
listeners=PLAINTEXT://127.0.0.1:$(client_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(client_port "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.voters=$voters
log.dirs=$dir/data

# Durability as in production: three copies, two in sync before acks=all.
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
auto.create.topics.enable=false
num.partitions=3

# Small and quick: a test cluster on a 2-core machine.
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=12
transaction.state.log.num.partitions=12
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=16777216
EOF
  mv "$dir/server.properties.tmp" "$dir/server.properties"
}

# The port base is fixed when the cluster is first formatted.
check_port_base() {
  if [ -f "$STATE/port-base" ]; then
    if [ -n "${KAFKA_PORT_BASE:-}" ] && [ "$KAFKA_PORT_BASE" != "$(cat "$STATE/port-base")" ]; then
      die "the cluster in $STATE uses port base $(cat "$STATE/port-base"), not KAFKA_PORT_BASE=$KAFKA_PORT_BASE; run 'kafka.sh down --wipe' first to change it"
    fi
  else
    local base=${KAFKA_PORT_BASE:-19092}
    case "$base" in ''|*[!0-9]*) die "KAFKA_PORT_BASE must be a port number, got '$base'" ;; esac
    [ "$base" -ge 1024 ] && [ "$base" -le 65300 ] || die "KAFKA_PORT_BASE must be in 1024..65300, got $base"
  fi
}

# The cluster ID and port base are written once for the state directory.
ensure_cluster() {
  mkdir -p "$STATE"
  [ -f "$STATE/port-base" ] || echo "${KAFKA_PORT_BASE:-19092}" >"$STATE/port-base"
  if [ ! -f "$STATE/cluster-id" ]; then
    # A Kafka Uuid: 16 random bytes in unpadded base64url.
    head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$STATE/cluster-id.tmp"
    mv "$STATE/cluster-id.tmp" "$STATE/cluster-id"
  fi
}

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

format_node() {
  local n=$1 dir
  dir=$(node_dir "$n")
  [ -f "$dir/data/meta.properties" ] && return 0
  # shellcheck disable=SC2086
  if ! timeout 120 java $TOOL_OPTS -Dlog4j2.configurationFile="$HERE/log4j2-tools.properties" \
      -cp "$(libs_dir)/*" kafka.tools.StorageTool format --ignore-formatted \
      -t "$(cat "$STATE/cluster-id")" -c "$dir/server.properties" >"$dir/format.log" 2>&1; then
    cat "$dir/format.log" >&2
    die "formatting the storage of node $n failed (log: $dir/format.log)"
  fi
}

check_ports_free() {
  local n=$1 p
  for p in "$(client_port "$n")" "$(controller_port "$n")"; do
    if port_busy "$p"; then
      die "port $p of node $n is in use by another program (another cluster?); stop it, or choose another KAFKA_PORT_BASE (a formatted cluster keeps its ports: 'down --wipe' first)"
    fi
  done
}

start_node() {
  local n=$1 dir
  dir=$(node_dir "$n")
  rm -f "$dir/pid"
  # The shell writes its own pid, then becomes java: the pid file names the JVM.
  # setsid: the node outlives the terminal or test that started it until `down`.
  # shellcheck disable=SC2086,SC2016
  setsid bash -c 'echo $$ >"$1/pid"; shift; exec "$@"' _ "$dir" \
    java $HEAP_OPTS $JVM_OPTS -Djava.awt.headless=true \
    -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
    -cp "$(libs_dir)/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >"$dir/stdout.log" 2>&1 9>&- &
  for _ in $(seq 50); do
    [ -s "$dir/pid" ] && break
    sleep 0.1
  done
  [ -s "$dir/pid" ] || die "node $n did not start (see $dir/stdout.log)"
}

node_failed() {
  local n=$1 dir
  dir=$(node_dir "$n")
  echo "kafka.sh: node $n exited; last lines of $dir/stdout.log and $dir/logs/server.log:" >&2
  tail -n 15 "$dir/stdout.log" >&2 2>/dev/null || true
  grep -E ' (ERROR|FATAL) ' "$dir/logs/server.log" 2>/dev/null | tail -n 10 >&2 || true
  exit 1
}

# Every partition of every topic has as many in-sync replicas as replicas.
# Reads kcat -L lines such as: partition 0, leader 1, replicas: 1,2,3, isrs: 3,1,2
isr_complete() {
  awk '
    / partition [0-9]+, / {
      if ($0 ~ /leader -1|Broker:|Local:/ || $0 !~ /isrs:/) { bad = 1; next }
      r = $0; sub(/.*replicas: */, "", r); sub(/,? *isrs:.*/, "", r)
      i = $0; sub(/.*isrs: */, "", i); sub(/[, ]*$/, "", i)
      if (split(r, a, ",") != split(i, b, ",")) bad = 1
    }
    END { exit bad }'
}

# Wait until each node's client port answers metadata listing all three
# brokers, and no partition is short of in-sync replicas.
wait_up() {
  local deadline=$((SECONDS + UP_TIMEOUT)) n md ok why=""
  while :; do
    ok=1
    for n in "${NODES[@]}"; do
      [ "$(node_state "$n")" = down ] && node_failed "$n"
    done
    for n in "${NODES[@]}"; do
      # A closed port fails at once, where kcat would wait its whole timeout.
      if ! port_busy "$(client_port "$n")"; then
        ok=0; why="node $n does not listen yet"; break
      fi
      if ! md=$(kcat -L -b "127.0.0.1:$(client_port "$n")" -m 3 2>/dev/null); then
        ok=0; why="node $n does not answer metadata"; break
      fi
      if ! grep -q '^ 3 brokers:' <<<"$md"; then
        ok=0; why="node $n sees $(sed -n 's/^ \([0-9]*\) brokers:.*/\1/p' <<<"$md") of 3 brokers"; break
      fi
    done
    if [ "$ok" = 1 ] && ! isr_complete <<<"$md"; then
      ok=0; why="some partitions are short of in-sync replicas"
    fi
    [ "$ok" = 1 ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && die "cluster not ready after ${UP_TIMEOUT}s: $why (logs: $STATE/node*/logs/server.log)"
    sleep 0.5
  done
}

lock_state() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w "$((UP_TIMEOUT + STOP_TIMEOUT))" 9 || die "another kafka.sh holds $STATE/.lock"
}

cmd_up() {
  need_java
  need_kcat
  command -v setsid >/dev/null 2>&1 || die "setsid not found (Debian: util-linux)"
  ensure_libs
  lock_state
  check_port_base
  local n started=()
  for n in "${NODES[@]}"; do
    case "$(node_state "$n")" in
      running) ;;
      stopped)
        note "node $n was stopped (SIGSTOP): continuing it"
        kill -CONT "$(node_pid "$n")" ;;
      down)
        check_ports_free "$n"
        started+=("$n") ;;
    esac
  done
  ensure_cluster
  for n in "${started[@]}"; do write_config "$n"; done
  # Format in parallel: three JVM start-ups cost less side by side.
  local pids=() p
  for n in "${started[@]}"; do format_node "$n" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || exit 1; done
  for n in "${started[@]}"; do start_node "$n"; done
  [ "${#started[@]}" -gt 0 ] && note "started node(s) ${started[*]}; waiting for the cluster (at most ${UP_TIMEOUT}s)"
  wait_up
  bootstrap_list
}

cmd_down() {
  local wipe=0
  case "${1:-}" in
    --wipe) wipe=1 ;;
    "") ;;
    *) die "down takes only --wipe, got '$1'" ;;
  esac
  [ -d "$STATE" ] || return 0
  lock_state
  local n pid pids=()
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$n")
    [ -n "$pid" ] || continue
    # A stopped JVM would hold SIGTERM pending forever: continue it first.
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  local deadline=$((SECONDS + STOP_TIMEOUT)) alive
  while :; do
    alive=()
    for pid in "${pids[@]}"; do [ -e "/proc/$pid" ] && alive+=("$pid"); done
    [ "${#alive[@]}" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      note "pid(s) ${alive[*]} still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  for n in "${NODES[@]}"; do rm -f "$(node_dir "$n")/pid"; done
  if [ "$wipe" = 1 ]; then
    for n in "${NODES[@]}"; do rm -rf "$(node_dir "$n")"; done
    rm -f "$STATE/cluster-id" "$STATE/port-base" "$STATE/.lock"
    rmdir "$STATE" 2>/dev/null || true
  fi
}

cmd_status() {
  local n st pid all=0 md
  for n in "${NODES[@]}"; do
    st=$(node_state "$n")
    pid=$(node_pid "$n")
    printf 'node %s  %-8s pid %-8s client 127.0.0.1:%s  controller 127.0.0.1:%s\n' \
      "$n" "$st" "${pid:--}" "$(client_port "$n")" "$(controller_port "$n")"
    [ "$st" = running ] || all=1
  done
  if command -v kcat >/dev/null 2>&1; then
    if md=$(kcat -L -b "$(bootstrap_list)" -m 3 2>/dev/null); then
      echo "metadata: $(sed -n 's/^ \([0-9]*\) brokers:.*/\1/p' <<<"$md") broker(s) registered and unfenced"
    else
      echo "metadata: no broker answers"
    fi
  fi
  return "$all"
}

signal_node() {
  local sig=$1 n=$2 pid
  check_node "$n"
  pid=$(node_pid "$n")
  [ -n "$pid" ] || die "node $n is not running"
  kill "-$sig" "$pid"
}

cmd_kill() {
  local n=${1:-} pid
  check_node "$n"
  pid=$(node_pid "$n")
  [ -n "$pid" ] || die "node $n is not running"
  kill -KILL "$pid"
  for _ in $(seq 100); do
    [ -e "/proc/$pid" ] || break
    sleep 0.1
  done
  [ -e "/proc/$pid" ] && die "node $n (pid $pid) survived SIGKILL for 10s"
  rm -f "$(node_dir "$n")/pid"
}

main() {
  # --dir may come before or after the command, except for the commands that
  # hand their arguments to a Java tool (topics, groups, run): before them only.
  local args=() passthrough=0
  while [ $# -gt 0 ]; do
    if [ "$passthrough" = 1 ]; then args+=("$1"); shift; continue; fi
    case "$1" in
      --dir) [ $# -ge 2 ] || die "--dir needs a directory"; STATE=$2; shift 2 ;;
      --dir=*) STATE=${1#--dir=}; shift ;;
      -h|--help|help) usage; exit 0 ;;
      topics|groups|run) args+=("$1"); shift; [ "${#args[@]}" -gt 1 ] || passthrough=1 ;;
      *) args+=("$1"); shift ;;
    esac
  done
  set -- "${args[@]+"${args[@]}"}"
  [ $# -gt 0 ] || { usage >&2; exit 2; }
  case "$STATE" in /*) ;; *) STATE=$PWD/$STATE ;; esac
  local cmd=$1; shift
  case "$cmd" in
    up) [ $# -eq 0 ] || die "up takes no arguments"; cmd_up ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    kill) cmd_kill "$@" ;;
    stop) signal_node STOP "${1:-}" ;;
    cont) signal_node CONT "${1:-}" ;;
    bootstrap) bootstrap_list ;;
    topics) need_java; ensure_libs; kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap_list)" "$@" ;;
    groups) need_java; ensure_libs; kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$(bootstrap_list)" "$@" ;;
    run) [ $# -ge 1 ] || die "run needs a Java main class"; need_java; ensure_libs; kafka_tool "$@" ;;
    libs) need_java; ensure_libs; libs_dir ;;
    *) usage >&2; die "unknown command '$cmd'" ;;
  esac
}

main "$@"
