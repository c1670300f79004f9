#!/usr/bin/python3
"""
The execlog benchmark driver (`make bench`, `make bench-smoke`).

Starts execlogd on the embedded broker with a fresh data directory, measures
each part for a bounded time, measures the ceilings of the parts (raw
librdkafka producer, raw RocksDB WriteBatch, Debian's h2o server serving
files of the answers' sizes) and the peer (PostgreSQL 15) with the same
payloads and client settings, then the same work with fewer or more threads
where this build has the settings (SCALING), and prints one
table, every figure next to its ceiling or peer as a ratio, with PASS/MISS
for the targets. Raw numbers go to OUT/results.json, the chart to
OUT/chart.png. Every row names the broker it used (`embedded`, a real
cluster such as `kafka-4.1.1 x3`, or `none`).

With --kafka BOOTSTRAP (make bench KAFKA=cluster) it then measures ingest
again on that real cluster, in a second table: execlogd on a fresh topic of
its own (6 partitions, replication factor 3), single-event and batch ingest
with ingest.ack=delivered and projected, beside the raw librdkafka producer
on another fresh topic with the same settings. Its topics are deleted at
the end.

It only reads execlogd over HTTP and /proc; it never changes execlogd's
data except through its API. Standard library only.
"""
import argparse
import glob
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# ---- settings --------------------------------------------------------------

# Client settings shared by every h2load run against execlogd and its
# ceiling (h2o static file), so that only the server differs.
H2LOAD_CLIENTS = ["-t", "1", "-c", "16", "-m", "16"]
# PostgreSQL gets the same number of clients (connections) as h2load.
PG_CLIENTS = 16
# Batch ingest: a few large requests in flight (16 x 1000 events).
BATCH_CLIENTS = ["-t", "1", "-c", "4", "-m", "4"]
# Scaling rows: each setting, the values compared (None: execlogd's default), what runs for each. A setting
# this build of execlogd does not have (not in `execlogd --help`) is reported "not available in this build".
# Targets of the read routes beside the status lookup: (ratio to h2o serving a file of the answer's size, p99 ms).
ROUTE_TARGETS = {"list": (0.25, 20.0), "lineage": (0.25, None)}
H2O_SERVER = shutil.which("h2o") or "/usr/bin/h2o"  # Debian's h2o server, the HTTP ceiling
SCALING = (
    ("http.threads", ("1", None), "lookups and single-event ingest"),
    ("projector.threads", ("1", "2"), "projector catch-up"),
)

MODES = {
    "full": dict(
        seconds=10, warmup=2, executions=1_000_000, batch_lines=1000, preload_conns=4,
        get_uris=100_000, append_uris=10_000, burst=60_000, bursts=3, pg_rows=1_000_000,
        rocksdb_executions=100_000, drain_timeout=60, settle_timeout=120, cluster_executions=100_000),
    "smoke": dict(
        seconds=1.5, warmup=0.25, executions=2_000, batch_lines=100, preload_conns=2,
        get_uris=2_000, append_uris=500, burst=2_000, bursts=1, pg_rows=2_000,
        rocksdb_executions=2_000, drain_timeout=20, settle_timeout=5, cluster_executions=2_000),
}

# ---- small helpers ---------------------------------------------------------


T_LOG = time.monotonic()


def log(msg):
    print("bench: [%5.1f s] %s" % (time.monotonic() - T_LOG, msg), file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now():
    return time.monotonic()


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(q / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


class Http:
    """One keep-alive HTTP/1.1 connection (reconnects once on failure)."""

    def __init__(self, port, timeout=30):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                self.conn.request(method, path, body, headers or {})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise

    def json(self, method, path, body=None, headers=None):
        status, data = self.request(method, path, body, headers)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def proc_status(pid, key):
    """A field of /proc/PID/status in bytes (VmHWM, VmRSS), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def du_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


# ---- other load on the machine ----------------------------------------------

WINDOWS = []  # (label, t0, t1) of every timed measurement


def window(label, t0, t1):
    WINDOWS.append((label, t0, t1))


class ForeignCpu(threading.Thread):
    """
    CPU seconds used by processes that are not ours (not descendants of this
    driver, not our PostgreSQL), sampled every 0.5 s: the benchmark shares the
    machine, and a busy neighbour makes every figure lower.
    """

    def __init__(self):
        super().__init__(daemon=True)
        self.samples, self.halt, self.mine_roots = [], threading.Event(), {os.getpid()}
        self.hz = os.sysconf("SC_CLK_TCK")

    def read(self):
        procs = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            rest = st[st.rfind(")") + 2:].split()
            procs[int(d)] = (int(rest[1]), int(rest[11]) + int(rest[12]))  # ppid, utime + stime
        return procs

    def foreign_total(self):
        procs = self.read()
        mine = {}

        def is_mine(pid, depth=0):
            if pid in mine:
                return mine[pid]
            if pid in self.mine_roots:
                mine[pid] = True
            elif pid <= 1 or pid not in procs or depth > 64:
                mine[pid] = False
            else:
                mine[pid] = is_mine(procs[pid][0], depth + 1)
            return mine[pid]

        return {pid: ticks for pid, (ppid, ticks) in procs.items() if not is_mine(pid)}

    def run(self):
        while True:
            self.samples.append((now(), self.foreign_total()))
            if self.halt.wait(0.5):
                break

    def cpu_between(self, t0, t1):
        """Cores used by others between t0 and t1 (processes seen at both ends, or started in between)."""
        pts = [(t, c) for t, c in self.samples if t0 - 0.5 <= t <= t1 + 0.5]
        if len(pts) < 2:
            return None
        (ta, a), (tb, b) = pts[0], pts[-1]
        # a process that started in between counts from 0; one that ended in between is missed
        ticks = sum(max(0, v - a.get(pid, 0)) for pid, v in b.items())
        return ticks / float(self.hz) / max(tb - ta, 1e-3)


FOREIGN = None


# ---- profiles (--profile): perf samples of execlogd during each measurement --------------------------

class Profiler:
    """`perf record -g` on one process for one measurement (--profile). stop() returns where its samples went:
    by library (dso), by thread and by function, as shares of the samples; the report text stays in
    OUT/profiles/LABEL.txt. Sampling at PERF_HZ costs the profiled process about 1%."""
    DIR = None  # OUT/profiles when --profile, else None: no profiling
    PERF_HZ = 499

    def __init__(self, label, pid):
        self.label, self.pid, self.proc = label, pid, None
        if Profiler.DIR is None or not pid:
            return
        os.makedirs(Profiler.DIR, exist_ok=True)  # the harness empties OUT when it starts
        self.data = os.path.join(Profiler.DIR, label + ".data")
        self.proc = subprocess.Popen(["perf", "record", "-q", "-F", str(self.PERF_HZ), "-g", "-p", str(pid),
                                      "-o", self.data], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.3)  # attached before the work starts

    @staticmethod
    def shares(data, sort, limit):
        p = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", sort, "-g", "none", "--stdio",
                            "--percent-limit", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           timeout=300)
        rows = []
        for line in p.stdout.splitlines():
            m = re.match(r"^\s+([\d.]+)%\s+(.*?)\s*$", line)
            if m:
                name = re.sub(r"(\s+-)+$", "", m.group(2))  # perf's empty trailing columns
                rows.append((float(m.group(1)), re.sub(r"\s+", " ", name)))
        return rows[:limit], p.stdout

    def stop(self):
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return dict(error="perf record did not stop")
        if not os.path.exists(self.data):
            return dict(error="perf record: %s" % (err.decode(errors="replace").strip()[-300:] or "no data"))
        out = {}
        texts = []
        for key, sort, limit in (("dso", "dso", 8), ("thread", "comm", 8), ("symbol", "dso,symbol", 15)):
            rows, text = self.shares(self.data, sort, limit)
            out[key] = rows
            texts.append("## perf report --no-children --sort %s\n%s" % (sort, text))
        with open(os.path.join(Profiler.DIR, self.label + ".txt"), "w") as f:
            f.write("\n".join(texts))
        os.unlink(self.data)  # large; the reports stay
        return out


def thread_ticks(pid):
    """CPU ticks of each thread group of a process: main loop, rocksdb, librdkafka, other."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rfind(")") + 2:].split()
        ticks = int(rest[11]) + int(rest[12])
        group = thread_group(pid, tid, comm)
        out[group] = out.get(group, 0) + ticks
    return out


def thread_group(pid, tid, comm):
    if int(tid) == pid:
        return "main loop"
    if comm.startswith("rocksdb:"):
        return "rocksdb background (flush, compaction)"
    if comm == "rdk:mock":
        return "embedded broker (rdk:mock)"
    if comm.startswith("rdk:"):
        return "librdkafka clients (rdk:*)"
    return "other threads (projector, producer poll)"


def run_queue_wait(pid, by_thread=True):
    """Nanoseconds the threads of a process spent runnable but waiting for a CPU (/proc/.../schedstat), per
    thread group (or all together): on a shared 2-core machine, the time a figure lost to other threads."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                wait = int(f.read().split()[1])
            comm = ""
            if by_thread:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    comm = f.read().strip()
        except (OSError, ValueError, IndexError):
            continue
        group = thread_group(pid, tid, comm) if by_thread else "all"
        out[group] = out.get(group, 0) + wait
    return out


def waits_cores(before, after, seconds):
    return {k: round((after.get(k, 0) - before.get(k, 0)) / 1e9 / max(seconds, 1e-3), 2) for k in after}


def pids_ticks(pids):
    """CPU ticks (user + system) of whole processes, e.g. the Kafka brokers; a process gone counts 0."""
    out = {}
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rfind(")") + 2:].split()
        out[pid] = int(rest[11]) + int(rest[12])
    return out


def pids_cores(before, after, seconds):
    hz = float(os.sysconf("SC_CLK_TCK"))
    return round(sum(max(0, v - before.get(p, v)) for p, v in after.items()) / hz / max(seconds, 1e-3), 2)


def thread_cores(before, after, seconds):
    hz = float(os.sysconf("SC_CLK_TCK"))
    return {k: round((after.get(k, 0) - before.get(k, 0)) / hz / max(seconds, 1e-3), 2) for k in after}


# ---- processes we start (and only those) ------------------------------------

CHILDREN = []


def spawn(argv, logpath, **kw):
    f = open(logpath, "ab")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, **kw)
    p._logfile = f
    CHILDREN.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=30):
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(sig)
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def cleanup():
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


# ---- execlogd ----------------------------------------------------------------


class Execlogd:
    def __init__(self, binary, datadir, logdir, name, flags=()):
        self.binary, self.datadir, self.logdir, self.name = binary, datadir, logdir, name
        self.flags = list(flags)
        self.port = free_port()
        self.proc = None
        self.http = Http(self.port)
        self.applied_base = 0  # applied counted by earlier lives on the same data

    def start(self, wait=True):
        argv = [self.binary, "--listen=127.0.0.1:%d" % self.port, "--data.dir=" + self.datadir,
                "--log.level=warn"] + self.flags
        self.proc = spawn(argv, os.path.join(self.logdir, "execlogd-%s.log" % self.name))
        self.t_spawn = now()
        if wait:
            self.ready_s = self.wait_ready(60)
            self.assigned_s = self.wait_assigned(60)

    def wait_ready(self, timeout):
        """Seconds from spawn until GET /readyz answers 200."""
        deadline = now() + timeout
        probe = Http(self.port, timeout=2)
        self.listening_s = None
        while now() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("execlogd exited with %s (see %s)" % (self.proc.returncode, self.logdir))
            try:
                status, _ = probe.request("GET", "/readyz")
                if self.listening_s is None:
                    self.listening_s = now() - self.t_spawn  # the store is open, the server answers
                if status == 200:
                    probe.close()
                    return now() - self.t_spawn
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.005)
        raise RuntimeError("execlogd not ready within %d s" % timeout)

    def wait_assigned(self, timeout):
        """Seconds from spawn until the projector knows its lag (partitions assigned)."""
        deadline = now() + timeout
        while now() < deadline:
            if self.readyz().get("lag", -1) != -1:
                return now() - self.t_spawn
            time.sleep(0.01)
        raise RuntimeError("the projector got no partitions within %d s" % timeout)

    def readyz(self):
        """The projector's counters; /readyz answers 503 (same body) while it is not ready."""
        status, body = self.http.json("GET", "/readyz")
        return body if status in (200, 503) and isinstance(body, dict) else {}

    def settle(self, timeout):
        """Wait until RocksDB's background threads are idle (flushes, compactions done); seconds waited."""
        t0 = now()
        prev = thread_ticks(self.proc.pid)
        while now() - t0 < timeout:
            time.sleep(1.0)
            cur = thread_ticks(self.proc.pid)
            busy = thread_cores(prev, cur, 1.0).get("rocksdb background (flush, compaction)", 0)
            prev = cur
            if busy < 0.05:
                break
        return now() - t0

    def bootstrap(self):
        return self.http.json("GET", "/v1/info")[1]["kafka"]["bootstrap_servers"]

    def hwm(self):
        return proc_status(self.proc.pid, "VmHWM")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def wait_drained(self, target_applied, timeout):
        """Wait until readyz applied >= target_applied (or stops moving); return the last readyz."""
        deadline, last, last_change = now() + timeout, None, now()
        while now() < deadline:
            r = self.readyz()
            a = r.get("applied", 0)
            if a >= target_applied and r.get("lag", 1) in (0, -1):
                return r
            if a != last:
                last, last_change = a, now()
            elif now() - last_change > 10:
                return r
            time.sleep(0.05)
        return self.readyz()


class Sampler(threading.Thread):
    """Polls GET /readyz every `period` seconds: (t, applied, lag) samples."""

    def __init__(self, port, period):
        super().__init__(daemon=True)
        self.http, self.period, self.samples = Http(port, timeout=5), period, []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                status, body = self.http.json("GET", "/readyz")
                if status in (200, 503) and isinstance(body, dict) and "applied" in body:
                    self.samples.append((now(), body.get("applied", 0), body.get("lag", -1)))
            except (OSError, http.client.HTTPException, ValueError):
                pass
            self.halt.wait(self.period)

    def stop(self):
        self.halt.set()
        self.join()
        self.http.close()
        return self.samples


# ---- h2load --------------------------------------------------------------------


def h2load(label, args, outdir, seconds, warmup, pid=None, brokers=()):
    """Run h2load for `seconds` after `warmup`; parse its summary and the per-request log.
    pid: the server, whose CPU per thread group is recorded; brokers: pids of Kafka brokers, whose CPU is too."""
    logfile = os.path.join(outdir, "h2load-%s.log" % label)
    argv = ["h2load"] + args + ["-D", "%dms" % int(seconds * 1000), "--warm-up-time=%dms" % int(warmup * 1000),
                                "--log-file=" + logfile]
    t0 = now()
    tt0 = thread_ticks(pid) if pid else None
    bt0 = pids_ticks(brokers)
    rq0 = run_queue_wait(pid) if pid else None
    bq0 = {b: run_queue_wait(b, False).get("all", 0) for b in brokers}
    prof = Profiler(label, pid)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=seconds + warmup + 120)
    tt1 = thread_ticks(pid) if pid else None
    bt1 = pids_ticks(brokers)
    rq1 = run_queue_wait(pid) if pid else None
    bq1 = {b: run_queue_wait(b, False).get("all", 0) for b in brokers}
    out = p.stdout
    with open(os.path.join(outdir, "h2load-%s.out" % label), "w") as f:
        f.write(" ".join(argv) + "\n\n" + out)
    res = {"argv": argv, "wall_s": now() - t0, "exit": p.returncode}
    if pid:
        res["server_cores"] = thread_cores(tt0, tt1, now() - t0)
        # cores' worth of runnable threads that waited for a CPU (1.0 = one thread waiting all the time)
        res["server_run_queue_wait"] = waits_cores(rq0, rq1, now() - t0)
    if brokers:
        res["broker_cores"] = pids_cores(bt0, bt1, now() - t0)
        res["broker_run_queue_wait"] = round(sum(max(0, v - bq0.get(b, v)) for b, v in bq1.items()) / 1e9 /
                                             max(now() - t0, 1e-3), 2)
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    if m:
        res["req_per_s_h2load"] = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
    if m:
        res.update(zip(["total", "started", "done", "succeeded", "failed", "errored", "timeout"], map(int, m.groups())))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        res.update(zip(["s2xx", "s3xx", "s4xx", "s5xx"], map(int, m.groups())))
    m = re.search(r"Application protocol: (\S+)", out)
    res["protocol"] = m.group(1) if m else None
    # per-request log: start (us since the epoch), status, latency (us); the
    # warm-up is not logged
    lat, starts, ok = [], [], 0
    try:
        with open(logfile) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                starts.append(int(parts[0]))
                lat.append(int(parts[2]))
                if parts[1].startswith("2"):
                    ok += 1
    except OSError:
        pass
    if lat:
        lat.sort()
        res["p50_ms"] = percentile(lat, 50) / 1000.0
        res["p99_ms"] = percentile(lat, 99) / 1000.0
        res["max_ms"] = lat[-1] / 1000.0
        # requests started per second: shows a collapse that an average hides
        t0s = min(starts) // 1000000
        per_s = {}
        for st in starts:
            per_s[st // 1000000 - t0s] = per_s.get(st // 1000000 - t0s, 0) + 1
        res["per_second"] = [per_s.get(i, 0) for i in range(max(per_s) + 1)]
        res["logged"] = len(lat)
        res["logged_2xx"] = ok
    res["seconds"] = float(seconds)
    res["ok_per_s"] = res.get("s2xx", 0) / float(seconds)
    window("h2load " + label, t0 + warmup, now())
    profile = prof.stop()  # after the CPU figures above: perf report takes a while
    if profile is not None:
        res["profile"] = profile
    os.unlink(logfile) if os.path.exists(logfile) else None  # can be large; the summary stays
    return res


# ---- the harness -----------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.cfg = MODES[args.mode]
        self.out = os.path.abspath(args.out)
        self.tools = os.path.abspath(args.tools)
        self.execlogd = os.path.abspath(args.server)
        self.raw = {}
        self.rows = []
        self.t_start = now()
        if os.path.isdir(self.out):
            shutil.rmtree(self.out)
        os.makedirs(self.out)
        self.work = os.path.join(self.out, "run")
        os.makedirs(self.work)
        self.datadir = os.path.join(self.work, "data")
        self.total_applied = 0
        self.loadavg_start = loadavg()
        self.brokers = []  # pids of the Kafka brokers while the cluster is measured (their CPU is recorded)
        self.cluster = None  # the real-cluster run: bootstrap, topics, node IDs, broker label

    # ---- result rows -------------------------------------------------------------
    def row(self, key, label, value, unit, ref=None, ref_label=None, target=None, kind="ratio", note=None, broker=None):
        """One line of the table. target: (op, threshold) on the ratio (or on the value when kind='abs').
        broker: the broker the measurement used (set for every row in report())."""
        r = dict(key=key, label=label, broker=broker, value=value, unit=unit, ref=ref, ref_label=ref_label, note=note)
        if value is not None and ref not in (None, 0):
            r["ratio"] = value / ref
        if target is not None:
            op, thr = target
            r["target"] = "%s %s" % (op, fmt_target(thr, kind))
            subject = value if kind in ("abs", "count") else r.get("ratio")
            if subject is None:
                r["result"] = "n/a" if value is None else "MISS"
            else:
                r["result"] = "PASS" if (subject >= thr if op == ">=" else subject <= thr) else "MISS"
        self.rows.append(r)
        return r

    def na(self, key, label, why, target=None):
        r = dict(key=key, label=label, value=None, unit="", na=why)
        if target is not None:
            r["target"] = target
            r["result"] = "n/a"
        self.rows.append(r)

    # ---- phases ------------------------------------------------------------------
    def run(self):
        cfg = self.cfg
        log("mode %s: %s s per measurement, %d executions; output in %s" % (
            self.args.mode, cfg["seconds"], cfg["executions"], self.out))
        main = Execlogd(self.execlogd, self.datadir, self.work, "main")
        main.start()
        self.bootstrap = main.http.json("GET", "/v1/info")[1]["kafka"]["bootstrap_servers"]
        self.preload(main)
        self.api_reads(main)
        self.single_ingest(main, "projected")
        self.batch_ingest(main, "projected")
        self.kafka_ceiling()
        self.projector_bursts(main)
        self.log_accounting(main, "main")
        self.total_applied += main.readyz().get("applied", 0)
        self.hwm_main = main.hwm()
        self.recovery(main)

        delivered = Execlogd(self.execlogd, self.datadir, self.work, "delivered", ["--ingest.ack=delivered"])
        delivered.start()
        self.single_ingest(delivered, "delivered")
        self.batch_ingest(delivered, "delivered")
        self.log_accounting(delivered, "delivered")
        self.total_applied += delivered.readyz().get("applied", 0)
        self.hwm_delivered = delivered.hwm()
        stop(delivered.proc)
        self.disk()
        self.scaling_runs()
        self.rebuild()

        self.h2o_ceiling()
        self.rocksdb_ceiling()
        self.postgres()
        if self.args.kafka:
            self.cluster_run()
        self.report()

    # ---- 0. executions to work with -------------------------------------------------
    def preload(self, x, n=None, tag=""):
        """Create the executions with batch ingest (default ack: projected), 1000 lines a request.
        tag: prefix of the raw results' keys and file names ("cluster_" for the real-cluster run)."""
        cfg, lines = self.cfg, self.cfg["batch_lines"]
        n = n or cfg["executions"]
        # the first write after a start waits for the projector to join its group
        t0 = now()
        st, body = x.http.json("POST", "/v1/executions", b'{"flow_id":"bench-warmup","tenant_id":"bench"}',
                               {"content-type": "application/json"})
        self.raw[tag + "first_write_after_start_s"] = now() - t0
        if st != 201:
            raise RuntimeError("create answered %s: %s" % (st, body))
        flows = 100
        ids, lock, cursor = [], threading.Lock(), [0]
        rejected = [0]

        def body_for(i0, k):
            return "".join(
                '{"flow_id":"bench-f%d","flow_name":"Bench flow %d","tenant_id":"bench",'
                '"trigger_type":"schedule","started_by":"bench"}\n' % (i % flows, i % flows)
                for i in range(i0, i0 + k)).encode()

        errors = []

        def worker():
            h = Http(x.port, timeout=120)
            while True:
                with lock:
                    i0 = cursor[0]
                    if i0 >= n:
                        break
                    k = min(lines, n - i0)
                    cursor[0] += k
                try:
                    st, j = h.json("POST", "/v1/events", body_for(i0, k), {"content-type": "application/x-ndjson"})
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))
                    break
                if st != 200 or not j:
                    errors.append("batch answered %s" % st)
                    break
                got = [(r["audit_id"], i0 + r["line"] - 1) for r in j["results"] if r.get("audit_id")]
                with lock:
                    ids.extend(got)
                    rejected[0] += j.get("rejected", 0)
            h.close()

        t0 = now()
        threads = [threading.Thread(target=worker) for _ in range(cfg["preload_conns"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dt = now() - t0
        if errors or len(ids) < n:
            raise RuntimeError("preload: %d of %d executions created (%s)" % (len(ids), n, "; ".join(errors[:3])))
        ids.sort(key=lambda t: t[1])
        self.ids = [a for a, _ in ids]
        self.flow_of = {a: "bench-f%d" % (i % flows) for a, i in ids}
        self.raw[tag + "preload"] = dict(executions=n, seconds=dt, events_per_s=n / dt, rejected=rejected[0],
                                         lines_per_request=lines, connections=cfg["preload_conns"])
        log("%spreload: %d executions in %.1f s (%.0f creates/s)" % (tag, n, dt, n / dt))
        # measure reads on a store at rest, not under the compaction the bulk load started
        self.raw[tag + "preload"]["settle_s"] = x.settle(cfg["settle_timeout"])
        log("store settled (RocksDB background threads idle) %.1f s after the preload" %
            self.raw[tag + "preload"]["settle_s"])
        # the executions the write benchmarks append to, and their file for the raw producer
        rnd = random.Random(42)
        self.append_ids = rnd.sample(self.ids, min(cfg["append_uris"], len(self.ids)))
        self.ids_file = os.path.join(self.work, tag + "append-ids.txt")
        with open(self.ids_file, "w") as f:
            for a in self.append_ids:
                f.write("%d %s\n" % (a, self.flow_of[a]))

    # ---- 4. API reads -----------------------------------------------------------------
    def api_reads(self, x):
        cfg = self.cfg
        rnd = random.Random(7)
        sample = [rnd.choice(self.ids) for _ in range(cfg["get_uris"])]
        uris = os.path.join(self.work, "get-uris.txt")
        with open(uris, "w") as f:
            for a in sample:
                f.write(x.url("/v1/executions/%d\n" % a))
        # the answer the static-file ceiling serves: a real one, byte for byte
        st, body = x.http.request("GET", "/v1/executions/%d" % sample[0])
        if st != 200:
            raise RuntimeError("GET execution answered %s" % st)
        # served by Debian's h2o, which drops root for nobody: a world-readable directory of its own
        self.static_root = tempfile.mkdtemp(prefix="xl-bench-static-")
        os.chmod(self.static_root, 0o755)
        self.static_bytes = {}
        self.save_static("status", body)
        self.status_bytes = len(body)
        for proto, extra in (("h2c", []), ("h1", ["--h1"])):
            r = h2load("get-" + proto, H2LOAD_CLIENTS + extra + ["-i", uris], self.out, cfg["seconds"], cfg["warmup"],
                       x.proc.pid)
            self.raw["api_get_" + proto] = r
            log("GET /v1/executions/{id} %s: %.0f req/s, p99 %.2f ms" % (proto, r["ok_per_s"], r.get("p99_ms", -1)))
        # routes that another issue adds: measured once they answer
        self.optional_routes(x)

    def save_static(self, name, body):
        """A real answer of execlogd, byte for byte, as the file the static ceiling of its row serves."""
        path = os.path.join(self.static_root, name + ".json")
        with open(path, "wb") as f:
            f.write(body)
        os.chmod(path, 0o644)
        self.static_bytes[name] = len(body)

    def route_missing(self, x, path):
        st, body = x.http.request("GET", path)
        try:
            ptype = json.loads(body).get("type", "") if body else ""
        except (ValueError, AttributeError):
            ptype = ""
        # 404 no-route, or 405: the path exists for another method only
        missing = st == 405 or (st == 404 and ptype.endswith(":no-route"))
        return missing, st

    def optional_routes(self, x):
        cfg = self.cfg
        rnd = random.Random(11)
        routes = {
            "list": ("GET /v1/executions?flow_id=...&limit=50",
                     lambda: "/v1/executions?flow_id=bench-f%d&limit=50" % rnd.randrange(100)),
            "lineage": ("GET /v1/executions/{id}/lineage",
                        lambda: "/v1/executions/%d/lineage" % rnd.choice(self.ids)),
        }
        self.routes = {}
        for name, (label, make) in routes.items():
            probe = make()
            missing, st = self.route_missing(x, probe)
            if missing:
                self.routes[name] = dict(label=label, missing=True, probe_status=st)
                log("%s: route missing (%d), skipped" % (label, st))
                continue
            st, body = x.http.request("GET", probe)
            if st == 200:  # the row's ceiling: a static file of the same size (a 50-item page, a lineage)
                self.save_static(name, body)
            uris = os.path.join(self.work, "%s-uris.txt" % name)
            with open(uris, "w") as f:
                for _ in range(min(cfg["get_uris"], 20000)):
                    f.write(x.url(make()) + "\n")
            r = h2load(name + "-h2c", H2LOAD_CLIENTS + ["-i", uris], self.out, cfg["seconds"], cfg["warmup"],
                       x.proc.pid)
            self.routes[name] = dict(label=label, missing=False, probe_status=st, h2c=r)

    # ---- 1. single-event ingest ----------------------------------------------------------
    def single_ingest(self, x, ack, tag=""):
        cfg = self.cfg
        uris = os.path.join(self.work, "%sappend-uris-%s.txt" % (tag, ack))
        with open(uris, "w") as f:
            for a in self.append_ids:
                f.write(x.url("/v1/executions/%d/events\n" % a))
        data = os.path.join(self.work, "event.json")
        with open(data, "w") as f:
            f.write('{"type":"progress","metrics":{"rows":1}}')
        # one write first: the first one after a start waits for the projector's group join
        t0 = now()
        st, _ = x.http.request("POST", "/v1/executions/%d/events" % self.append_ids[0],
                               b'{"type":"progress","metrics":{"rows":1}}', {"content-type": "application/json"})
        first = now() - t0
        base = x.readyz().get("applied", 0)
        sampler = Sampler(x.port, 0.1)
        sampler.start()
        t_run = now()
        r = h2load("%ssingle-%s" % (tag, ack),
                   H2LOAD_CLIENTS + ["-d", data, "-H", "content-type: application/json", "-i", uris],
                   self.out, cfg["seconds"], cfg["warmup"], x.proc.pid, self.brokers)
        t_end = now()
        samples = sampler.stop()
        drained = x.wait_drained(base + 1, cfg["drain_timeout"])
        r.update(first_write_s=first, first_write_status=st, lag=lag_stats(samples, t_run + cfg["warmup"], t_end, r["ok_per_s"]),
                 applied_after=drained.get("applied"), applied_before=base)
        self.raw[tag + "single_" + ack] = r
        log("%ssingle-event ingest (ack=%s): %.0f events/s, p99 %.2f ms, max lag %s" % (
            tag, ack, r["ok_per_s"], r.get("p99_ms", -1), r["lag"].get("max")))

    # ---- 2. batch ingest -----------------------------------------------------------------
    def batch_ingest(self, x, ack, tag=""):
        cfg, n = self.cfg, self.cfg["batch_lines"]
        data = os.path.join(self.work, "batch-%d.ndjson" % n)
        rnd = random.Random(5)
        with open(data, "w") as f:
            for a in rnd.sample(self.append_ids, min(n, len(self.append_ids))) * (n // len(self.append_ids) + 1):
                f.write('{"audit_id":%d,"type":"progress","metrics":{"rows":1}}\n' % a)
        with open(data) as f:
            body = "".join(f.readlines()[:n])
        with open(data, "w") as f:
            f.write(body)
        # every line of the body must be accepted, or the count below would lie
        st, j = x.http.json("POST", "/v1/events", body.encode(), {"content-type": "application/x-ndjson"})
        if st != 200 or not j or j.get("accepted") != n:
            raise RuntimeError("batch probe answered %s, accepted %s of %d" % (st, j and j.get("accepted"), n))
        base = x.readyz().get("applied", 0)
        sampler = Sampler(x.port, 0.1)
        sampler.start()
        t_run = now()
        r = h2load("%sbatch-%s" % (tag, ack), BATCH_CLIENTS + ["-d", data, "-H", "content-type: application/x-ndjson",
                                                               x.url("/v1/events")], self.out, cfg["seconds"],
                   cfg["warmup"], x.proc.pid, self.brokers)
        t_end = now()
        samples = sampler.stop()
        r["lines_per_request"] = n
        r["events_per_s"] = r["ok_per_s"] * n
        # events acknowledged in the whole run (warm-up included) vs applied by the projector
        drained = x.wait_drained(base + 1, cfg["drain_timeout"])
        r.update(lag=lag_stats(samples, t_run + cfg["warmup"], t_end, r["events_per_s"]), applied_before=base,
                 applied_after=drained.get("applied"), lag_after=drained.get("lag"))
        self.raw[tag + "batch_" + ack] = r
        log("%sbatch ingest (ack=%s): %.0f events/s (%d-line requests)" % (tag, ack, r["events_per_s"], n))

    # ---- ceiling: raw librdkafka -----------------------------------------------------------
    def kafka_ceiling(self):
        cfg = self.cfg
        argv = [os.path.join(self.tools, "xl_bench_kafka"), "--bootstrap", self.bootstrap,
                "--topic", "execlog.bench.ceiling", "--seconds", str(cfg["seconds"])]
        self.raw["kafka_ceiling"] = run_json(argv, cfg["seconds"] + 120)
        log("raw librdkafka producer: %.0f events/s" % self.raw["kafka_ceiling"]["events_per_s"])

    # ---- 3. projector ----------------------------------------------------------------------
    def projector_bursts(self, x, tag=""):
        """Produce a burst of events straight to the topic; time the projector's catch-up."""
        cfg, results = self.cfg, []
        bootstrap = x.bootstrap()  # each start of execlogd has an embedded broker of its own
        for i in range(cfg["bursts"]):
            base = x.readyz().get("applied", 0)
            sampler = Sampler(x.port, 0.005)
            sampler.start()
            prof = Profiler("%sprojector-burst-%d" % (tag, i + 1), x.proc.pid if i == 0 else None)
            t0 = now()
            prod = run_json([os.path.join(self.tools, "xl_bench_kafka"), "--bootstrap", bootstrap,
                             "--topic", "execlog.events", "--count", str(cfg["burst"]), "--ids", self.ids_file], 120)
            t_prod = now()
            target = base + prod["delivered"]
            deadline = now() + cfg["drain_timeout"]
            while now() < deadline and (not sampler.samples or sampler.samples[-1][1] < target):
                time.sleep(0.01)
            samples = sampler.stop()
            profile = prof.stop()
            # the catch-up rate: the burst over the time from its first event produced to its last applied (the
            # first batch, with its cold reads, included); apply_events_per_s leaves the first batch out
            moving = [s for s in samples if s[1] > base]
            r = dict(burst=prod["delivered"], produce_s=prod["seconds"], produce_wall_s=t_prod - t0,
                     applied=(samples[-1][1] - base) if samples else 0)
            if profile is not None:
                r["profile"] = profile
            if moving and samples[-1][1] >= target:
                first, last = moving[0], next(s for s in moving if s[1] >= target)
                r["apply_s"] = last[0] - first[0]
                r["apply_events_per_s"] = (last[1] - first[1]) / (last[0] - first[0]) if last[0] > first[0] else None
                r["catch_up_s"] = last[0] - t0
                r["events_per_s"] = (last[1] - base) / (last[0] - t0) if last[0] > t0 else None
                r["max_lag"] = max(s[2] for s in samples)
            results.append(r)
            log("%sprojector burst %d: %s" % (tag, i + 1, {k: v for k, v in r.items() if k != "profile"}))
        rates = sorted(r["events_per_s"] for r in results if r.get("events_per_s"))
        self.raw[tag + "projector"] = dict(bursts=results, events_per_s=rates[len(rates) // 2] if rates else None)

    def log_accounting(self, x, name):
        """Events on this process's topic (a fresh log per start) vs events the projector applied."""
        r = x.wait_drained(0, self.cfg["drain_timeout"])
        wm = run_json([os.path.join(self.tools, "xl_bench_kafka"), "--bootstrap", x.bootstrap(),
                       "--topic", "execlog.events", "--watermarks", "1"], 60)
        applied = x.readyz().get("applied", 0)
        self.raw["log_" + name] = dict(wm, applied=applied, lag=r.get("lag"),
                                       never_applied=max(0, wm["high_sum"] - applied))
        log("log of the %s run: %d events on the topic, %d applied, %d partitions pruned" % (
            name, wm["high_sum"], applied, wm["partitions_pruned"]))

    # ---- the real cluster (--kafka) ------------------------------------------------------------
    def cluster_run(self):
        """Ingest on a real Kafka cluster: execlogd on a fresh topic (it creates it: 6 partitions, RF 3), with
        ack=projected then ack=delivered on the same data and topic, then the raw producer on another fresh topic
        with the same settings. The brokers' CPU is recorded, and not counted as other processes' load."""
        cfg = self.cfg
        run_id = "%d-%s" % (os.getpid(), os.urandom(3).hex())
        topic = "xl-bench-events-" + run_id
        c = self.cluster = dict(bootstrap=self.args.kafka, version=self.args.kafka_version, topic=topic,
                                dlq_topic=topic + ".dlq", ceiling_topic="xl-bench-ceiling-" + run_id,
                                partitions=6, replication_factor=3, node_ids=[], loadavg_start=loadavg())
        self.cluster_topics = [c["topic"], c["dlq_topic"], c["ceiling_topic"]]
        self.brokers, c["brokers_in_metadata"] = broker_pids()
        c["broker_pids"] = self.brokers
        if FOREIGN is not None:
            FOREIGN.mine_roots.update(self.brokers)  # part of what is measured now
        log("real cluster %s (broker pids %s): topics %s, %s" % (c["bootstrap"], self.brokers, topic,
                                                                 c["ceiling_topic"]))
        datadir = os.path.join(self.work, "cluster-data")
        node_id = self.cluster_node_id()
        base = ["--kafka.bootstrap.servers=" + c["bootstrap"], "--topic=" + c["topic"], "--topic.dlq=" + c["dlq_topic"],
                "--topic.partitions=%d" % c["partitions"], "--topic.replication.factor=%d" % c["replication_factor"],
                "--ingest.node.id=%d" % node_id]
        proj = self.cluster_node("cluster-projected", datadir, base + ["--ingest.ack=projected"])
        self.preload(proj, cfg["cluster_executions"], "cluster_")
        self.single_ingest(proj, "projected", "cluster_")
        self.batch_ingest(proj, "projected", "cluster_")
        self.cluster_accounting(proj, "projected")
        stop(proj.proc)
        dlv = self.cluster_node("cluster-delivered", datadir, base + ["--ingest.ack=delivered"])
        self.single_ingest(dlv, "delivered", "cluster_")
        self.batch_ingest(dlv, "delivered", "cluster_")
        self.cluster_accounting(dlv, "delivered")
        self.raw["cluster_hwm"] = dlv.hwm()
        stop(dlv.proc)
        # the raw producer: a fresh topic with the events topic's settings, the same message
        bt0, t0 = pids_ticks(self.brokers), now()
        r = run_json([os.path.join(self.tools, "xl_bench_kafka"), "--bootstrap", c["bootstrap"],
                      "--topic", c["ceiling_topic"], "--create", str(c["partitions"]),
                      "--replication", str(c["replication_factor"]), "--seconds", str(cfg["seconds"])],
                     cfg["seconds"] + 180)
        r["broker_cores"] = pids_cores(bt0, pids_ticks(self.brokers), now() - t0)
        self.raw["cluster_kafka_ceiling"] = r
        c["brokers"] = r.get("brokers")
        c["loadavg_end"] = loadavg()
        # a broker killed and restarted meanwhile (a fault test sharing the cluster) invalidates the figures
        c["broker_pids_end"], c["brokers_in_metadata_end"] = broker_pids()
        c["brokers_restarted"] = sorted(c["broker_pids_end"]) != sorted(self.brokers)
        if c["brokers_restarted"]:
            log("cluster: WARNING: broker pids changed during the run (%s -> %s)" % (self.brokers,
                                                                                  c["broker_pids_end"]))
        log("cluster: raw librdkafka producer: %.0f events/s (%d partitions, %d replicas, %d brokers)" % (
            r["events_per_s"], r["partitions"], r["replicas"], r["brokers"]))
        self.brokers = []

    def cluster_node_id(self):
        """An ingest.node.id for this run: execlogd claims it on the whole cluster, whatever the topic, so runs
        sharing the cluster (the kafka test lane draws from 16 up) take it from the top of the range."""
        return 216 + int.from_bytes(os.urandom(2), "little") % 40

    def cluster_node(self, name, datadir, flags):
        """Start execlogd on the cluster; if its node ID is claimed by someone else, try another one."""
        for attempt in range(4):
            x = Execlogd(self.execlogd, datadir, self.work, name, flags)
            try:
                x.start()
                self.cluster["node_ids"].append(int(next(f for f in flags if f.startswith("--ingest.node.id="))
                                                    .split("=")[1]))
                return x
            except RuntimeError as e:
                stop(x.proc, signal.SIGKILL)
                with open(os.path.join(self.work, "execlogd-%s.log" % name), errors="replace") as f:
                    text = f.read()[-2000:]
                if "is taken by another" not in text or attempt == 3:
                    raise RuntimeError("%s: %s" % (e, text[-500:]))
                nid = self.cluster_node_id()
                log("%s: node ID taken (%s), trying %d" % (name, text.strip().splitlines()[-1][-160:], nid))
                flags = [f for f in flags if not f.startswith("--ingest.node.id=")] + ["--ingest.node.id=%d" % nid]

    def cluster_accounting(self, x, name):
        """Events on the topic (its high watermarks) vs the offsets the projection made durable (/metrics):
        after a drain they must match, whatever the acknowledgement."""
        drained = x.wait_drained(0, self.cfg["drain_timeout"])
        wm = run_json([os.path.join(self.tools, "xl_bench_kafka"), "--bootstrap", self.cluster["bootstrap"],
                       "--topic", self.cluster["topic"], "--watermarks", "1"], 60)
        deadline, applied = now() + self.cfg["drain_timeout"], 0
        while True:
            applied = applied_offsets(x)
            if applied >= wm["high_sum"] or now() >= deadline:
                break
            time.sleep(0.1)
        self.raw["cluster_log_" + name] = dict(wm, applied_offsets=applied, lag=drained.get("lag"),
                                               applied=x.readyz().get("applied"),
                                               never_applied=max(0, wm["high_sum"] - applied))
        log("cluster log after the %s run: %d events on the topic, offsets applied %d, %d partitions pruned" % (
            name, wm["high_sum"], applied, wm["partitions_pruned"]))

    def cluster_cleanup(self):
        """Delete this run's topics from the cluster (the cluster itself stays as it was)."""
        topics = getattr(self, "cluster_topics", None)
        if not topics:
            return
        try:
            r = run_json([os.path.join(self.tools, "xl_bench_kafka"), "--bootstrap", self.args.kafka,
                          "--topic", ",".join(topics), "--delete", "1"], 60)
            log("cluster: deleted %d of this run's topics (%s)" % (r.get("deleted", 0), ", ".join(topics)))
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            log("cluster: could not delete this run's topics %s: %s" % (", ".join(topics), e))
        self.cluster_topics = None

    # ---- 5. recovery --------------------------------------------------------------------------
    def recovery(self, x):
        probe_id = self.append_ids[0]
        os.kill(x.proc.pid, signal.SIGKILL)
        x.proc.wait()
        t_kill = now()
        x.start(wait=False)
        ready = x.wait_ready(60) + (x.t_spawn - t_kill)
        assigned = x.wait_assigned(60) + (x.t_spawn - t_kill)
        h = Http(x.port, timeout=30)
        st, _ = h.request("GET", "/v1/executions/%d" % probe_id)
        t_get = now() - t_kill
        t0 = now()
        stw, _ = h.request("POST", "/v1/executions/%d/events" % probe_id, b'{"type":"progress","metrics":{"rows":1}}',
                           {"content-type": "application/json"})
        t_write = now() - t_kill
        h.close()
        self.raw["recovery"] = dict(ready_s=ready, listening_s=x.listening_s + (x.t_spawn - t_kill), first_get_s=t_get, first_get_status=st, first_write_s=t_write,
                                    first_write_status=stw, first_write_wait_s=now() - t0,
                                    projector_assigned_s=assigned)
        log("recovery after kill -9: ready in %.2f s, first acknowledged write at %.2f s (%s)" % (ready, t_write, stw))
        # the same status lookups on the restarted process (cold cache, compacted store)
        uris = os.path.join(self.work, "get-uris-restart.txt")
        with open(os.path.join(self.work, "get-uris.txt")) as f, open(uris, "w") as g:
            for line in f:
                g.write(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:%d" % x.port, line))
        self.raw["settle_after_restart_s"] = x.settle(self.cfg["settle_timeout"])
        r = h2load("get-h2c-restart", H2LOAD_CLIENTS + ["-i", uris], self.out, self.cfg["seconds"], self.cfg["warmup"],
                   x.proc.pid)
        self.raw["api_get_h2c_restart"] = r
        log("GET /v1/executions/{id} h2c after restart: %.0f req/s, p99 %.2f ms" % (r["ok_per_s"], r.get("p99_ms", -1)))
        self.total_applied += x.readyz().get("applied", 0)
        stop(x.proc)

    def rebuild(self):
        """`execlogd rebuild` once it exists: detected from --help, then from its exit code."""
        helptext = subprocess.run([self.execlogd, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True).stdout
        if not re.search(r"^\s*(execlogd\s+)?rebuild\b", helptext, re.M) and "rebuild" not in helptext:
            self.raw["rebuild"] = dict(missing=True, why="`execlogd --help` does not mention rebuild")
            return
        t0 = now()
        p = subprocess.run([self.execlogd, "rebuild", "--data.dir=" + self.datadir, "--log.level=warn"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
        dt = now() - t0
        if p.returncode == 2 and "unexpected argument" in p.stdout:
            self.raw["rebuild"] = dict(missing=True, why="execlogd rejects the rebuild command")
            return
        self.raw["rebuild"] = dict(missing=False, seconds=dt, exit=p.returncode, output=p.stdout[-2000:],
                                   events=self.total_applied,
                                   seconds_per_million=dt / max(self.total_applied, 1) * 1e6)

    # ---- 6. memory and disk ---------------------------------------------------------------------
    def disk(self):
        b = du_bytes(self.datadir)
        self.raw["disk"] = dict(bytes=b, events=self.total_applied,
                                bytes_per_million=b / max(self.total_applied, 1) * 1e6)

    # ---- ceilings without execlogd running ---------------------------------------------------------
    def h2o_ceiling(self):
        """Debian's h2o server, its default threads, serving real answers of execlogd as static files
        (status, list page, lineage: each the size of its row's answer), with the same h2load settings."""
        cfg = self.cfg
        port = free_port()
        conf = os.path.join(self.static_root, "h2o.conf")
        with open(conf, "w") as f:
            f.write("listen:\n  host: 127.0.0.1\n  port: %d\n" % port)
            if os.geteuid() == 0:  # h2o drops root privileges for this user
                f.write("user: nobody\n")
            f.write("hosts:\n  default:\n    paths:\n      /:\n        file.dir: %s\n" % self.static_root)
        os.chmod(conf, 0o644)
        p = spawn([H2O_SERVER, "-c", conf], os.path.join(self.work, "h2o-static.log"))
        try:
            h = Http(port, timeout=2)
            body = b""
            for _ in range(500):
                try:
                    st, body = h.request("GET", "/status.json")
                    if st == 200:
                        break
                except (OSError, http.client.HTTPException):
                    h.close()
                    h = Http(port, timeout=2)
                    time.sleep(0.01)
            for name, size in self.static_bytes.items():
                st, got = h.request("GET", "/%s.json" % name)
                if st != 200 or len(got) != size:
                    raise RuntimeError("h2o serves %s.json as %s, %d bytes; the answer has %d" % (
                        name, st, len(got), size))
            h.close()
            self.raw["h2o_server"] = dict(binary=H2O_SERVER, version=subprocess.run(
                [H2O_SERVER, "--version"], stdout=subprocess.PIPE, text=True).stdout.splitlines()[0],
                threads="default (one per core)", files=dict(self.static_bytes))
            runs = [("status", "h2c", []), ("status", "h1", ["--h1"])]
            runs += [(name, "h2c", []) for name in self.static_bytes if name != "status"]
            for name, proto, extra in runs:
                key = "h2o_static_" + proto if name == "status" else "h2o_static_%s_%s" % (name, proto)
                url = "http://127.0.0.1:%d/%s.json" % (port, name)
                self.raw[key] = h2load("static-%s-%s" % (name, proto), H2LOAD_CLIENTS + extra + [url], self.out,
                                       cfg["seconds"], cfg["warmup"])
                log("h2o static %s (%d B) %s: %.0f req/s" % (name, self.static_bytes[name], proto,
                                                            self.raw[key]["ok_per_s"]))
        finally:
            stop(p)
            shutil.rmtree(self.static_root, ignore_errors=True)

    # ---- scaling: the same work with fewer or more threads ---------------------------------------------
    def build_settings(self):
        """The settings this execlogd has: the names its --help table lists."""
        text = subprocess.run([self.execlogd, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=30).stdout
        return set(re.findall(r"^\s+--([a-z][a-z0-9_.]*[a-z0-9_])\s", text, re.M))

    def lookups(self, x, tag):
        """GET /v1/executions/{id} h2c on the URIs of the main run, pointed at x."""
        uris = os.path.join(self.work, tag + "get-uris.txt")
        with open(os.path.join(self.work, "get-uris.txt")) as f, open(uris, "w") as g:
            for line in f:
                g.write(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:%d" % x.port, line))
        r = h2load(tag + "get-h2c", H2LOAD_CLIENTS + ["-i", uris], self.out, self.cfg["seconds"], self.cfg["warmup"],
                   x.proc.pid)
        self.raw[tag + "api_get_h2c"] = r
        log("%sGET /v1/executions/{id} h2c: %.0f req/s" % (tag, r["ok_per_s"]))

    def scaling_runs(self):
        """For each setting of SCALING that this build has, execlogd on the same data once per value."""
        have = self.build_settings()
        self.scaling = {}
        for setting, values, what in SCALING:
            if setting not in have:
                self.scaling[setting] = dict(available=False, what=what)
                log("scaling by %s (%s): not available in this build" % (setting, what))
                continue
            runs = {}
            for v in values:
                tag = "scale_%s_%s_" % (setting.replace(".", "_"), v or "default")
                x = Execlogd(self.execlogd, self.datadir, self.work, tag.rstrip("_"),
                             ["--%s=%s" % (setting, v)] if v is not None else [])
                x.start()
                try:
                    if setting == "http.threads":
                        self.lookups(x, tag)
                        self.single_ingest(x, "projected", tag)
                    else:
                        self.projector_bursts(x, tag)
                finally:
                    stop(x.proc)
                runs[v or "default"] = tag
            self.scaling[setting] = dict(available=True, what=what, runs=runs)

    def scaling_report(self):
        for setting, values, what in SCALING:
            sc = self.scaling.get(setting) or dict(available=False)
            key = "scale_" + setting.replace(".", "_")
            names = " vs ".join("%s=%s" % (setting, v or "default") for v in values)
            if not sc["available"]:
                self.na(key, "7. scaling: %s, %s" % (what, names), "not available in this build")
                continue
            runs = sc["runs"]
            base = runs[values[0]]  # the first value is the reference of the others
            if setting == "http.threads":
                figures = (("api_get_h2c", "GET /v1/executions/{id} h2c", "req/s"),
                           ("single_projected", "single-event ingest h2c (ack=projected)", "events/s"))
            else:
                figures = (("projector", "projector catch-up", "events/s"),)
            for fig, label, unit in figures:
                ref = self.raw.get(base + fig) or {}
                ref_v = ref.get("ok_per_s", ref.get("events_per_s"))
                for v in values:
                    r = self.raw.get(runs[v or "default"] + fig) or {}
                    val = r.get("ok_per_s", r.get("events_per_s"))
                    self.row("%s_%s_%s" % (key, fig, v or "default"), "7. %s, %s=%s" % (label, setting, v or "default"),
                             val, unit, ref_v if v != values[0] else None,
                             "%s=%s" % (setting, values[0]) if v != values[0] else None, kind="x")
                    X_KEYS.add("%s_%s_%s" % (key, fig, v or "default"))

    def rocksdb_ceiling(self):
        cfg = self.cfg
        for sync in (1, 0):
            d = os.path.join(self.work, "rocksdb-ceiling-%d" % sync)
            r = run_json([os.path.join(self.tools, "xl_bench_rocksdb"), "--dir", d, "--seconds", str(cfg["seconds"]),
                          "--sync", str(sync), "--batch", "1000", "--executions", str(cfg["rocksdb_executions"])],
                         cfg["seconds"] + 120)
            r["disk_bytes"] = du_bytes(d)
            r["bytes_per_million"] = r["disk_bytes"] / max(r["events"], 1) * 1e6
            shutil.rmtree(d, ignore_errors=True)
            self.raw["rocksdb_sync" if sync else "rocksdb_nosync"] = r
            log("raw RocksDB WriteBatch sync=%d: %.0f events/s" % (sync, r["events_per_s"]))

    # ---- the peer: PostgreSQL -------------------------------------------------------------------------
    def postgres(self):
        cfg = self.cfg
        pg = Postgres(self.work)
        try:
            pg.start()
            pg.psql(PG_SCHEMA)
            t0 = now()
            pg.psql(PG_PREFILL % {"n": cfg["pg_rows"]})
            pg.psql("VACUUM ANALYZE executions;")
            prefill = now() - t0
            scripts = {}
            for name, text in (("event", PG_EVENT_TX), ("lookup", PG_LOOKUP)):
                path = os.path.join(pg.dir, name + ".sql")
                with open(path, "w") as f:
                    f.write(text)
                os.chmod(path, 0o644)
                scripts[name] = path
            # the event transaction on executions that exist, spread like the h2load URIs
            self.raw["pg_event"] = pg.pgbench("event", scripts["event"], min(cfg["append_uris"], cfg["pg_rows"]),
                                              cfg["seconds"], self.out)
            self.raw["pg_lookup"] = pg.pgbench("lookup", scripts["lookup"], cfg["pg_rows"], cfg["seconds"], self.out)
            self.raw["pg_event"]["prefill_s"] = prefill
            self.raw["pg_settings"] = pg.settings()
            log("PostgreSQL: %.0f event tx/s, %.0f lookups/s" % (self.raw["pg_event"]["tps"],
                                                                 self.raw["pg_lookup"]["tps"]))
        finally:
            pg.stop()

    # ---- the table -------------------------------------------------------------------------------------
    def report(self):
        raw, cfg = self.raw, self.cfg
        st_h2c, st_h1 = raw["h2o_static_h2c"], raw["h2o_static_h1"]
        kc, rs, rn = raw["kafka_ceiling"], raw["rocksdb_sync"], raw["rocksdb_nosync"]
        pe, pl = raw["pg_event"], raw["pg_lookup"]

        # ceilings and peer first, as references
        self.row("ceil_h2o_h2c", "ceiling: h2o static file (%d B), h2c" % self.status_bytes, st_h2c["ok_per_s"], "req/s",
                 broker="none")
        self.row("ceil_h2o_h1", "ceiling: h2o static file (%d B), HTTP/1.1" % self.status_bytes, st_h1["ok_per_s"], "req/s",
                 broker="none")
        for name, what in (("list", "a 50-item list page"), ("lineage", "a lineage answer")):
            if "h2o_static_%s_h2c" % name in raw:
                self.row("ceil_h2o_%s_h2c" % name, "ceiling: h2o static file (%d B, %s), h2c" % (
                    self.static_bytes[name], what), raw["h2o_static_%s_h2c" % name]["ok_per_s"], "req/s",
                    broker="none")
        self.row("ceil_kafka", "ceiling: librdkafka idempotent acks=all (%.0f B Avro)" % kc["frame_bytes_avg"],
                 kc["events_per_s"], "events/s")
        self.row("ceil_rocksdb_sync", "ceiling: RocksDB WriteBatch, 3 puts/event, sync", rs["events_per_s"], "events/s",
                 broker="none")
        self.row("ceil_rocksdb_nosync", "ceiling: RocksDB WriteBatch, 3 puts/event, no sync", rn["events_per_s"],
                 "events/s", broker="none")
        self.row("peer_pg_event", "peer: PostgreSQL 15, 1 tx/event, sync commit (%d cl.)" % PG_CLIENTS, pe["tps"],
                 "events/s", broker="none")
        self.row("peer_pg_lookup", "peer: PostgreSQL 15, lookup by audit ID (%d cl.)" % PG_CLIENTS, pl["tps"], "req/s",
                 broker="none")

        # 1. single-event ingest
        sp, sd = raw["single_projected"], raw["single_delivered"]
        self.row("single_h2c_vs_static", "1. single-event ingest h2c (ack=projected)", sp["ok_per_s"], "events/s",
                 st_h2c["ok_per_s"], "h2o static h2c", (">=", 0.25))
        self.row("single_h2c_vs_pg", "1. single-event ingest h2c (ack=projected)", sp["ok_per_s"], "events/s",
                 pe["tps"], "PostgreSQL event tx", (">=", 5.0), kind="x")
        self.lat_row("single_h2c_lat", "1. single-event ingest h2c, p50 / p99", sp, pe)
        self.row("single_h2c_delivered", "1. single-event ingest h2c (ack=delivered)", sd["ok_per_s"], "events/s",
                 st_h2c["ok_per_s"], "h2o static h2c")
        self.lat_row("single_h2c_delivered_lat", "1. single-event ingest (delivered), p50 / p99", sd, None)
        # 2. batch ingest
        bd, bp, pre = raw["batch_delivered"], raw["batch_projected"], raw["preload"]
        self.row("batch_delivered", "2. batch ingest NDJSON x%d (ack=delivered)" % bd["lines_per_request"],
                 bd["events_per_s"], "events/s", kc["events_per_s"], "raw librdkafka", (">=", 0.25))
        self.row("batch_projected", "2. batch ingest NDJSON x%d (ack=projected)" % bp["lines_per_request"],
                 bp["events_per_s"], "events/s", rs["events_per_s"], "RocksDB sync", (">=", 0.60))
        self.row("batch_creates", "2. batch creates x%d (ack=projected), preload" % pre["lines_per_request"],
                 pre["events_per_s"], "events/s", kc["events_per_s"], "raw librdkafka")
        # 3. projector
        pj = raw["projector"]
        self.row("projector", "3. projector catch-up (burst of %d, first produced to last applied)" % cfg["burst"], pj["events_per_s"],
                 "events/s", rs["events_per_s"], "RocksDB sync", (">=", 0.60))
        for name, label in (("main", "ack=projected"), ("delivered", "ack=delivered")):
            lg = raw["log_" + name]
            self.row("lost_" + name, "3. events on the topic never projected (%s run)" % label,
                     lg["never_applied"], "events", None, None, ("<=", 0), kind="count",
                     note="%s on the topic, %d of %d partitions pruned" % (fmt_count(lg["high_sum"]),
                                                                          lg["partitions_pruned"], lg["partitions"]))
        lag = sd["lag"]
        keeps_up = lag.get("keeps_up")
        self.rows.append(dict(key="projector_lag", label="3. projector lag, full-speed single ingest (delivered)",
                              value=lag.get("max"), unit="events max",
                              note="end %s, trend %s ev/s" % (lag.get("end"), fmt_num(lag.get("slope"))),
                              target="lag bounded", result="PASS" if keeps_up else "MISS"))
        # 4. API
        gh, g1 = raw["api_get_h2c"], raw["api_get_h1"]
        self.row("get_h2c", "4. GET /v1/executions/{id} h2c, %s executions" % fmt_count(cfg["executions"]),
                 gh["ok_per_s"], "req/s", st_h2c["ok_per_s"], "h2o static h2c", (">=", 0.60))
        self.rows.append(dict(key="get_h2c_p99", label="4. GET /v1/executions/{id} h2c, p50 / p99",
                              value=gh.get("p99_ms"), unit="ms", value_text="%s / %s" % (
                                  fmt_num(gh.get("p50_ms")), fmt_num(gh.get("p99_ms"))),
                              ref=st_h2c.get("p99_ms"), ref_label="h2o static p99", ref_text="%s / %s" % (
                                  fmt_num(st_h2c.get("p50_ms")), fmt_num(st_h2c.get("p99_ms"))),
                              target="p99 <= 5 ms",
                              result="PASS" if gh.get("p99_ms") is not None and gh["p99_ms"] <= 5.0 else "MISS"))
        gr = raw["api_get_h2c_restart"]
        self.row("get_h2c_restart", "4. GET /v1/executions/{id} h2c, after restart", gr["ok_per_s"], "req/s",
                 st_h2c["ok_per_s"], "h2o static h2c", (">=", 0.60))
        self.rows.append(dict(key="get_h2c_restart_p99", label="4. GET h2c after restart, p50 / p99",
                              value=gr.get("p99_ms"), unit="ms", value_text="%s / %s" % (
                                  fmt_num(gr.get("p50_ms")), fmt_num(gr.get("p99_ms"))),
                              target="p99 <= 5 ms",
                              result="PASS" if gr.get("p99_ms") is not None and gr["p99_ms"] <= 5.0 else "MISS"))
        self.row("get_h1", "4. GET /v1/executions/{id} HTTP/1.1", g1["ok_per_s"], "req/s", st_h1["ok_per_s"],
                 "h2o static HTTP/1.1")
        self.lat_row("get_h1_lat", "4. GET /v1/executions/{id} HTTP/1.1, p50 / p99", g1, st_h1)
        self.row("get_h2c_vs_pg", "4. GET /v1/executions/{id} h2c", gh["ok_per_s"], "req/s", pl["tps"],
                 "PostgreSQL lookup", kind="x")
        for name, r in self.routes.items():
            ratio_min, p99_max = ROUTE_TARGETS.get(name, (None, None))
            if r["missing"]:
                self.na("route_" + name, "4. " + r["label"], "route missing")
            else:
                ceil = raw.get("h2o_static_%s_h2c" % name)  # a static file the size of this route's answer
                self.row("route_" + name, "4. " + r["label"] + " h2c", r["h2c"]["ok_per_s"], "req/s",
                         (ceil or st_h2c)["ok_per_s"], "h2o static %s h2c" % (name if ceil else "status"),
                         (">=", ratio_min) if ratio_min is not None else None)
                self.lat_row("route_%s_lat" % name, "4. " + r["label"] + ", p50 / p99", r["h2c"], None, p99_max)
        # 5. recovery
        rc = raw["recovery"]
        self.row("ready_after_kill", "5. ready (/readyz 200) after kill -9", rc["ready_s"], "s", None, None,
                 ("<=", 5.0), kind="abs")
        self.row("listening_after_kill", "5. serving HTTP (store open) after kill -9", rc["listening_s"], "s")
        self.row("assigned_after_kill", "5. projector partitions assigned after kill -9", rc["projector_assigned_s"],
                 "s")
        self.row("write_after_kill", "5. first acknowledged write after kill -9", rc["first_write_s"], "s")
        rb = raw["rebuild"]
        if rb.get("missing"):
            self.na("rebuild", "5. rebuild projections of 1M events", "command missing", target="<= 30 s")
        else:
            self.row("rebuild", "5. rebuild projections, per 1M events", rb["seconds_per_million"], "s", None, None,
                     ("<=", 30.0), kind="abs",
                     note="%s events in %.1f s, exit %s" % (fmt_count(rb["events"]), rb["seconds"], rb["exit"]))
        # 6. memory and disk
        self.row("peak_rss", "6. peak RSS (VmHWM), main run", (self.hwm_main or 0) / 2**20, "MiB")
        dk = raw["disk"]
        self.row("disk", "6. disk per million events (du data dir)", dk["bytes_per_million"] / 2**20, "MiB",
                 rs["bytes_per_million"] / 2**20, "raw RocksDB", kind="x",
                 note="%s events, %.0f MiB" % (fmt_count(dk["events"]), dk["bytes"] / 2**20))
        # 7. scaling by threads, where this build has the settings
        self.scaling_report()
        # every other figure of this table comes from execlogd (or the raw producer) on the embedded broker
        for r in self.rows:
            r["section"] = "embedded"
            if r.get("broker") is None:
                r["broker"] = "embedded"
        if self.cluster is not None:
            self.cluster_report()

        self.write_results()
        self.print_table()
        self.chart()

    def cluster_report(self):
        """The second table: ingest on the real cluster, beside the raw producer to the same cluster."""
        raw, c = self.raw, self.cluster
        brokers = c.get("brokers") or len(c["broker_pids"])
        c["label"] = b = "kafka-%s x%d" % (c["version"] or "?", brokers)
        first = len(self.rows)
        kc = raw["cluster_kafka_ceiling"]

        def cores(r):
            sc, wq = r.get("server_cores", {}), r.get("server_run_queue_wait", {})
            return "execlogd %.2f cores, main loop %.2f + %.2f waiting for a CPU; brokers %.2f cores" % (
                sum(sc.values()), sc.get("main loop", 0), wq.get("main loop", 0), r.get("broker_cores", 0))

        self.row("cluster_ceil_kafka", "ceiling: librdkafka idempotent acks=all (%.0f B Avro), %d part. RF %d" % (
            kc["frame_bytes_avg"], kc["partitions"], kc["replicas"]), kc["events_per_s"], "events/s", broker=b,
            note="brokers %.2f cores" % kc.get("broker_cores", 0))
        sd, sp = raw["cluster_single_delivered"], raw["cluster_single_projected"]
        esd, esp = raw["single_delivered"], raw["single_projected"]
        self.row("cluster_single_delivered", "1. single-event ingest h2c (ack=delivered)", sd["ok_per_s"], "events/s",
                 esd["ok_per_s"], "same, embedded broker", broker=b, note=cores(sd))
        self.lat_row("cluster_single_delivered_lat", "1. single-event ingest (delivered), p50 / p99", sd, esd)
        self.row("cluster_single_projected", "1. single-event ingest h2c (ack=projected)", sp["ok_per_s"], "events/s",
                 esp["ok_per_s"], "same, embedded broker", broker=b, note=cores(sp))
        self.lat_row("cluster_single_projected_lat", "1. single-event ingest (projected), p50 / p99", sp, esp)
        bd, bp, pre = raw["cluster_batch_delivered"], raw["cluster_batch_projected"], raw["cluster_preload"]
        self.row("cluster_batch_delivered", "2. batch ingest NDJSON x%d (ack=delivered)" % bd["lines_per_request"],
                 bd["events_per_s"], "events/s", kc["events_per_s"], "raw librdkafka", (">=", 0.25), broker=b,
                 note=cores(bd))
        self.lat_row("cluster_batch_delivered_lat", "2. batch ingest (delivered), p50 / p99 per request", bd, None)
        self.row("cluster_batch_projected", "2. batch ingest NDJSON x%d (ack=projected)" % bp["lines_per_request"],
                 bp["events_per_s"], "events/s", kc["events_per_s"], "raw librdkafka", broker=b, note=cores(bp))
        self.row("cluster_batch_creates", "2. batch creates x%d (ack=projected), preload of %s" % (
            pre["lines_per_request"], fmt_count(pre["executions"])), pre["events_per_s"], "events/s",
            kc["events_per_s"], "raw librdkafka", broker=b)
        for name, label in (("projected", "ack=projected run"), ("delivered", "after the ack=delivered run")):
            lg = raw["cluster_log_" + name]
            self.row("cluster_lost_" + name, "3. events on the topic never projected (%s)" % label,
                     lg["never_applied"], "events", None, None, ("<=", 0), kind="count", broker=b,
                     note="%s on the topic, %d of %d partitions pruned" % (fmt_count(lg["high_sum"]),
                                                                          lg["partitions_pruned"], lg["partitions"]))
        lag = sd["lag"]
        self.rows.append(dict(key="cluster_projector_lag", label="3. projector lag, full-speed single ingest (delivered)",
                              broker=b, value=lag.get("max"), unit="events max",
                              note="end %s, trend %s ev/s" % (lag.get("end"), fmt_num(lag.get("slope"))),
                              target="lag bounded", result="PASS" if lag.get("keeps_up") else "MISS"))
        for r in self.rows[first:]:
            r["section"] = "cluster"
            r.setdefault("broker", b)

    def lat_row(self, key, label, r, ref, p99_max=None):
        """p50 / p99 of a run (next to ref's); p99_max: the target on p99, in ms."""
        row = dict(key=key, label=label, value=r.get("p99_ms"), unit="ms",
                   value_text="%s / %s" % (fmt_num(r.get("p50_ms")), fmt_num(r.get("p99_ms"))),
                   ref=ref.get("p99_ms") if ref else None,
                   ref_text=("%s / %s" % (fmt_num(ref.get("p50_ms")), fmt_num(ref.get("p99_ms")))) if ref
                   else None, ref_label="p50 / p99" if ref else None)
        if p99_max is not None:
            row["target"] = "p99 <= %s ms" % fmt_num(p99_max)
            row["result"] = "PASS" if r.get("p99_ms") is not None and r["p99_ms"] <= p99_max else "MISS"
        self.rows.append(row)

    def profile_lines(self):
        """The profiles of the run (--profile): for each measurement, where execlogd's samples went."""
        found = []

        def walk(key, v):
            if isinstance(v, dict):
                if isinstance(v.get("profile"), dict):
                    found.append((key, v["profile"]))
                for k, w in v.items():
                    if k != "profile":
                        walk(k if key is None else "%s/%s" % (key, k), w)
            elif isinstance(v, list):
                for i, w in enumerate(v):
                    walk("%s/%d" % (key, i + 1), w)
        walk(None, self.raw)
        walk("routes", {k: r.get("h2c") for k, r in getattr(self, "routes", {}).items()})
        if not found:
            return []
        lines = ["", "profiles (perf record -F %d -g on execlogd; share of its samples; reports in %s):" % (
            Profiler.PERF_HZ, Profiler.DIR)]
        for key, prof in found:
            lines.append("  " + key)
            if prof.get("error"):
                lines.append("    " + prof["error"])
                continue
            for what in ("dso", "thread", "symbol"):
                top = prof.get(what, [])[:6 if what != "symbol" else 5]
                lines.append("    %-7s %s" % (what, ", ".join("%s %.0f%%" % (n, s) for s, n in top) or "no samples"))
        return lines

    def write_results(self):
        doc = dict(mode=self.args.mode, date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   machine=machine(), settings=dict(self.cfg, h2load=H2LOAD_CLIENTS, batch_h2load=BATCH_CLIENTS,
                                                    pg_clients=PG_CLIENTS),
                   wall_s=dict(harness=now() - self.t_start,
                               total=time.time() - self.args.started if self.args.started else None),
                   rows=self.rows, raw=self.raw, routes=getattr(self, "routes", {}), cluster=self.cluster,
                   foreign_cpu=[dict(window=l, seconds=t1 - t0, cores_used_by_others=FOREIGN.cpu_between(t0, t1)
                                     if FOREIGN else None) for l, t0, t1 in WINDOWS],
                   loadavg=dict(start=getattr(self, "loadavg_start", None), end=loadavg()))
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(doc, f, indent=1, default=str)

    def print_table(self):
        hdr = ("measurement", "broker", "value", "unit", "vs", "reference", "ratio", "target", "result")
        sections = {}
        for r in self.rows:
            if r.get("na"):
                line = (r["label"], r.get("broker", "embedded"), "n/a (%s)" % r["na"], "", "", "", "",
                        r.get("target", ""), r.get("result", ""))
            else:
                val = r.get("value_text") or fmt_num(r["value"])
                ref = r.get("ref_text") or (fmt_num(r["ref"]) if r.get("ref") is not None else "")
                ratio = ""
                if r.get("ratio") is not None and not r.get("value_text"):
                    ratio = ("%.2fx" % r["ratio"]) if r["key"] in X_KEYS else ("%.0f%%" % (100 * r["ratio"]))
                line = (r["label"], r.get("broker", ""), val, r.get("unit", ""), r.get("ref_label") or "", ref, ratio,
                        r.get("target", ""),
                        r.get("result", "") + ((" (" + r["note"] + ")") if r.get("note") else ""))
            sections.setdefault(r.get("section", "embedded"), []).append(line)
        alllines = [x for v in sections.values() for x in v]
        widths = [max(len(str(x[i])) for x in alllines + [hdr]) for i in range(len(hdr))]
        out = []
        fmt = "  ".join("%%-%ds" if i in (0, 1, 3, 4, 7, 8) else "%%%ds" for i in range(len(hdr)))
        fmt = fmt % tuple(widths)
        for name, lines in sections.items():
            if name == "cluster":
                c = self.cluster
                out.append("")
                out.append("real cluster: %s at %s; execlogd's topic %s and the raw producer's %s, each %d partitions, "
                           "replication factor %d; %s executions; load average %s at the start of this part, %s at its "
                           "end" % (c["label"], c["bootstrap"], c["topic"], c["ceiling_topic"], c["partitions"],
                                    c["replication_factor"], fmt_count(self.cfg["cluster_executions"]),
                                    " ".join(c["loadavg_start"] or []), " ".join(c.get("loadavg_end") or [])))
            out.append(fmt % hdr)
            out.append("  ".join("-" * w for w in widths))
            for x in lines:
                out.append(fmt % x)
        tot = time.time() - self.args.started if self.args.started else now() - self.t_start
        out.append("")
        out.append("mode %s, %s s per measurement after %s s warm-up; h2load %s; total wall time %.0f s" % (
            self.args.mode, self.cfg["seconds"], self.cfg["warmup"], " ".join(H2LOAD_CLIENTS), tot))
        busy = [(l, FOREIGN.cpu_between(t0, t1)) for l, t0, t1 in WINDOWS] if FOREIGN else []
        busy = [(l, c) for l, c in busy if c is not None and c > 0.1]
        if busy:
            out.append("WARNING: other processes used CPU during %d measurement(s), up to %.2f cores (%s): "
                       "those figures are low" % (len(busy), max(c for _, c in busy),
                                                  ", ".join(l for l, _ in busy[:6])))
        else:
            out.append("no other process used more than 0.1 core during the measurements")
        if self.cluster is not None:
            c = self.cluster
            out.append("the Kafka brokers' CPU during the cluster measurements is part of what is measured (in the "
                       "notes and results.json), not other load")
            if c.get("brokers_restarted") or (c.get("brokers_in_metadata") or 3) < 3:
                out.append("WARNING: the cluster was not whole during its measurements (broker pids %s at the start, "
                           "%s at the end; %s brokers in the metadata): another user's fault test? those figures "
                           "are not a throughput" % (c["broker_pids"], c.get("broker_pids_end"),
                                                     c.get("brokers_in_metadata")))
        out.extend(self.profile_lines())
        out.append("results: %s" % os.path.join(self.out, "results.json"))
        out.append("chart:   %s" % os.path.join(self.out, "chart.png"))
        text = "\n".join(out)
        print(text, flush=True)
        with open(os.path.join(self.out, "table.txt"), "w") as f:
            f.write(text + "\n")

    def chart(self):
        if shutil.which("gnuplot") is None:
            log("gnuplot missing: no chart")
            return
        dat = os.path.join(self.out, "chart.dat")
        with open(dat, "w") as f:
            for r in self.rows:
                if r.get("ratio") is not None and r.get("unit") in ("events/s", "req/s") and r.get("ref"):
                    label = re.sub(r"^\d+\. ", "", r["label"]).replace("(", "").replace(")", "").replace("\"", "")
                    if r.get("section") == "cluster":
                        label = "kafka x%s: %s" % ((self.cluster.get("brokers") or "?"), label[:32])
                    ratio = ("%.2fx" % r["ratio"]) if r["key"] in X_KEYS else ("%.0f%%" % (100 * r["ratio"]))
                    f.write("\"%s\\nvs %s: %s\" %f %f\n" % (label[:42], r.get("ref_label", ""), ratio,
                                                             r["value"], r["ref"]))
        gp = os.path.join(self.out, "chart.gp")
        with open(gp, "w") as f:
            f.write(CHART_GP % dict(png=os.path.join(self.out, "chart.png"), dat=dat, mode=self.args.mode))
        p = subprocess.run(["gnuplot", gp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            log("gnuplot failed: " + p.stdout[-500:])

    def smoke_check(self):
        """Every measurement that exists produced a number; missing routes count as n/a."""
        bad = [r["label"] for r in self.rows if not r.get("na") and (r.get("value") is None or
                                                                      not isinstance(r["value"], (int, float)) or
                                                                      r["value"] != r["value"] or
                                                                      (r.get("unit") in ("events/s", "req/s") and
                                                                       r["value"] <= 0))]
        if not os.path.exists(os.path.join(self.out, "chart.png")):
            bad.append("chart.png not written")
        return bad


X_KEYS = {"single_h2c_vs_pg", "get_h2c_vs_pg", "disk"}


def fmt_target(thr, kind):
    if kind == "count":
        return "%g" % thr
    if kind == "abs":
        return "%g s" % thr
    if kind == "x":
        return "%gx" % thr
    return "%g%%" % (thr * 100)


def fmt_num(v):
    if v is None:
        return "-"
    if isinstance(v, int):
        return "{:,}".format(v)
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def fmt_count(n):
    return "%gM" % (n / 1e6) if n >= 1e6 else ("%gk" % (n / 1e3) if n >= 1e3 else str(n))


def lag_stats(samples, t_from, t_to, ingest_rate):
    """Max, end and linear trend (events/s) of the projector lag over the measured window."""
    pts = [(t, lag) for t, _, lag in samples if t_from <= t <= t_to and lag is not None and lag >= 0]
    if not pts:
        pts = [(t, lag) for t, _, lag in samples if lag is not None and lag >= 0]
    if not pts:
        return dict(samples=0)
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    ml = sum(l for _, l in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    slope = sum((t - mt) * (l - ml) for t, l in pts) / var if var > 0 else 0.0
    mx = max(l for _, l in pts)
    # bounded: the lag does not grow over the window, i.e. the projector
    # applies at least 95% of the ingest rate (or the lag never reaches 1000)
    keeps_up = mx < 1000 or slope <= 0.05 * max(ingest_rate, 1.0)
    return dict(samples=n, max=mx, mean=ml, end=pts[-1][1], slope=slope, keeps_up=keeps_up,
                ingest_rate=ingest_rate)


def run_json(argv, timeout):
    t0 = now()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    window(" ".join(os.path.basename(a) for a in argv[:1] + argv[-4:]), t0, now())
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError("%s failed (%d): %s" % (os.path.basename(argv[0]), p.returncode, p.stderr[-1000:]))
    r["exit"] = p.returncode
    # the tool's own CPU (user + system, all its threads), for the ceilings
    r["tool_cores"] = round((ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime) / max(now() - t0, 1e-3), 2)
    return r


def applied_offsets(x):
    """Sum over partitions of the next offset the projection made durable (execlogd's /metrics)."""
    st, body = x.http.request("GET", "/metrics")
    if st != 200:
        return 0
    return sum(int(float(m)) for m in re.findall(rb"^execlog_projector_applied_offset\{[^}]*\} (\S+)$", body, re.M))


def broker_pids():
    """Pids of the running nodes of the local cluster (ops/kafka/kafka.sh status, which follows XL_KAFKA_DIR),
    for their CPU, and the number of brokers its metadata lists."""
    try:
        p = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kafka", "kafka.sh"),
                            "status"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return [], None
    m = re.search(r"^metadata: (\d+) broker", p.stdout, re.M)
    return ([int(x) for x in re.findall(r"^node \d+\s+running\s+pid (\d+)", p.stdout, re.M)],
            int(m.group(1)) if m else None)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return None


def machine():
    m = dict(cpus=os.cpu_count())
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    m["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            m["mem_kib"] = int(f.readline().split()[1])
        m["kernel"] = os.uname().release
    except OSError:
        pass
    return m


# ---- PostgreSQL ------------------------------------------------------------------------------

PG_SCHEMA = """
CREATE TABLE executions (
  audit_id bigint PRIMARY KEY, root_audit_id bigint NOT NULL, parent_audit_id bigint,
  parent_execution_id bigint, retries integer NOT NULL DEFAULT 0,
  flow_id text NOT NULL, flow_name text, tenant_id text, message_id text, status text NOT NULL,
  trigger_type text, started_by text, created bigint NOT NULL, started bigint, ended bigint,
  updated bigint NOT NULL, events integer NOT NULL, anomalies integer NOT NULL DEFAULT 0,
  message text, metrics jsonb NOT NULL DEFAULT '{}', attributes jsonb NOT NULL DEFAULT '{}');
-- the archive (audit_id, seq) and the idempotency key (audit_id, event_id), as the projector keeps them
CREATE TABLE events (
  audit_id bigint NOT NULL, seq integer NOT NULL, event_id uuid NOT NULL, type text NOT NULL,
  time bigint NOT NULL, ingest_time bigint NOT NULL, body jsonb NOT NULL,
  PRIMARY KEY (audit_id, seq), UNIQUE (audit_id, event_id));
"""

PG_PREFILL = """
INSERT INTO executions (audit_id, root_audit_id, flow_id, flow_name, tenant_id, status, trigger_type, started_by,
                        created, updated, events)
SELECT g, g, 'bench-f' || (g %% 100), 'Bench flow ' || (g %% 100), 'bench', 'queued', 'schedule', 'bench',
       1795000000000, 1795000000000, 1
FROM generate_series(1, %(n)d) g;
"""

# One event: the state upsert and the archived event in ONE transaction.
PG_EVENT_TX = r"""\set aid random(1, :nexec)
BEGIN;
INSERT INTO executions AS x (audit_id, root_audit_id, flow_id, status, created, updated, events, metrics)
  VALUES (:aid, :aid, 'bench-f0', 'running', 0, (extract(epoch from clock_timestamp()) * 1000)::bigint, 1, '{"rows": 1}')
  ON CONFLICT (audit_id) DO UPDATE SET status = 'running', started = coalesce(x.started, EXCLUDED.updated),
    updated = EXCLUDED.updated, events = x.events + 1, metrics = x.metrics || EXCLUDED.metrics
  RETURNING events AS seq \gset
INSERT INTO events (audit_id, seq, event_id, type, time, ingest_time, body)
  VALUES (:aid, :seq, gen_random_uuid(), 'progress', (extract(epoch from clock_timestamp()) * 1000)::bigint,
          (extract(epoch from clock_timestamp()) * 1000)::bigint, '{"type": "progress", "metrics": {"rows": 1}}');
END;
"""

PG_LOOKUP = r"""\set aid random(1, :nexec)
SELECT * FROM executions WHERE audit_id = :aid;
"""


class Postgres:
    """A private PostgreSQL cluster in a temporary directory, on 127.0.0.1 only."""

    def __init__(self, work):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("PostgreSQL not installed (apt package postgresql)")
        self.bin = os.path.dirname(bins[-1])
        self.root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="xlbench-pg.")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.started = False
        if self.root:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def as_owner(self, argv):
        return (["runuser", "-u", "postgres", "--"] + argv) if self.root else argv

    def run(self, argv, **kw):
        p = subprocess.run(self.as_owner(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s" % (argv[0], p.stdout[-1500:]))
        return p.stdout

    def start(self):
        data = os.path.join(self.dir, "data")
        self.run([os.path.join(self.bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-instructions"])
        opts = ("-c listen_addresses=127.0.0.1 -p %d -k %s -c synchronous_commit=on -c fsync=on "
                "-c full_page_writes=on -c shared_buffers=512MB -c max_connections=100" % (self.port, self.dir))
        self.run([os.path.join(self.bin, "pg_ctl"), "-D", data, "-l", os.path.join(self.dir, "log"), "-w",
                  "-t", "60", "-o", opts, "start"])
        self.started = True
        try:
            with open(os.path.join(data, "postmaster.pid")) as f:
                if FOREIGN is not None:
                    FOREIGN.mine_roots.add(int(f.readline()))
        except (OSError, ValueError):
            pass

    def psql(self, sql):
        return self.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                         "-U", "postgres", "-d", "postgres", "-c", sql])

    def settings(self):
        out = self.run(["psql", "-At", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                        "-c", "SELECT name || '=' || setting FROM pg_settings WHERE name IN "
                              "('synchronous_commit','fsync','wal_sync_method','shared_buffers','server_version')"])
        return out.splitlines()

    def pgbench(self, name, script, nexec, seconds, outdir):
        prefix = os.path.join(self.dir, "pgbench-" + name)
        argv = ["pgbench", "-n", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-M", "prepared",
                "-c", str(PG_CLIENTS), "-j", "1", "-T", str(int(max(2, seconds))), "-D", "nexec=%d" % nexec,
                "-f", script, "-l", "--log-prefix=" + prefix, "postgres"]
        t0 = now()
        p = subprocess.run(self.as_owner(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=seconds + 120, cwd=self.dir)
        window("pgbench " + name, t0, now())
        with open(os.path.join(outdir, "pgbench-%s.out" % name), "w") as f:
            f.write(" ".join(argv) + "\n\n" + p.stdout)
        m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", p.stdout)
        if p.returncode != 0 or not m:
            raise RuntimeError("pgbench %s failed: %s" % (name, p.stdout[-1500:]))
        r = dict(tps=float(m.group(1)), clients=PG_CLIENTS, seconds=seconds)
        m = re.search(r"number of failed transactions: (\d+)", p.stdout)
        r["failed"] = int(m.group(1)) if m else None
        lat = []
        for path in glob.glob(prefix + ".*"):
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3:
                        lat.append(int(parts[2]))
        lat.sort()
        if lat:
            r["p50_ms"], r["p99_ms"] = percentile(lat, 50) / 1000.0, percentile(lat, 99) / 1000.0
        return r

    def stop(self):
        if self.started:
            subprocess.run(self.as_owner([os.path.join(self.bin, "pg_ctl"), "-D", os.path.join(self.dir, "data"),
                                          "-m", "immediate", "-w", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


CHART_GP = r"""
set terminal pngcairo size 1400,800 noenhanced font ",10"
set output "%(png)s"
set title "execlog bench (%(mode)s): each figure next to its ceiling or peer"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y
set ylabel "per second (log scale)"
set xtics rotate by -30 left
set key top right
set grid ytics
set bmargin 11
set rmargin 16
set yrange [100:*]
plot "%(dat)s" using 2:xtic(1) title "execlog", "" using 3 title "ceiling / peer"
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--mode", choices=sorted(MODES), default="full")
    # the binary comes from the environment so that the driver's command line
    # does not contain "execlogd" (a `pkill -f execlogd` elsewhere would hit it)
    ap.add_argument("--server", default=os.environ.get("XL_BENCH_SERVER"),
                    help="path of the execlogd binary (default: $XL_BENCH_SERVER)")
    ap.add_argument("--tools", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--started", type=float, default=0, help="epoch seconds the whole run started (for the wall time)")
    ap.add_argument("--kafka", default=None,
                    help="bootstrap list of a real Kafka cluster: also measure ingest on it (a second table)")
    ap.add_argument("--kafka-version", default=None, help="the cluster's Kafka version, for the broker label")
    ap.add_argument("--profile", action="store_true",
                    help="record a perf profile of execlogd during each measurement (OUT/profiles/, and a summary "
                         "under the table)")
    args = ap.parse_args()
    if args.profile:
        if shutil.which("perf") is None:
            sys.exit("bench: --profile needs perf (apt package linux-perf)")
        Profiler.DIR = os.path.join(os.path.abspath(args.out), "profiles")
    if not args.server:
        sys.exit("bench: set XL_BENCH_SERVER (or --server) to the execlogd binary")
    for tool in ("h2load", "pgbench", "psql"):
        if shutil.which(tool) is None:
            sys.exit("bench: %s missing (apt packages nghttp2-client, postgresql)" % tool)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    global FOREIGN
    FOREIGN = ForeignCpu()
    FOREIGN.start()
    b = Bench(args)
    try:
        b.run()
    except Exception as e:  # noqa: BLE001 - a failed run still leaves what it measured
        log("FAILED: %s" % e)
        b.write_results()
        cleanup()
        raise
    finally:
        cleanup()
        b.cluster_cleanup()
    if args.mode == "smoke":
        bad = b.smoke_check()
        if bad:
            log("smoke: no number for: " + "; ".join(bad))
            sys.exit(1)
        log("smoke: every measurement produced a number")


if __name__ == "__main__":
    main()
