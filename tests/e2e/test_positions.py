#!/usr/bin/python3
"""
End-to-end test of min_position that cannot be reached (issue 8, item 6): the real execlogd over HTTP/1.1 and h2c.

A partition the topic does not have is answered 400 invalid-parameter at once; an offset at or past the end of
its partition's log is answered 400 after a short grace (POSITION_GRACE_MS, 1 s), unless the log reaches it in
the meantime (then the read is served); a position the projection has reached is served at once. The same holds
on a replica (role replica, consumer group) reading another node's log.

Usage: test_positions.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check, what it measured, and "N passed, N failed"; exits 1 on any failure (and prints
the execlogd logs then).
"""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402
from test_write_path import Checks, is_int  # noqa: E402

HTTPS = ("1.1", "h2c")
PARTITIONS = 4  # embedded.partitions
WAIT_MAX_MS = 10000  # read.wait.max.ms (the default): a 504 would take this long
GRACE = 1.0  # seconds a position past the log end waits before 400
PROMPT = 0.8  # seconds within which "at once" answers come
FAR = 999999999999


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.setup(args, Checks())

    def timed_get(self, srv, path, http, timeout=X.CURL_TIMEOUT):
        t = time.monotonic()
        r = srv.curl("GET", path, http=http, timeout=timeout)
        return r, time.monotonic() - t

    def invalid(self, r, what, detail_re):
        """A 400 invalid-parameter problem whose detail matches detail_re; returns the match."""
        if not self.c.status(r, 400, what):
            return None
        self.c.eq(r.content_type, "application/problem+json", "%s: content-type" % what)
        p = r.json or {}
        self.c.eq(p.get("type"), "urn:execlog:problem:invalid-parameter", "%s: problem type" % what)
        m = re.search(detail_re, p.get("detail") or "")
        self.c.ok(m, "%s: detail" % what, "%r does not match %r" % (p.get("detail"), detail_re))
        return m

    def create(self, srv, http, what):
        r = srv.curl("POST", "/v1/executions", {"flow_id": "positions-" + self.uniq}, http=http)
        if not self.c.json_answer(r, 201, what):
            return None, None
        j = r.json
        pos = j.get("position") or {}
        if not self.c.ok(is_int(pos.get("partition")) and is_int(pos.get("offset")), "%s: position" % what,
                         repr(j)):
            return None, None
        return j.get("audit_id"), (pos["partition"], pos["offset"])

    # ---- sections --------------------------------------------------------------------

    def t_positions(self, srv, http, where):
        a, (p, o) = self.create(srv if where == "node" else self.srv, http, "create")
        if a is None:
            return
        path = "/v1/executions/%d?min_position=" % a
        # reached: served at once (on the replica, once it has projected the create)
        r, dt = self.timed_get(srv, path + "%d:%d" % (p, o), http)
        self.c.json_answer(r, 200, "min_position %d:%d of the create" % (p, o))
        print("  %s/%s: min_position of the create (%d:%d): %d after %.2f s" % (where, http, p, o, r.status, dt))
        # a partition the topic does not have: 400 at once
        for mp in ("99:0", "%d:0" % PARTITIONS, "%d:%d,99:0" % (p, o)):
            r, dt = self.timed_get(srv, path + mp, http)
            self.invalid(r, "min_position=%s" % mp, r"names partition 99|names partition %d" % PARTITIONS)
            self.c.ok("the topic has %d partitions (0 to %d)" % (PARTITIONS, PARTITIONS - 1) in
                      str((r.json or {}).get("detail")), "min_position=%s: detail gives the partition count" % mp,
                      repr(r.json))
            self.c.ok(dt < PROMPT, "min_position=%s: answered at once" % mp, "%.2f s" % dt)
        print("  %s/%s: min_position=99:0: %d after %.2f s: %s" % (where, http, r.status, dt,
                                                                  (r.json or {}).get("detail")))
        r, dt = self.timed_get(srv, path + "%d:%d&min_position=99:0" % (p, o), http)
        self.invalid(r, "min_position repeated, one of a partition that does not exist", r"names partition 99")
        # an offset at or past the end of its partition's log: 400 after the grace, naming the end
        ends = self.srv.end_offsets()
        for off in (FAR, ends[p]):
            mp = "%d:%d" % (p, off)
            r, dt = self.timed_get(srv, path + mp, http)
            m = self.invalid(r, "min_position=%s (the log ends at %d)" % (mp, ends[p]),
                             r"partition %d ends at offset (\d+)" % p)
            if m:
                self.c.eq(int(m.group(1)), ends[p], "min_position=%s: the end named is the partition's end" % mp)
            self.c.ok(GRACE * 0.9 <= dt < GRACE + 2, "min_position=%s: answered after the grace (~%.0f s), long "
                      "before read.wait.max.ms" % (mp, GRACE), "%.2f s" % dt)
            print("  %s/%s: min_position=%s: %d after %.2f s: %s" % (where, http, mp, r.status, dt,
                                                                    (r.json or {}).get("detail")))

    def t_grace(self, http):
        """A position at the log end that a write reaches within the grace is served, not refused."""
        a, (p, o) = self.create(self.srv, http, "create (grace)")
        if a is None:
            return
        end = self.srv.end_offsets()[p]
        box = {}

        def read():
            try:
                box["r"] = self.timed_get(self.srv, "/v1/executions/%d?min_position=%d:%d" % (a, p, end), http)
            except X.HarnessError as e:
                box["r"] = (e, 0)

        t = threading.Thread(target=read, daemon=True)
        t.start()
        time.sleep(0.3)
        w = self.srv.curl("POST", "/v1/executions/%d/events" % a, {"type": "started"}, http=http)
        self.c.json_answer(w, 202, "append within the grace")
        wpos = (w.json or {}).get("position") or {}
        self.c.eq((wpos.get("partition"), wpos.get("offset")), (p, end), "the append lands at the awaited position")
        t.join(15)
        r, dt = box.get("r", (None, 0))
        print("  grace/%s: min_position=%d:%d written 0.3 s into the read: %s after %.2f s" %
              (http, p, end, getattr(r, "status", r), dt))
        if self.c.ok(isinstance(r, X.Response), "the read held across the write answered", repr(r)):
            if self.c.json_answer(r, 200, "min_position reached within the grace"):
                self.c.eq((r.json.get("events"), r.json.get("status")), (2, "running"),
                          "min_position reached within the grace: the state includes the append")
            self.c.ok(dt < GRACE + 2, "min_position reached within the grace: answered promptly", "%.2f s" % dt)

    # ---- driver ----------------------------------------------------------------------

    def run(self):
        self.srv = X.Execlogd(self.args.execlogd, name="execlogd",
                              args=["--embedded.partitions=%d" % PARTITIONS, "--read.wait.max.ms=%d" % WAIT_MAX_MS])
        self.servers.append(self.srv)
        try:
            self.c.phase = "start"
            self.srv.start()
            for http in HTTPS:
                self.section("positions/%s" % http, self.t_positions, self.srv, http, "node")
                self.section("grace/%s" % http, self.t_grace, http)
            # a replica of that log: a projector in a consumer group, partitions from the brokers' metadata
            self.c.phase = "replica start"
            rep = X.Execlogd(self.args.execlogd, name="replica",
                             args=["--role=replica", "--kafka.bootstrap.servers=" + self.srv.bootstrap(),
                                   "--read.wait.max.ms=%d" % WAIT_MAX_MS])
            self.servers.append(rep)
            rep.start()
            for http in HTTPS:
                self.section("replica/%s" % http, self.t_positions, rep, http, "replica")
            for s in self.servers:
                self.c.phase = "stop %s" % s.name
                rc, _ = s.stop()
                self.c.eq(rc, 0, "SIGTERM: exit status")
        except Exception as e:  # noqa: BLE001 - e.g. execlogd does not start: a failure, never a crash
            self.c.ok(False, "harness", "%s: %s" % (type(e).__name__, e))
        finally:
            for s in self.servers:
                s.kill()
        if self.c.failed:
            for s in self.servers:
                s.dump_logs()
        for s in self.servers:
            if not self.c.failed or not self.args.keep:
                s.cleanup()
        print("(%.1f s)" % (time.monotonic() - self.t_start))
        print("%d passed, %d failed" % (self.c.passed, self.c.failed), flush=True)
        return 0 if self.c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
