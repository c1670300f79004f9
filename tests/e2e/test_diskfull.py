#!/usr/bin/python3
"""
End-to-end test of a full disk (issue 8, item 4): the real execlogd with its data directory on a small tmpfs.

While serving, the disk fills under a load of writes: the writes then fail with 503 problem+json (never a crash),
/readyz answers 503 naming the store error, the stalled metric is 1 and the lag counts the unprojected events;
once space is freed the projector resumes by itself within a bound, every acknowledged write is readable and new
writes succeed. The same on a replica reading the node's log: in the end it has every acknowledged execution,
once. At start-up, a full disk ends execlogd with exit status 1 and a log line naming the directory and
the free space (no abort, no core); a later start with room works on the same data directory.

Needs root (it mounts tmpfs file systems); without it, or when mount fails, it prints why and exits 77 (skipped).

Usage: test_diskfull.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check, what it measured, and "N passed, N failed"; exits 1 on any failure (and prints
the execlogd logs then).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402
from test_write_path import Checks, is_int  # noqa: E402

SKIP = 77  # ctest SKIP_RETURN_CODE
HTTPS = ("1.1", "h2c")
TMPFS_MB = 200  # RocksDB preallocates ~70 MiB of WAL; the store needs 64 MiB free to open and to write
LEFT_MB = 4  # free space the filler leaves while serving
ROOMY_BATCHES = 5  # batches written before the disk fills
INGEST_TIMEOUT_MS = 3000  # ingest.timeout.ms: how long a write waits for its projection before 503
WAIT_MAX_MS = 2000  # read.wait.max.ms: how long a read waits for its min_position before 504
BATCH_LINES = 100
MESSAGE_BYTES = 2000
FILL_BOUND = 120.0  # seconds for the load to fill the disk
RECOVER_BOUND = 30.0  # seconds from freeing space to /readyz 200 (RocksDB checks every 5 s, our retry waits <= 5 s)
FULL_START_TMPFS_KB = 2048
FULL_START_LEFT_KB = 16
METRIC_RE = r"^%s(?:\{[^}]*\})? (\S+)$"


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def mount_tmpfs(where, size):
    """Mount a tmpfs of size (mount's syntax: 2m, 2048k) on where. Returns None or why it failed."""
    os.makedirs(where, exist_ok=True)
    cp = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", where], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, timeout=30)
    return None if cp.returncode == 0 else (cp.stderr.decode().strip() or "mount exited %d" % cp.returncode)


def umount(where):
    subprocess.run(["umount", "-l", where], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


def fill(path, leave):
    """A filler file at path taking all the free space of its file system but `leave` bytes. Returns its size."""
    size = free_bytes(os.path.dirname(path)) - leave
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)
    return size


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.setup(args, Checks())
        self.mounts = []
        self.acked = {}  # audit_id -> event_id of every create answered 201
        self.seq = 0

    # ---- helpers ---------------------------------------------------------------------

    def metric(self, name, srv=None):
        """The value of a metric without labels (or the first one) on srv, else the node; None if absent."""
        r = (srv or self.srv).curl("GET", "/metrics")
        if r.status != 200:
            return None
        m = re.search(METRIC_RE % re.escape(name), r.raw.decode("utf-8", "replace"), re.M)
        return float(m.group(1)) if m else None

    def wait_for(self, cond, bound, step=0.2):
        """Poll cond() until it returns a true value or bound seconds pass; returns (value, seconds)."""
        t0 = time.monotonic()
        while True:
            v = cond()
            if v or time.monotonic() - t0 >= bound:
                return v, time.monotonic() - t0
            time.sleep(step)

    def batch(self, n, flow=None):
        """One NDJSON batch of n creates (of flow) with a big message each; returns the Response."""
        lines = []
        for _ in range(n):
            self.seq += 1
            lines.append(json.dumps({"flow_id": flow or "diskfull-" + self.uniq,
                                     "event_id": "df-%s-%d" % (self.uniq, self.seq),
                                     "message": ("m%d " % self.seq) + "x" * MESSAGE_BYTES}))
        return self.srv.curl("POST", "/v1/events", "\n".join(lines) + "\n",
                             headers={"content-type": "application/x-ndjson"}, timeout=30)

    def unavailable(self, r, what):
        """A write the full disk stops: 503 (or 500) problem+json, never a crash."""
        self.c.ok(r.status in (500, 503), "%s: 503 or 500" % what, repr(r))
        self.c.eq(r.content_type, "application/problem+json", "%s: content-type" % what)
        if r.status == 503:
            self.c.eq(r.header("retry-after"), "1", "%s: Retry-After" % what)

    def listed(self, flow, srv=None):
        """Audit IDs of every execution of flow (on srv, else the node), walking the list's pages."""
        ids, token = [], None
        for _ in range(100):
            path = "/v1/executions?flow_id=%s&limit=1000" % flow + ("&page_token=%s" % token if token else "")
            r = (srv or self.srv).curl("GET", path)
            if not self.c.json_answer(r, 200, "list %s" % flow):
                break
            ids += [x.get("audit_id") for x in r.json.get("items") or []]
            token = r.json.get("next_page_token")
            if not token:
                break
        return ids

    # ---- sections --------------------------------------------------------------------

    def t_fill(self):
        """The disk fills while serving: writes fail cleanly, the stall is visible."""
        r = self.srv.curl("GET", "/readyz")
        self.c.json_answer(r, 200, "readyz before the disk fills")
        self.c.eq(self.metric("execlog_projector_stalled"), 0.0, "stalled metric before the disk fills")
        # writes while there is room, then the disk fills (another tenant of the disk, say) and the load goes on
        for i in range(ROOMY_BATCHES):
            r = self.batch(BATCH_LINES)
            if self.c.json_answer(r, 200, "batch %d with room" % i):
                res = r.json.get("results") or []
                self.c.eq([x.get("code") for x in res], [201] * BATCH_LINES, "batch %d with room: every line 201" % i)
                self.acked.update({x["audit_id"]: x.get("event_id") for x in res if x.get("code") == 201})
        size = fill(self.filler, LEFT_MB << 20)
        print("  filler: %.1f MiB, %.1f MiB left free on the tmpfs" % (size / 2.0 ** 20,
                                                                        free_bytes(self.mnt) / 2.0 ** 20))
        t0 = time.monotonic()
        batches = refused = 0
        answers = {}
        while time.monotonic() - t0 < FILL_BOUND:
            r = self.batch(BATCH_LINES)
            batches += 1
            if r.status != 200:
                self.unavailable(r, "batch %d" % batches)
                refused = BATCH_LINES
                break
            for res in (r.json or {}).get("results") or []:
                code = res.get("code")
                answers[code] = answers.get(code, 0) + 1
                if code == 201 and is_int(res.get("audit_id")):
                    self.acked[res["audit_id"]] = res.get("event_id")
                elif code != 201:
                    refused += 1
                    p = res.get("problem") or {}
                    self.c.ok(code in (500, 503) and p.get("status") == code and isinstance(p.get("type"), str),
                              "batch %d line %s: a 503 or 500 problem" % (batches, res.get("line")), repr(res))
            if refused:
                break
        print("  load: %d batches of %d creates in %.1f s; line codes %r; %d acknowledged, %.0f KiB left" %
              (batches, BATCH_LINES, time.monotonic() - t0, answers, len(self.acked), free_bytes(self.mnt) / 1024.0))
        if not self.c.ok(refused > 0, "the load filled the disk within %.0f s (writes refused)" % FILL_BOUND):
            return
        self.c.ok(self.srv.alive(), "execlogd still runs with a full disk")

        # the stall is visible: /readyz names it, the metrics show it and the lag counts what is unprojected
        def stalled():
            r = self.srv.curl("GET", "/readyz")
            return r if r.status == 503 and "store write failing" in str((r.json or {}).get("reason")) else None
        r, dt = self.wait_for(stalled, 10)
        if self.c.ok(r is not None, "readyz says the store write fails within 10 s", repr(r)):
            j = r.json
            print("  readyz after %.1f s: 503 %s" % (dt, json.dumps(j)))
            self.c.eq(j.get("status"), "not ready", "readyz: status")
            self.c.ok(j.get("reason", "").startswith("projector: store write failing: ") and
                      "no space left on device" in j.get("reason", "").lower(),
                      "readyz: the reason names the store error", repr(j.get("reason")))
            self.c.eq(j.get("projector_stalled"), True, "readyz: projector_stalled")
            self.c.eq(r.header("retry-after"), "1", "readyz: Retry-After")
        self.c.eq(self.metric("execlog_projector_stalled"), 1.0, "stalled metric while the disk is full")
        lag0 = self.metric("execlog_consumer_lag")
        self.c.ok(lag0 is not None and lag0 > 0, "lag metric > 0 while the disk is full", repr(lag0))
        # a write now waits ingest.timeout.ms and is answered 503; it is in the log, unprojected: the lag grows
        for http in HTTPS:
            t = time.monotonic()
            r = self.srv.curl("POST", "/v1/executions", {"flow_id": "diskfull-late-" + self.uniq}, http=http)
            dt = time.monotonic() - t
            self.unavailable(r, "create while the disk is full (%s)" % http)
            print("  create while full (%s): %d after %.1f s" % (http, r.status, dt))
            self.c.ok(dt < INGEST_TIMEOUT_MS / 1000.0 + 3, "create while full (%s): answered within "
                      "ingest.timeout.ms + 3 s" % http, "%.1f s" % dt)
        lag1, dt = self.wait_for(lambda: (lambda v: v if v is not None and v >= lag0 + 2 else None)(
            self.metric("execlog_consumer_lag")), 5)
        print("  lag while full: %r, then %r after 2 more writes (%.1f s)" % (lag0, lag1, dt))
        self.c.ok(lag1 is not None, "lag metric grows by the writes made while the disk is full",
                  "%r then %r" % (lag0, self.metric("execlog_consumer_lag")))
        # reads go on: what was projected before the disk filled is served
        for http in HTTPS:
            r = self.srv.curl("GET", "/v1/executions/%d" % max(self.acked), http=http)
            if self.c.json_answer(r, 200, "GET an acknowledged execution while the disk is full (%s)" % http):
                self.c.eq(r.json.get("status"), "queued", "GET while full (%s): status" % http)
        # a position in the log but not projected: the read waits read.wait.max.ms, then 504 (not 400: it exists)
        text = self.srv.curl("GET", "/metrics").raw.decode("utf-8", "replace")
        behind = {int(p): float(v) for p, v in
                  re.findall(r'^execlog_consumer_partition_lag\{partition="(\d+)"\} (\S+)$', text, re.M)}
        ends = self.srv.end_offsets()
        p = next((p for p, v in sorted(behind.items()) if v > 0), None)
        if self.c.ok(p is not None and self.acked, "a partition with unprojected events", repr(behind)):
            for http in HTTPS:
                t = time.monotonic()
                r = self.srv.curl("GET", "/v1/executions/%d?min_position=%d:%d" % (min(self.acked), p, ends[p] - 1),
                                  http=http)
                dt = time.monotonic() - t
                print("  min_position %d:%d (in the log, not projected) while full (%s): %d after %.1f s" %
                      (p, ends[p] - 1, http, r.status, dt))
                self.c.status(r, 504, "min_position in the log but not projected (%s)" % http)
                self.c.eq((r.json or {}).get("type"), "urn:execlog:problem:position-not-reached",
                          "min_position in the log but not projected (%s): problem type" % http)
                self.c.ok(WAIT_MAX_MS / 1000.0 - 0.2 <= dt < WAIT_MAX_MS / 1000.0 + 3,
                          "min_position in the log but not projected (%s): after read.wait.max.ms" % http,
                          "%.1f s" % dt)
        self.c.ok(self.srv.alive(), "execlogd still runs")

    def t_recover(self):
        """Space is freed: the projector resumes by itself, nothing acknowledged is lost."""
        os.unlink(self.filler)
        print("  filler removed: %.1f MiB free" % (free_bytes(self.mnt) / 2.0 ** 20))
        r, dt = self.wait_for(lambda: (lambda r: r if r.status == 200 else None)(self.srv.curl("GET", "/readyz")),
                              RECOVER_BOUND)
        print("  readyz 200 %.1f s after the space was freed" % dt)
        if not self.c.ok(r is not None, "readyz 200 within %.0f s of freeing space" % RECOVER_BOUND,
                         repr(self.srv.curl("GET", "/readyz"))):
            return
        self.c.eq(self.metric("execlog_projector_stalled"), 0.0, "stalled metric after recovery")
        lag, dt = self.wait_for(lambda: self.metric("execlog_consumer_lag") == 0.0, 15)
        self.c.ok(lag, "lag metric back to 0 within 15 s", repr(self.metric("execlog_consumer_lag")))
        log = self.srv.log_text()
        failing = [line for line in log.splitlines() if "store write failing" in line]
        again = [line for line in log.splitlines() if "store writes again" in line]
        self.c.eq((len(failing), len(again)), (1, 1), "the log says once that the store fails, once that it works")
        for line in again:
            print("  log: " + line[line.find("msg="):][:200])

        # every event of the log was applied exactly once: none skipped by the stall, none twice
        total = self.srv.message_count()
        applied = self.metric("execlog_projector_events_applied_total")
        dups = self.metric("execlog_projector_duplicates_total")
        print("  log: %d messages; applied %r, duplicates %r" % (total, applied, dups))
        self.c.eq((applied, dups), (float(total), 0.0), "every message of the log applied once (applied, duplicates)")
        # every acknowledged write is readable, with its content
        listed = set(self.listed("diskfull-" + self.uniq))
        missing = [a for a in self.acked if a not in listed]
        print("  %d acknowledged creates, %d listed after recovery" % (len(self.acked), len(listed)))
        self.c.ok(self.acked and not missing, "every acknowledged create is listed",
                  "%d of %d missing, e.g. %r" % (len(missing), len(self.acked), missing[:5]))
        ids = sorted(self.acked)
        for a in ids[:3] + ids[-3:]:
            for http in HTTPS:
                r = self.srv.curl("GET", "/v1/executions/%d" % a, http=http)
                if self.c.json_answer(r, 200, "GET acknowledged %d (%s)" % (a, http)):
                    self.c.eq((r.json.get("status"), r.json.get("events")), ("queued", 1),
                              "GET acknowledged %d (%s): status and events" % (a, http))
        # and new writes go through
        for http in HTTPS:
            r = self.srv.curl("POST", "/v1/executions", {"flow_id": "diskfull-after-" + self.uniq}, http=http)
            if self.c.json_answer(r, 201, "create after recovery (%s)" % http):
                pos = r.json.get("position") or {}
                g = self.srv.curl("GET", "/v1/executions/%s?min_position=%s:%s" % (
                    r.json.get("audit_id"), pos.get("partition"), pos.get("offset")), http=http)
                self.c.json_answer(g, 200, "GET the create after recovery (%s)" % http)

    def t_replica(self):
        """
        A replica (role replica, reading the node's log) whose disk fills while the node goes on writing: it
        stalls visibly, then, once space is freed, has every execution the node acknowledged, once.
        """
        mnt = os.path.join(self.workdir, "replica")
        why = mount_tmpfs(mnt, "%dm" % TMPFS_MB)
        if not self.c.ok(why is None, "mount the replica's tmpfs", why or ""):
            return
        self.mounts.append(mnt)
        rep = X.Execlogd(self.args.execlogd, name="replica",
                         args=["--role=replica", "--kafka.bootstrap.servers=" + self.srv.bootstrap()])
        rep.data_dir = os.path.join(mnt, "data")
        self.servers.append(rep)
        rep.start()
        filler = os.path.join(mnt, "filler")
        fill(filler, LEFT_MB << 20)

        def failing():
            r = rep.curl("GET", "/readyz")
            return r if r.status == 503 and "store write failing" in str((r.json or {}).get("reason")) else None
        # what the replica must end up with: every execution the node acknowledged from here on (the embedded
        # broker keeps a bounded log, about 5 MB a partition: what the node wrote before may be gone already)
        flow = "diskfull-replica-" + self.uniq
        acked = set()
        t0, batches = time.monotonic(), 0
        while (batches < 2 or not failing()) and time.monotonic() - t0 < FILL_BOUND:  # some for it to hold
            r = self.batch(BATCH_LINES, flow)
            if self.c.json_answer(r, 200, "batch to the node while the replica fills"):
                acked |= {x["audit_id"] for x in r.json.get("results") or [] if x.get("code") == 201}
            batches += 1
        r = failing()
        print("  replica: stalled after %d batches (%.1f s): %s" % (batches, time.monotonic() - t0,
                                                                   r.raw.decode() if r else None))
        if not self.c.ok(r, "the replica's disk filled within %.0f s" % FILL_BOUND):
            return
        self.c.eq(self.metric("execlog_projector_stalled", rep), 1.0, "the replica's stalled metric")
        self.c.ok(rep.alive(), "the replica still runs with a full disk")
        for http in HTTPS:
            r = self.srv.curl("POST", "/v1/executions", {"flow_id": flow}, http=http)
            if self.c.json_answer(r, 201, "create on the node while the replica is stalled (%s)" % http):
                acked.add(r.json.get("audit_id"))
        lag, dt = self.wait_for(lambda: (lambda j: j.get("lag") if is_int(j.get("lag")) and j["lag"] >= 2 else None)(
            rep.curl("GET", "/readyz").json or {}), 5)
        self.c.ok(lag, "the replica's lag counts what it has not projected", repr(lag))
        # room again: the replica reaches the end of the log, with every execution once
        os.unlink(filler)
        r, dt = self.wait_for(lambda: rep.curl("GET", "/readyz").status == 200, RECOVER_BOUND)
        print("  replica: readyz 200 %.1f s after the space was freed" % dt)
        self.c.ok(r, "the replica is ready within %.0f s of freeing space" % RECOVER_BOUND)
        ends = self.srv.end_offsets()

        def offsets():
            text = rep.curl("GET", "/metrics").raw.decode("utf-8", "replace")
            return {int(p): int(float(v)) for p, v in
                    re.findall(r'^execlog_projector_applied_offset\{partition="(\d+)"\} (\S+)$', text, re.M)}
        done, dt = self.wait_for(lambda: offsets() == ends, 30)  # ready is at most readyz.max_lag behind
        self.c.ok(done, "the replica has applied up to the end of every partition", "%r, ends %r" % (offsets(), ends))
        got = self.listed(flow, rep)
        dups = self.metric("execlog_projector_duplicates_total", rep)
        print("  replica: %d acknowledged by the node, %d listed on the replica (%d distinct), duplicates %r" %
              (len(acked), len(got), len(set(got)), dups))
        self.c.ok(acked and acked <= set(got), "every execution the node acknowledged is on the replica",
                  "%d missing" % len(acked - set(got)))
        self.c.eq(sorted(got), sorted(self.listed(flow)), "the replica lists that flow as the node does")
        self.c.eq(dups, 0.0, "the replica saw no message twice")
        self.c.eq((rep.log_text().count("store write failing"), rep.log_text().count("store writes again")), (1, 1),
                  "the replica's log says once that the store fails, once that it works")
        rc, _ = rep.stop()
        self.c.eq(rc, 0, "the replica: SIGTERM exit status")
        umount(mnt)
        self.mounts.remove(mnt)

    def t_full_start(self):
        """Start-up on a full disk: exit status 1 and a clear log line, no abort; a later start with room works."""
        mnt = os.path.join(self.workdir, "full")
        why = mount_tmpfs(mnt, "%dk" % FULL_START_TMPFS_KB)
        if not self.c.ok(why is None, "mount a %d KiB tmpfs" % FULL_START_TMPFS_KB, why or ""):
            return
        self.mounts.append(mnt)
        fill(os.path.join(mnt, "filler"), FULL_START_LEFT_KB << 10)
        data = os.path.join(mnt, "data")
        cwd = tempfile.mkdtemp(prefix="cwd-", dir=self.workdir)
        log = os.path.join(self.workdir, "full-start.log")
        argv = [os.path.abspath(self.args.execlogd), "--data.dir=" + data, "--listen=127.0.0.1:%d" % X.free_port()]
        t = time.monotonic()
        with open(log, "wb") as fp:
            try:
                cp = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=fp, stderr=subprocess.STDOUT, cwd=cwd,
                                    timeout=20, preexec_fn=X._die_with_parent)
                rc = cp.returncode
            except subprocess.TimeoutExpired:
                rc = None
        with open(log, "rb") as fp:
            text = fp.read().decode("utf-8", "replace")
        line = next((x for x in text.splitlines() if "cannot open the store" in x), "")
        print("  start on a full disk (%.0f KiB free): exit %r after %.1f s; %s" %
              (free_bytes(mnt) / 1024.0, rc, time.monotonic() - t, line[line.find("msg="):]))
        self.c.eq(rc, 1, "start on a full disk: exit status")
        want = "cannot open the store in %s: no space left on device" % os.path.join(data, "projections")
        self.c.ok(want in line and re.search(r"\(\d+ KiB free", line), "start on a full disk: the log names the "
                  "directory and the free space", text[-500:])
        self.c.ok("Assertion" not in text and "Aborted" not in text, "start on a full disk: no assertion",
                  text[-500:])
        self.c.eq([f for f in os.listdir(cwd) if f.startswith("core")], [], "start on a full disk: no core file")
        # room again (remounted bigger): the same data directory starts and takes writes
        cp = subprocess.run(["mount", "-o", "remount,size=%dm" % TMPFS_MB, mnt], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=30)
        if not self.c.eq(cp.returncode, 0, "remount the tmpfs bigger"):
            return
        srv = X.Execlogd(self.args.execlogd, name="execlogd-full-start")
        srv.data_dir = data
        self.servers.append(srv)
        srv.start()
        r = srv.curl("POST", "/v1/executions", {"flow_id": "after-full-start"})
        self.c.json_answer(r, 201, "create after a start with room on the same data directory")
        rc, _ = srv.stop()
        self.c.eq(rc, 0, "SIGTERM after the start with room: exit status")

    # ---- driver ----------------------------------------------------------------------

    def run(self):
        if os.geteuid() != 0:
            print("SKIP: needs root to mount tmpfs file systems (running as uid %d)" % os.geteuid())
            return SKIP
        self.workdir = tempfile.mkdtemp(prefix="xl-diskfull-")
        self.mnt = os.path.join(self.workdir, "mnt")
        why = mount_tmpfs(self.mnt, "%dm" % TMPFS_MB)
        if why is not None:
            print("SKIP: cannot mount a tmpfs: %s" % why)
            X.shutil.rmtree(self.workdir, ignore_errors=True)
            return SKIP
        self.mounts.append(self.mnt)
        self.filler = os.path.join(self.mnt, "filler")
        try:
            # logs stay outside the tmpfs; only the data directory is on it
            self.srv = X.Execlogd(self.args.execlogd, name="execlogd",
                                  args=["--ingest.timeout.ms=%d" % INGEST_TIMEOUT_MS,
                                        "--read.wait.max.ms=%d" % WAIT_MAX_MS])
            self.srv.data_dir = os.path.join(self.mnt, "data")
            self.servers.append(self.srv)
            self.c.phase = "start"
            self.srv.start()
            self.section("fill", self.t_fill)
            self.section("recover", self.t_recover)
            self.section("replica", self.t_replica)
            self.c.phase = "stop"
            rc, _ = self.srv.stop()
            self.c.eq(rc, 0, "SIGTERM after recovery: exit status")
            self.section("full_start", self.t_full_start)
        except Exception as e:  # noqa: BLE001 - e.g. execlogd does not start: a failure, never a crash
            self.c.ok(False, "harness", "%s: %s" % (type(e).__name__, e))
        finally:
            for s in self.servers:
                s.kill()
            for m in self.mounts:
                umount(m)
        if self.c.failed:
            for s in self.servers:
                s.dump_logs()
        for s in self.servers:
            if not self.c.failed or not self.args.keep:
                s.cleanup()
        if not self.c.failed or not self.args.keep:
            X.shutil.rmtree(self.workdir, ignore_errors=True)
        print("(%.1f s)" % (time.monotonic() - self.t_start))
        print("%d passed, %d failed" % (self.c.passed, self.c.failed), flush=True)
        return 0 if self.c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
