#!/usr/bin/python3
"""
End-to-end test of the write path: the real execlogd with its embedded broker
and RocksDB, driven with curl (HTTP/1.1 and h2c) and read back with kcat and
python3-avro. Every check about HTTP runs over both protocols. With
XL_TEST_KAFKA it runs on a real Kafka cluster instead (execlogd.py; ctest
label kafka); the checks that differ (/v1/info, what a restart keeps) say so.

Usage: test_write_path.py --execlogd PATH --src REPO_ROOT
Prints one line per failed check and "N passed, N failed"; exits 1 on any
failure (and prints the execlogd logs then).
"""

import io
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402

MAX_ID = (1 << 53) - 1
HTTPS = ("1.1", "h2c")
UNKNOWN_ID = 1  # never issued: the counter starts at the wall clock
STATE_KEYS = ("audit_id", "parent_audit_id", "root_audit_id", "parent_execution_id", "retries", "flow_id",
              "flow_name", "tenant_id", "message_id", "status", "trigger_type", "started_by", "created", "started",
              "ended", "duration_ms", "updated", "message", "error", "warnings", "metrics", "attributes", "events",
              "anomalies", "position")
STATUSES = ("queued", "running", "paused", "cancelling", "succeeded", "warning", "failed", "cancelled")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def now_ms():
    return int(time.time() * 1000)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.phase = "start"

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL [%s] %s%s" % (self.phase, what, (": " + detail) if detail else ""), flush=True)
        return bool(cond)

    def eq(self, got, want, what):
        return self.ok(got == want, what, "got %r, expected %r" % (got, want))

    def status(self, r, want, what):
        return self.ok(r.status == want, "%s: status" % what, "got %r, expected %d" % (r, want))

    def json_answer(self, r, want, what):
        if not self.status(r, want, what):  # the line shows the body; more checks would only repeat it
            return False
        ok = self.eq(r.content_type, "application/json", "%s: content-type" % what)
        ok &= self.ok(isinstance(r.json, dict), "%s: body is a JSON object" % what, repr(r))
        return ok

    def position(self, pos, what):
        return self.ok(isinstance(pos, dict) and is_int(pos.get("partition")) and pos["partition"] >= 0 and
                       is_int(pos.get("offset")) and pos["offset"] >= 0,
                       "%s: position is {partition, offset}" % what, repr(pos))

    def audit_id(self, v, what):
        return self.ok(is_int(v) and 0 < v <= MAX_ID, "%s: audit ID is an integer in 1..2^53-1" % what, repr(v))

    def problem(self, r, status, slug, what, path=None, fields=()):
        """An RFC 9457 answer with the given status and type; for 422 the named fields are in errors."""
        if not self.status(r, status, what):  # the line shows the body; more checks would only repeat it
            return
        self.eq(r.content_type, "application/problem+json", "%s: content-type" % what)
        p = r.json
        if not self.ok(isinstance(p, dict), "%s: problem body is a JSON object" % what, repr(r)):
            return
        self.eq(p.get("type"), "urn:execlog:problem:" + slug, "%s: problem type" % what)
        self.ok(isinstance(p.get("title"), str) and p["title"] != "", "%s: problem title" % what, repr(p))
        self.eq(p.get("status"), status, "%s: problem status member" % what)
        self.ok(isinstance(p.get("detail"), str) and p["detail"] != "", "%s: problem detail" % what, repr(p))
        if path is not None:
            self.eq(p.get("instance"), path.split("?")[0], "%s: problem instance" % what)
        if status == 422:
            errors = p.get("errors")
            if self.ok(isinstance(errors, list) and len(errors) > 0, "%s: errors is a non-empty list" % what,
                       repr(p)):
                self.ok(all(isinstance(e, dict) and isinstance(e.get("field"), str) and
                            isinstance(e.get("reason"), str) and e["reason"] for e in errors),
                        "%s: every error is {field, reason}" % what, repr(errors))
                named = [e.get("field") for e in errors if isinstance(e, dict)]
                for f in fields:
                    self.ok(f in named, "%s: errors names field %r" % (what, f), repr(errors))


def concurrently(fns, timeout=30):
    """Run the callables on threads at once; return their results (exceptions as values)."""
    results = [None] * len(fns)
    barrier = threading.Barrier(len(fns))

    def run(i):
        try:
            barrier.wait(timeout)
            results[i] = fns[i]()
        except Exception as e:  # noqa: BLE001 - handed back to the caller
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.setup(args, Checks())
        self.ids = []  # every audit ID issued, in order, across runs
        self.run_ids = set()
        self.t0 = now_ms() - 3600 * 1000  # client times of the scripted executions
        with open(os.path.join(args.src, "schemas", "execution_event.avsc")) as fp:
            self.avsc = json.load(fp)
        self.expect_events = {}  # audit_id -> list of expected event types in order (run 1)
        self.lifecycle = {}  # http -> details of the scripted execution
        self.retry_lineage = {}
        self.cancel_ids = {}
        self.failed_ids = {}
        self.run_start_ms = now_ms()

    # ---- helpers ---------------------------------------------------------------

    def track(self, audit_id):
        if is_int(audit_id):
            self.c.ok(audit_id not in self.run_ids, "audit ID %d issued once" % audit_id)
            self.run_ids.add(audit_id)
            self.ids.append(audit_id)

    def offsets(self):
        return self.srv.end_offsets()

    def write(self, method, path, body, http, want, what, produced=1):
        """A write expected to succeed: status, JSON answer, and `produced` more messages on the topic."""
        before = self.offsets()
        r = self.srv.curl(method, path, body, http=http)
        r.ok = self.c.json_answer(r, want, what)
        after = self.offsets()
        if r.ok:  # a refused write already failed above; its other checks would only repeat that
            self.c.eq(sum(after.values()) - sum(before.values()), produced, "%s: messages produced" % what)
        return r

    def create(self, body, http, what="create"):
        r = self.write("POST", "/v1/executions", body, http, 201, what)
        j = r.json or {}
        self.track(j.get("audit_id"))
        return r

    def append(self, audit_id, body, http, what, want_seq=None):
        r = self.write("POST", "/v1/executions/%s/events" % audit_id, body, http, 202, what)
        if not r.ok:
            return r
        j = r.json or {}
        self.c.eq(j.get("audit_id"), audit_id, "%s: audit_id" % what)
        if "event_id" in body:
            self.c.eq(j.get("event_id"), body["event_id"], "%s: event_id echoed" % what)
        else:
            self.c.ok(isinstance(j.get("event_id"), str) and UUID_RE.match(j["event_id"] or ""),
                      "%s: generated event_id is a UUID" % what, repr(j.get("event_id")))
        if want_seq is not None:
            self.c.eq(j.get("seq"), want_seq, "%s: seq" % what)
        self.c.position(j.get("position"), what)
        return r

    def get(self, audit_id, http="1.1", what="GET"):
        r = self.srv.curl("GET", "/v1/executions/%s" % audit_id, http=http)
        self.c.json_answer(r, 200, "%s %s" % (what, audit_id))
        return r.json or {}

    def rejected(self, method, path, body, http, status, slug, what, fields=(), headers=None):
        """A request that must be refused with a problem and produce nothing."""
        before = self.offsets() if method != "GET" else None
        try:
            r = self.srv.curl(method, path, body, http=http, headers=headers)
        except X.HarnessError as e:  # no HTTP answer at all: a failed check, not the end of the section
            self.c.ok(False, "%s: an HTTP answer" % what, str(e))
            return X.Response(0, "", {}, b"")
        self.c.problem(r, status, slug, what, path=path, fields=fields)
        if before is not None:
            after = self.offsets()
            self.c.eq(after, before, "%s: nothing produced (end offsets)" % what)
        return r

    def check_state_shape(self, st, what):
        missing = [k for k in STATE_KEYS if k not in st]
        self.c.ok(not missing, "%s: every documented field present" % what, "missing %r" % missing)
        self.c.audit_id(st.get("audit_id"), what)
        self.c.audit_id(st.get("root_audit_id"), what + " root")
        for k in ("parent_audit_id", "parent_execution_id"):
            self.c.ok(st.get(k) is None or (is_int(st[k]) and 0 < st[k] <= MAX_ID), "%s: %s type" % (what, k),
                      repr(st.get(k)))
        for k in ("retries", "events", "anomalies"):
            self.c.ok(is_int(st.get(k)) and st[k] >= 0, "%s: %s is a non-negative integer" % (what, k),
                      repr(st.get(k)))
        self.c.ok(st.get("status") in STATUSES, "%s: status is a documented one" % what, repr(st.get("status")))
        for k in ("created", "started", "ended", "duration_ms", "updated"):
            self.c.ok(st.get(k) is None or is_int(st[k]), "%s: %s is an integer or null" % (what, k),
                      repr(st.get(k)))
        self.c.ok(is_int(st.get("created")) and is_int(st.get("updated")), "%s: created and updated set" % what,
                  repr(st))
        for k in ("flow_id",):
            self.c.ok(isinstance(st.get(k), str), "%s: %s is a string" % (what, k), repr(st.get(k)))
        for k in ("flow_name", "tenant_id", "message_id", "trigger_type", "started_by", "message"):
            self.c.ok(st.get(k) is None or isinstance(st[k], str), "%s: %s is a string or null" % (what, k),
                      repr(st.get(k)))
        self.c.ok(isinstance(st.get("warnings"), list) and all(isinstance(w, str) for w in st["warnings"]),
                  "%s: warnings is a list of strings" % what, repr(st.get("warnings")))
        self.c.ok(isinstance(st.get("metrics"), dict) and all(is_int(v) for v in st["metrics"].values()),
                  "%s: metrics is an object of integers" % what, repr(st.get("metrics")))
        self.c.ok(isinstance(st.get("attributes"), dict) and all(isinstance(v, str) for v in
                                                                  st["attributes"].values()),
                  "%s: attributes is an object of strings" % what, repr(st.get("attributes")))
        err = st.get("error")
        self.c.ok(err is None or (isinstance(err, dict) and set(err) >= {"class", "message"}),
                  "%s: error is null or {class, message, stack}" % what, repr(err))
        self.c.position(st.get("position"), what)

    # ---- sections ----------------------------------------------------------------

    def t_info(self, http):
        r = self.srv.curl("GET", "/healthz", http=http)
        self.c.json_answer(r, 200, "GET /healthz")
        r = self.srv.curl("GET", "/readyz", http=http)
        self.c.json_answer(r, 200, "GET /readyz")
        r = self.srv.curl("GET", "/v1/info", http=http)
        if not self.c.json_answer(r, 200, "GET /v1/info"):
            return
        info = r.json
        self.c.ok(isinstance(info.get("version"), str) and info["version"] != "", "info: version", repr(info))
        out = subprocess.run([self.srv.binary, "--version"], stdout=subprocess.PIPE, timeout=10).stdout.decode()
        self.c.eq(out.split(), ["execlogd", info.get("version")], "info: version = execlogd --version")
        k = info.get("kafka") or {}
        self.c.ok(isinstance(k.get("bootstrap_servers"), str) and
                  re.match(r"^[^,\s]+:\d+(,[^,\s]+:\d+)*$", k["bootstrap_servers"] or ""),
                  "info: kafka.bootstrap_servers is a host:port list", repr(k))
        if X.on_cluster():  # the real-cluster lane: the cluster and the run's own topics
            self.c.eq(k.get("bootstrap_servers"), X.KAFKA, "info: kafka.bootstrap_servers is the cluster's")
            self.c.eq((k.get("topic"), k.get("dlq_topic")), (self.srv.topic_name, self.srv.topic_name + ".dlq"),
                      "info: kafka.topic and dlq_topic are the ones given")
            self.c.ok(k.get("embedded") is False, "info: kafka.embedded is false on a cluster", repr(k))
            self.c.eq(len(self.srv.partitions()), 6, "info: execlogd created its topic with topic.partitions=6")
        else:
            self.c.eq(k.get("topic"), "execlog.events", "info: kafka.topic")
            self.c.ok(k.get("embedded") is True, "info: kafka.embedded is true", repr(k))
        self.c.eq((info.get("ingest") or {}).get("ack"), "projected", "info: ingest.ack (projected on both lanes)")
        fp = (info.get("schemas") or {}).get("execution_event_fingerprint")
        self.c.ok(isinstance(fp, str) and re.match(r"^[0-9a-f]{16}$", fp),
                  "info: schemas.execution_event_fingerprint is 16 hex digits", repr(info.get("schemas")))
        want = "%016x" % X.crc64_avro(X.canonical_form(self.avsc).encode())
        self.c.eq(fp, want, "info: event fingerprint = CRC-64-AVRO of the canonical form of execution_event.avsc")

    def t_lifecycle(self, http):
        t0 = self.t0
        eid = "life-%s-%s" % (http, self.uniq)
        body = {"flow_id": "nightly-load", "flow_name": "Nightly load", "tenant_id": "acme",
                "message_id": "msg-%s-%s" % (http, self.uniq), "event_id": eid, "trigger_type": "schedule",
                "started_by": "cron", "attributes": {"env": "test", "region": "eu"}, "time": t0,
                "message": "queued by cron"}
        r = self.create(body, http, "create")
        j = r.json or {}
        a = j.get("audit_id")
        self.c.audit_id(a, "create")
        self.c.eq(j.get("status"), "queued", "create: status")
        self.c.eq(j.get("seq"), 1, "create: seq")
        self.c.eq(j.get("root_audit_id"), a, "create: root_audit_id == audit_id")
        self.c.ok("parent_audit_id" in j and j["parent_audit_id"] is None, "create: parent_audit_id null", repr(j))
        self.c.eq(j.get("retries"), 0, "create: retries")
        self.c.eq(j.get("event_id"), eid, "create: event_id echoed")
        self.c.position(j.get("position"), "create")
        if not is_int(a):
            return
        st = self.get(a, http, "GET after create")
        self.c.eq(st.get("status"), "queued", "GET after create: status")
        self.c.eq(st.get("events"), 1, "GET after create: events")
        self.c.eq(st.get("started"), None, "GET after create: started")
        self.c.eq(st.get("ended"), None, "GET after create: ended")
        self.c.eq(st.get("duration_ms"), None, "GET after create: duration_ms")

        steps = [
            ({"type": "started", "event_id": eid + "-started", "time": t0 + 1000}, "running"),
            ({"type": "progress", "metrics": {"rows": 1200, "bytes": 4096}, "time": t0 + 2000}, "running"),
            ({"type": "warning", "warnings": ["slow disk"], "message": "disk at 91%", "time": t0 + 3000},
             "running"),
            ({"type": "task_started", "task": "extract", "time": t0 + 3500}, "running"),
            ({"type": "succeeded", "metrics": {"rows": 5000}, "message": "done", "time": t0 + 5000}, "warning"),
        ]
        last = None
        for i, (ev, status) in enumerate(steps):
            what = "append %s" % ev["type"]
            r = self.append(a, ev, http, what, want_seq=i + 2)
            last = (r.json or {}).get("position")
            st = self.get(a, http, "GET after %s" % ev["type"])
            self.c.eq(st.get("status"), status, "GET after %s: status" % ev["type"])
            self.c.eq(st.get("events"), i + 2, "GET after %s: events" % ev["type"])
        st = self.get(a, http, "GET final")
        self.check_state_shape(st, "GET final")
        want = {
            "audit_id": a, "parent_audit_id": None, "root_audit_id": a, "parent_execution_id": None, "retries": 0,
            "flow_id": "nightly-load", "flow_name": "Nightly load", "tenant_id": "acme",
            "message_id": body["message_id"], "status": "warning", "trigger_type": "schedule",
            "started_by": "cron", "created": t0, "started": t0 + 1000, "ended": t0 + 5000, "duration_ms": 4000,
            "message": "done", "error": None, "warnings": ["slow disk"], "metrics": {"rows": 5000, "bytes": 4096},
            "attributes": {"env": "test", "region": "eu"}, "events": 6, "anomalies": 0, "position": last,
        }
        for k, v in want.items():
            self.c.eq(st.get(k), v, "GET final: %s" % k)
        upd = st.get("updated")
        self.c.ok(is_int(upd) and self.run_start_ms - 5000 <= upd <= now_ms() + 5000,
                  "GET final: updated is the server's ingest time of the last event", repr(upd))
        self.lifecycle[http] = {"audit_id": a, "body": body, "steps": [s for s, _ in steps]}
        self.expect_events[a] = ["created"] + [s["type"] for s, _ in steps]

        # a clean run without client times or event_ids: wall-clock times, status succeeded
        t_before = now_ms()
        r = self.create({"flow_id": "quick"}, http, "create (minimal)")
        j = r.json or {}
        b = j.get("audit_id")
        self.c.ok(isinstance(j.get("event_id"), str) and UUID_RE.match(j.get("event_id") or ""),
                  "create (minimal): generated event_id is a UUID", repr(j))
        self.c.eq(j.get("root_audit_id"), b, "create (minimal): root_audit_id")
        if not is_int(b):
            return
        self.c.ok(b > a, "audit IDs grow", "%r then %r" % (a, b))
        self.append(b, {"type": "started"}, http, "append started (minimal)", want_seq=2)
        self.append(b, {"type": "succeeded"}, http, "append succeeded (minimal)", want_seq=3)
        t_after = now_ms()
        st = self.get(b, http, "GET minimal")
        self.check_state_shape(st, "GET minimal")
        self.c.eq(st.get("status"), "succeeded", "GET minimal: status")
        for k in ("created", "started", "ended"):
            self.c.ok(is_int(st.get(k)) and t_before - 1000 <= st[k] <= t_after + 1000,
                      "GET minimal: %s is the ingest time" % k, "%r not in [%d, %d]" % (st.get(k), t_before,
                                                                                         t_after))
        if all(is_int(st.get(k)) for k in ("started", "ended")):
            self.c.eq(st.get("duration_ms"), st["ended"] - st["started"], "GET minimal: duration_ms")
        self.c.ok(st.get("created") is not None and st.get("started") is not None and
                  st["created"] <= st["started"] <= (st.get("ended") or 0), "GET minimal: created <= started <= ended",
                  repr(st))
        for k in ("flow_name", "tenant_id", "message_id", "trigger_type", "started_by", "message", "error"):
            self.c.eq(st.get(k), None, "GET minimal: %s null" % k)
        self.c.eq(st.get("warnings"), [], "GET minimal: warnings")
        self.c.eq(st.get("metrics"), {}, "GET minimal: metrics")
        self.c.eq(st.get("attributes"), {}, "GET minimal: attributes")
        self.c.eq(st.get("events"), 3, "GET minimal: events")
        # an illegal transition is kept in the history and flagged, never applied
        self.append(b, {"type": "started"}, http, "append started after succeeded", want_seq=4)
        st2 = self.get(b, http, "GET after an illegal transition")
        self.c.eq((st2.get("status"), st2.get("events"), st2.get("anomalies"), st2.get("ended")),
                  ("succeeded", 4, 1, st.get("ended")), "GET after an illegal transition: status, events, anomalies")
        self.expect_events[b] = ["created", "started", "succeeded", "started"]

        # failure, with a pause on the way
        r = self.create({"flow_id": "fragile", "tenant_id": "acme", "time": t0}, http, "create (to fail)")
        f = (r.json or {}).get("audit_id")
        if not is_int(f):
            return
        self.append(f, {"type": "started", "time": t0 + 100}, http, "append started (to fail)", want_seq=2)
        self.append(f, {"type": "paused", "time": t0 + 200}, http, "append paused", want_seq=3)
        self.c.eq(self.get(f, http).get("status"), "paused", "GET after paused: status")
        self.append(f, {"type": "resumed", "time": t0 + 300}, http, "append resumed", want_seq=4)
        self.c.eq(self.get(f, http).get("status"), "running", "GET after resumed: status")
        error = {"class": "IOError", "message": "disk full", "stack": "at write()\nat flush()"}
        self.append(f, {"type": "failed", "error": error, "message": "gave up", "time": t0 + 900}, http,
                    "append failed", want_seq=5)
        st = self.get(f, http, "GET failed")
        self.check_state_shape(st, "GET failed")
        self.c.eq(st.get("status"), "failed", "GET failed: status")
        self.c.eq(st.get("error"), error, "GET failed: error")
        self.c.eq(st.get("message"), "gave up", "GET failed: message")
        self.c.eq(st.get("started"), t0 + 100, "GET failed: started")
        self.c.eq(st.get("ended"), t0 + 900, "GET failed: ended")
        self.c.eq(st.get("duration_ms"), 800, "GET failed: duration_ms")
        self.c.eq(st.get("anomalies"), 0, "GET failed: anomalies")
        self.failed_ids[http] = (f, error)
        self.expect_events[f] = ["created", "started", "paused", "resumed", "failed"]

        # an error without a stack renders stack as null
        r = self.create({"flow_id": "fragile"}, http, "create (fail, no stack)")
        g = (r.json or {}).get("audit_id")
        if is_int(g):
            r = self.append(g, {"type": "failed", "error": {"class": "Timeout", "message": "no answer"}}, http,
                            "append failed (no stack)", want_seq=2)
            if r.ok:
                st = self.get(g, http)
                self.c.eq(st.get("error"), {"class": "Timeout", "message": "no answer", "stack": None},
                          "GET failed (no stack): error")
                self.c.eq(st.get("status"), "failed", "GET failed (no stack): status")

    def t_retry(self, http):
        r = self.create({"flow_id": "etl", "flow_name": "ETL", "tenant_id": "acme", "message_id": "m-retry",
                         "trigger_type": "api"}, http, "create (to retry)")
        a = (r.json or {}).get("audit_id")
        if not is_int(a):
            return
        self.append(a, {"type": "failed", "message": "attempt 1 failed"}, http, "append failed")
        r = self.write("POST", "/v1/executions/%d/retry" % a, {"trigger_type": "retry", "started_by": "ops"}, http,
                       201, "retry")
        j = r.json or {}
        b = j.get("audit_id")
        self.track(b)
        self.c.audit_id(b, "retry")
        self.c.ok(b != a, "retry: a new audit ID", repr(j))
        self.c.eq(j.get("parent_audit_id"), a, "retry: parent_audit_id")
        self.c.eq(j.get("root_audit_id"), a, "retry: root_audit_id")
        self.c.eq(j.get("retries"), 1, "retry: retries")
        self.c.eq(j.get("status"), "queued", "retry: status")
        self.c.eq(j.get("seq"), 1, "retry: seq")
        self.c.ok(isinstance(j.get("event_id"), str) and j["event_id"], "retry: event_id", repr(j))
        self.c.position(j.get("position"), "retry")
        if not is_int(b):
            return
        st = self.get(b, http, "GET retry")
        self.check_state_shape(st, "GET retry")
        for k, v in {"audit_id": b, "parent_audit_id": a, "root_audit_id": a, "retries": 1, "flow_id": "etl",
                     "flow_name": "ETL", "tenant_id": "acme", "message_id": "m-retry", "status": "queued",
                     "trigger_type": "retry", "started_by": "ops", "events": 1}.items():
            self.c.eq(st.get(k), v, "GET retry: %s" % k)
        # the same retry again (same event_id): the same new attempt
        r = self.write("POST", "/v1/executions/%d/retry" % a, {"event_id": "retry-%s-%s" % (http, self.uniq)}, http,
                       201, "retry with an event_id")
        rid = (r.json or {}).get("audit_id")
        self.track(rid)
        before = self.offsets()
        r = self.srv.curl("POST", "/v1/executions/%d/retry" % a, {"event_id": "retry-%s-%s" % (http, self.uniq)},
                          http=http)
        self.c.json_answer(r, 201, "retry with the same event_id")
        self.c.eq(((r.json or {}).get("audit_id"), (r.json or {}).get("retries")), (rid, 1),
                  "retry with the same event_id: the same attempt")
        self.c.eq(self.offsets(), before, "retry with the same event_id: nothing produced")
        if is_int(rid):
            self.expect_events[rid] = ["created"]
        # a retry of the retry, with no body at all
        r = self.write("POST", "/v1/executions/%d/retry" % b, None, http, 201, "retry of the retry")
        j = r.json or {}
        c = j.get("audit_id")
        self.track(c)
        self.c.eq(j.get("parent_audit_id"), b, "retry of the retry: parent_audit_id")
        self.c.eq(j.get("root_audit_id"), a, "retry of the retry: root_audit_id")
        self.c.eq(j.get("retries"), 2, "retry of the retry: retries")
        if is_int(c):
            st = self.get(c, http)
            self.c.eq((st.get("parent_audit_id"), st.get("root_audit_id"), st.get("retries"), st.get("flow_id")),
                      (b, a, 2, "etl"), "GET retry of the retry: lineage")
        # a create that names the attempt it retries
        r = self.create({"flow_id": "etl", "tenant_id": "acme", "parent_audit_id": c}, http,
                        "create with parent_audit_id")
        j = r.json or {}
        d = j.get("audit_id")
        self.c.eq(j.get("parent_audit_id"), c, "create with parent_audit_id: parent_audit_id")
        self.c.eq(j.get("root_audit_id"), a, "create with parent_audit_id: root_audit_id")
        self.c.eq(j.get("retries"), 3, "create with parent_audit_id: retries")
        if is_int(d):
            st = self.get(d, http)
            self.c.eq((st.get("parent_audit_id"), st.get("root_audit_id"), st.get("retries")), (c, a, 3),
                      "GET create with parent_audit_id: lineage")
        self.rejected("POST", "/v1/executions", {"flow_id": "etl", "tenant_id": "other", "parent_audit_id": a},
                      http, 422, "invalid-write", "create with parent_audit_id of another tenant",
                      fields=("tenant_id",))
        self.rejected("POST", "/v1/executions", {"flow_id": "etl", "parent_audit_id": UNKNOWN_ID}, http, 422,
                      "invalid-write", "create with an unknown parent_audit_id", fields=("parent_audit_id",))
        # call tree: parent_execution_id names the caller; a retry keeps it
        r = self.create({"flow_id": "child", "tenant_id": "acme", "parent_execution_id": a}, http,
                        "create with parent_execution_id")
        k = (r.json or {}).get("audit_id")
        if is_int(k):
            st = self.get(k, http)
            self.c.eq((st.get("parent_execution_id"), st.get("parent_audit_id"), st.get("root_audit_id"),
                       st.get("retries")), (a, None, k, 0), "GET child: call tree, not retry lineage")
            r = self.write("POST", "/v1/executions/%d/retry" % k, None, http, 201, "retry of a child")
            kr = (r.json or {}).get("audit_id")
            self.track(kr)
            if is_int(kr):
                st = self.get(kr, http)
                self.c.eq((st.get("parent_execution_id"), st.get("parent_audit_id"), st.get("root_audit_id")),
                          (a, k, k), "GET retry of a child: keeps parent_execution_id")
        self.rejected("POST", "/v1/executions", {"flow_id": "child", "parent_execution_id": UNKNOWN_ID}, http, 422,
                      "invalid-write", "create with an unknown parent_execution_id", fields=("parent_execution_id",))
        self.retry_lineage[http] = (a, b, c, d)
        self.expect_events[a] = ["created", "failed"]
        for x in (b, c, d):
            if is_int(x):
                self.expect_events[x] = ["created"]

    def t_cancel(self, http):
        r = self.create({"flow_id": "long-job"}, http, "create (to cancel)")
        a = (r.json or {}).get("audit_id")
        if not is_int(a):
            return
        self.append(a, {"type": "started"}, http, "append started", want_seq=2)
        r = self.write("POST", "/v1/executions/%d/cancel" % a, {"message": "user asked"}, http, 202, "cancel")
        j = r.json or {}
        self.c.eq(j.get("audit_id"), a, "cancel: audit_id")
        self.c.eq(j.get("seq"), 3, "cancel: seq")
        self.c.position(j.get("position"), "cancel")
        st = self.get(a, http, "GET after cancel")
        self.c.eq(st.get("status"), "cancelling", "GET after cancel: status")
        self.c.eq(st.get("message"), "user asked", "GET after cancel: message")
        self.c.eq(st.get("ended"), None, "GET after cancel: not ended yet")
        self.append(a, {"type": "cancelled"}, http, "append cancelled", want_seq=4)
        st = self.get(a, http, "GET after cancelled")
        self.c.eq(st.get("status"), "cancelled", "GET after cancelled: status")
        self.c.ok(is_int(st.get("ended")), "GET after cancelled: ended set", repr(st))
        # the same request again, its effect standing: the first answer, nothing written
        r2 = self.write("POST", "/v1/executions/%d/cancel" % a, None, http, 202, "cancel after cancelled",
                        produced=0)
        self.c.eq(((r2.json or {}).get("event_id"), (r2.json or {}).get("seq")), (j.get("event_id"), 3),
                  "cancel after cancelled: the first cancel's answer")
        self.c.eq(self.get(a, http).get("events"), 4, "cancel after cancelled: event count unchanged")
        # a cancel with no body on a queued execution
        r = self.create({"flow_id": "long-job"}, http, "create (to cancel, queued)")
        q = (r.json or {}).get("audit_id")
        if is_int(q):
            self.write("POST", "/v1/executions/%d/cancel" % q, None, http, 202, "cancel (no body, queued)")
            self.c.eq(self.get(q, http).get("status"), "cancelling", "cancel (queued): status")
            self.expect_events[q] = ["created", "cancel_requested"]
        # cancel after success
        r = self.create({"flow_id": "short-job"}, http, "create (to finish)")
        b = (r.json or {}).get("audit_id")
        if is_int(b):
            self.append(b, {"type": "started"}, http, "append started")
            self.append(b, {"type": "succeeded"}, http, "append succeeded")
            self.rejected("POST", "/v1/executions/%d/cancel" % b, {}, http, 409, "already-ended",
                          "cancel after succeeded")
            self.c.eq(self.get(b, http).get("status"), "succeeded", "cancel after succeeded: status unchanged")
        self.cancel_ids[http] = a
        self.expect_events[a] = ["created", "started", "cancel_requested", "cancelled"]

    def t_idempotency(self, http):
        eid = "idem-%s-%s" % (http, self.uniq)
        body = {"flow_id": "idem", "tenant_id": "t1", "event_id": eid}
        r1 = self.create(body, http, "create #1")
        j1 = first = r1.json or {}
        a = j1.get("audit_id")
        if not is_int(a):
            return
        before = self.offsets()
        r2 = self.srv.curl("POST", "/v1/executions", body, http=http)
        self.c.json_answer(r2, 201, "create #2 (same event_id and tenant)")
        j2 = r2.json or {}
        self.c.eq(j2.get("audit_id"), a, "create #2: same audit_id")
        self.c.eq(self.offsets(), before, "create #2: nothing new on the topic")
        for k in ("status", "root_audit_id", "parent_audit_id", "retries", "event_id", "seq"):
            self.c.eq(j2.get(k), j1.get(k), "create #2: %s answered like the first call" % k)
        self.c.eq(j2.get("position"), j1.get("position"), "create #2: position answered like the first call")
        # the key is (tenant, event_id): other tenants get their own execution
        r3 = self.create(dict(body, tenant_id="t2"), http, "create, same event_id, other tenant")
        a3 = (r3.json or {}).get("audit_id")
        r4 = self.create({"flow_id": "idem", "event_id": eid}, http, "create, same event_id, no tenant")
        a4 = (r4.json or {}).get("audit_id")
        self.c.ok(len({a, a3, a4}) == 3, "one execution per (tenant, event_id)", repr((a, a3, a4)))
        for x in (a3, a4):
            if is_int(x):
                self.expect_events[x] = ["created"]

        ev = {"type": "progress", "event_id": eid + "-p1", "metrics": {"n": 1}}
        p1 = self.append(a, ev, http, "append #1", want_seq=2)
        n1 = self.get(a, http).get("events")
        p2 = self.srv.curl("POST", "/v1/executions/%d/events" % a, ev, http=http)
        self.c.json_answer(p2, 202, "append #2 (same event_id)")
        j1, j2 = p1.json or {}, p2.json or {}
        self.c.eq(j2.get("seq"), j1.get("seq"), "append #2: same seq")
        self.c.eq(j2.get("event_id"), j1.get("event_id"), "append #2: same event_id")
        self.c.eq(j2.get("audit_id"), a, "append #2: audit_id")
        self.c.eq(j2.get("position"), j1.get("position"), "append #2: position answered like the first call")
        st = self.get(a, http)
        self.c.eq(st.get("events"), n1, "append #2: event count unchanged")
        self.c.eq(st.get("events"), 2, "append #1 + #2: the execution has 2 events")
        self.c.eq(st.get("metrics"), {"n": 1}, "append #2: metrics applied once")
        # an event_id is scoped to its execution
        r = self.create({"flow_id": "idem"}, http, "create (other execution)")
        o = (r.json or {}).get("audit_id")
        if is_int(o):
            self.append(o, ev, http, "append with an event_id used on another execution", want_seq=2)
            self.c.eq(self.get(o, http).get("metrics"), {"n": 1}, "event_id of another execution: applied here")
            self.expect_events[o] = ["created", "progress"]
        # the execution moved on (progress made it running): a repeated create is still answered like the first
        r5 = self.srv.curl("POST", "/v1/executions", body, http=http)
        self.c.json_answer(r5, 201, "create #3 (after the execution moved on)")
        self.c.eq((r5.json or {}).get("audit_id"), a, "create #3: same audit_id")
        self.c.eq((r5.json or {}).get("status"), first.get("status"),
                  "create #3: status answered like the first call")

        # the same create, several at once: one execution; the others wait (201, same ID) or get 409 in-progress
        body = {"flow_id": "idem", "tenant_id": "t1", "event_id": eid + "-concurrent"}
        before = self.offsets()
        rs = concurrently([lambda: self.srv.curl("POST", "/v1/executions", body, http=http)] * 4)
        ok = [r for r in rs if isinstance(r, X.Response) and r.status == 201]
        busy = [r for r in rs if isinstance(r, X.Response) and r.status == 409]
        self.c.ok(len(ok) + len(busy) == 4, "concurrent creates: each answered 201 or 409", repr(rs))
        ids = {(r.json or {}).get("audit_id") for r in ok}
        self.c.ok(len(ok) >= 1 and len(ids) == 1, "concurrent creates: every 201 has the same audit ID", repr(rs))
        for r in busy:
            self.c.problem(r, 409, "in-progress", "concurrent create answered 409", path="/v1/executions")
        self.c.eq(sum(self.offsets().values()) - sum(before.values()), 1, "concurrent creates: one event produced")
        r = self.srv.curl("POST", "/v1/executions", body, http=http)
        self.c.json_answer(r, 201, "create after the concurrent ones")
        self.c.eq({(r.json or {}).get("audit_id")}, ids, "create after the concurrent ones: same audit ID")
        for x in ids:
            self.track(x)
            self.expect_events[x] = ["created"]

        # the same append, several at once: one event, the same seq for all
        ev = {"type": "progress", "event_id": eid + "-log", "message": "once"}
        rs = concurrently([lambda: self.srv.curl("POST", "/v1/executions/%d/events" % a, ev, http=http)] * 4)
        self.c.ok(all(isinstance(r, X.Response) and r.status == 202 for r in rs), "concurrent appends: all 202",
                  repr(rs))
        seqs = {(r.json or {}).get("seq") for r in rs if isinstance(r, X.Response)}
        self.c.eq(seqs, {3}, "concurrent appends: the same seq")
        st = self.get(a, http)
        self.c.eq((st.get("events"), st.get("message")), (3, "once"), "concurrent appends: stored once")

    def t_errors(self, http):
        r = self.create({"flow_id": "target"}, http, "create (error target)")
        live = (r.json or {}).get("audit_id")
        if not is_int(live):
            return
        self.expect_events[live] = ["created"]
        nf = "not-found"
        # unknown audit IDs
        for i in (UNKNOWN_ID, MAX_ID):
            self.rejected("POST", "/v1/executions/%d/events" % i, {"type": "started"}, http, 404, nf,
                          "append to unknown %d" % i)
            self.rejected("POST", "/v1/executions/%d/retry" % i, {}, http, 404, nf, "retry of unknown %d" % i)
            self.rejected("POST", "/v1/executions/%d/cancel" % i, None, http, 404, nf, "cancel of unknown %d" % i)
            self.rejected("GET", "/v1/executions/%d" % i, None, http, 404, nf, "GET unknown %d" % i)
        # IDs that cannot be audit IDs
        for bad in ("abc", "0", "-1", "1.5", "12abc", "%d" % (MAX_ID + 1), "99999999999999999999", "0x10"):
            self.rejected("GET", "/v1/executions/" + bad, None, http, 404, nf, "GET id %r" % bad)
            self.rejected("POST", "/v1/executions/%s/events" % bad, {"type": "started"}, http, 404, nf,
                          "append to id %r" % bad)
            self.rejected("POST", "/v1/executions/%s/retry" % bad, None, http, 404, nf, "retry of id %r" % bad)
            self.rejected("POST", "/v1/executions/%s/cancel" % bad, None, http, 404, nf, "cancel of id %r" % bad)
        # malformed JSON
        mj = "malformed-json"
        for body in ('{"flow_id":', '{flow_id: "x"}', '{"flow_id":"x"} trailing', "", "nope"):
            self.rejected("POST", "/v1/executions", body, http, 400, mj, "create with body %r" % body)
        self.rejected("POST", "/v1/executions/%d/events" % live, '{"type": started}', http, 400, mj,
                      "append malformed")
        self.rejected("POST", "/v1/executions/%d/retry" % live, "{", http, 400, mj, "retry malformed")
        self.rejected("POST", "/v1/executions/%d/cancel" % live, "[1,", http, 400, mj, "cancel malformed")
        # valid JSON that breaks the contract
        iw = "invalid-write"
        cases = [
            ("POST", "/v1/executions", {}, ("flow_id",), "create without flow_id"),
            ("POST", "/v1/executions", {"flow_name": "x"}, ("flow_id",), "create without flow_id (other fields)"),
            ("POST", "/v1/executions", {"flow_id": 5}, ("flow_id",), "create flow_id number"),
            ("POST", "/v1/executions", {"flow_id": ""}, ("flow_id",), "create flow_id empty"),
            ("POST", "/v1/executions", {"flow_id": None}, ("flow_id",), "create flow_id null"),
            ("POST", "/v1/executions", {"flow_id": "f", "flw_name": "x"}, ("flw_name",), "create unknown field"),
            ("POST", "/v1/executions", {"flow_id": "f", "type": "started"}, ("type",), "create with type"),
            ("POST", "/v1/executions", {"flow_id": "f", "attributes": {"a": 1}}, ("attributes.a",),
             "create attribute not a string"),
            ("POST", "/v1/executions", {"flow_id": "f", "attributes": ["a"]}, ("attributes",),
             "create attributes not an object"),
            ("POST", "/v1/executions", {"flow_id": "f", "parent_audit_id": "12"}, ("parent_audit_id",),
             "create parent_audit_id string"),
            ("POST", "/v1/executions", {"flow_id": "f", "parent_audit_id": MAX_ID + 1}, ("parent_audit_id",),
             "create parent_audit_id > 2^53-1"),
            ("POST", "/v1/executions", {"flow_id": "f", "time": -5}, ("time",), "create negative time"),
            ("POST", "/v1/executions", {"flow_id": "f", "time": "now"}, ("time",), "create time string"),
            ("POST", "/v1/executions", {"flow_id": "f", "event_id": 7}, ("event_id",), "create event_id number"),
            ("POST", "/v1/executions", {"flow_id": 5, "bogus": 1}, ("flow_id", "bogus"), "create two errors"),
            ("POST", "/v1/executions", [{"flow_id": "f"}], (), "create with an array body"),
            ("POST", "/v1/executions/%d/events" % live, {}, ("type",), "append without type"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "exploded"}, ("type",), "append unknown type"),
            ("POST", "/v1/executions/%d/events" % live, {"type": 5}, ("type",), "append type number"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "created"}, ("type",), "append type created"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "progress", "metrics": {"rows": "many"}},
             ("metrics.rows",), "append metric string"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "progress", "metrics": {"rows": 1.5}},
             ("metrics.rows",), "append metric float"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "progress", "metrics": [1]}, ("metrics",),
             "append metrics array"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "warning", "warnings": "x"}, ("warnings",),
             "append warnings string"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "warning", "warnings": [1]}, ("warnings",),
             "append warnings of numbers"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "failed", "error": "boom"}, ("error",),
             "append error string"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "failed", "error": {"code": 1}}, ("error",),
             "append error unknown member"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "started", "flow_id": "f"}, ("flow_id",),
             "append with flow_id"),
            ("POST", "/v1/executions/%d/events" % live, {"type": "started", "audit_id": live}, ("audit_id",),
             "append with audit_id"),
            ("POST", "/v1/executions/%d/retry" % live, {"flow_id": "x"}, ("flow_id",), "retry with flow_id"),
            ("POST", "/v1/executions/%d/retry" % live, {"type": "started"}, ("type",), "retry with type"),
            ("POST", "/v1/executions/%d/cancel" % live, {"type": "cancelled"}, ("type",), "cancel with type"),
            ("POST", "/v1/executions/%d/cancel" % live, {"metrics": {"a": 1}}, ("metrics",),
             "cancel with metrics"),
        ]
        for method, path, body, fields, what in cases:
            self.rejected(method, path, body, http, 422, iw, what, fields=fields)
        st = self.get(live, http)
        self.c.eq((st.get("status"), st.get("events")), ("queued", 1), "rejected writes left the target unchanged")
        # too large (the default http.max_body is 1 MiB)
        big = json.dumps({"flow_id": "f", "message": "x" * (1100 * 1024)})
        self.rejected("POST", "/v1/executions", big, http, 413, "too-large", "create over 1 MiB")
        self.rejected("POST", "/v1/executions/%d/events" % live, json.dumps({"type": "log", "message": "x" * (
            1100 * 1024)}), http, 413, "too-large", "append over 1 MiB")
        self.rejected("POST", "/v1/events", (json.dumps({"flow_id": "f"}) + "\n") * 80000, http, 413, "too-large",
                      "batch over 1 MiB", headers={"content-type": "application/x-ndjson"})
        self.rejected("POST", "/v1/events", '{"flow_id":"f"}\n' * 10001, http, 413, "too-large",
                      "batch over 10000 lines", headers={"content-type": "application/x-ndjson"})
        # wrong method: 405 with Allow (comma-separated in the table; GET /v1/executions and
        # GET /v1/executions/{id}/events are read endpoints, see test_query.py)
        for method, path, allow in (("GET", "/v1/events", "POST"), ("DELETE", "/v1/executions", "POST,GET"),
                                    ("PUT", "/v1/executions", "POST,GET"), ("DELETE", "/v1/executions/%d" % live, "GET"),
                                    ("PUT", "/v1/executions/%d" % live, "GET"),
                                    ("PUT", "/v1/executions/%d/events" % live, "GET,POST"),
                                    ("GET", "/v1/executions/%d/retry" % live, "POST"),
                                    ("DELETE", "/v1/executions/%d/cancel" % live, "POST"),
                                    ("POST", "/v1/info", "GET"), ("POST", "/healthz", "GET")):
            r = self.rejected(method, path, {"flow_id": "f"} if method != "GET" else None, http, 405,
                              "method-not-allowed", "%s %s" % (method, path))
            allowed = [m.strip() for m in (r.header("allow") or "").split(",")]
            self.c.eq(allowed, allow.split(","), "%s %s: Allow" % (method, path))
        # unknown routes
        for method, path in (("GET", "/v1/nope"), ("GET", "/v1/"), ("POST", "/v1/executions/%d/explode" % live),
                             ("GET", "/v1/executions/%d/events/1/2" % live), ("POST", "/v1/execution"),
                             ("GET", "/v2/info")):
            self.rejected(method, path, {"flow_id": "f"} if method == "POST" else None, http, 404, "no-route",
                          "%s %s" % (method, path))
        st = self.get(live, http)
        self.c.eq((st.get("status"), st.get("events")), ("queued", 1), "after all rejected writes: target unchanged")

    def t_batch(self, http):
        r = self.create({"flow_id": "batch-target"}, http, "create (batch target)")
        a = (r.json or {}).get("audit_id")
        if not is_int(a):
            return
        eid = "batch-%s-%s" % (http, self.uniq)
        lines = [
            json.dumps({"flow_id": "batch-flow", "event_id": eid, "tenant_id": "acme"}),
            json.dumps({"audit_id": a, "type": "progress", "metrics": {"batch_rows": 7}}),
            '{"audit_id": %d, "type":' % a,
            json.dumps({"flow_id": 5}),
            json.dumps({"audit_id": UNKNOWN_ID, "type": "started"}),
            json.dumps({"audit_id": a, "type": "exploded"}),
            json.dumps({"audit_id": a, "type": "log", "message": "from batch"}),
        ]
        want = [201, 202, 400, 422, 404, 422, 202]
        slugs = {3: "malformed-json", 4: "invalid-write", 5: "not-found", 6: "invalid-write"}
        before = self.offsets()
        r = self.srv.curl("POST", "/v1/events", "\n".join(lines) + "\n", http=http,
                          headers={"content-type": "application/x-ndjson"})
        self.c.json_answer(r, 200, "batch")
        after = self.offsets()
        self.c.eq(sum(after.values()) - sum(before.values()), 3, "batch: only the good lines were produced")
        j = r.json or {}
        self.c.eq(j.get("accepted"), 3, "batch: accepted")
        self.c.eq(j.get("rejected"), 4, "batch: rejected")
        results = j.get("results") or []
        self.c.eq([x.get("line") for x in results], list(range(1, 8)), "batch: result lines")
        self.c.eq([x.get("code") for x in results], want, "batch: per-line codes")
        if len(results) != 7:
            return
        created = results[0].get("audit_id")
        self.c.audit_id(created, "batch line 1")
        self.track(created)
        self.c.eq(results[0].get("event_id"), eid, "batch line 1: event_id")
        self.c.eq((results[0].get("code"), results[0].get("status")), (201, "queued"), "batch line 1: code and status")
        self.c.eq(results[1].get("audit_id"), a, "batch line 2: audit_id")
        self.c.eq(results[1].get("seq"), 2, "batch line 2: seq")
        self.c.position(results[1].get("position"), "batch line 2")
        self.c.eq(results[6].get("seq"), 3, "batch line 7: seq")
        for i, slug in slugs.items():
            p = results[i - 1].get("problem") or {}
            self.c.eq(p.get("type"), "urn:execlog:problem:" + slug, "batch line %d: problem type" % i)
            self.c.eq(p.get("status"), want[i - 1], "batch line %d: problem status" % i)
            self.c.ok(isinstance(p.get("detail"), str) and p["detail"], "batch line %d: problem detail" % i,
                      repr(p))
        self.c.ok(any(e.get("field") == "flow_id" for e in (results[3].get("problem") or {}).get("errors", [])),
                  "batch line 4: errors names flow_id", repr(results[3]))
        self.c.ok(any(e.get("field") == "type" for e in (results[5].get("problem") or {}).get("errors", [])),
                  "batch line 6: errors names type", repr(results[5]))
        # the good lines are readable
        if is_int(created):
            st = self.get(created, http, "GET batch-created")
            self.c.eq((st.get("flow_id"), st.get("tenant_id"), st.get("status"), st.get("events")),
                      ("batch-flow", "acme", "queued", 1), "GET batch-created")
            self.expect_events[created] = ["created"]
        st = self.get(a, http, "GET batch target")
        self.c.eq(st.get("events"), 3, "GET batch target: events")
        self.c.eq(st.get("metrics"), {"batch_rows": 7}, "GET batch target: metrics")
        self.c.eq(st.get("message"), None, "GET batch target: a log line is not the status message")
        self.c.eq(st.get("status"), "running", "GET batch target: status (progress starts it)")
        self.expect_events[a] = ["created", "progress", "log"]
        # repeating the batch creates nothing new for the line with an event_id
        r = self.srv.curl("POST", "/v1/events", lines[0] + "\n", http=http)
        self.c.json_answer(r, 200, "batch repeat")
        res = ((r.json or {}).get("results") or [{}])[0]
        self.c.eq(res.get("audit_id"), created, "batch repeat: same audit_id")
        self.c.eq(res.get("code"), 201, "batch repeat: line code")
        # "line" is the line number in the body, blank lines included
        r = self.srv.curl("POST", "/v1/events", "\n" + json.dumps({"audit_id": UNKNOWN_ID, "type": "log"}) + "\n",
                          http=http)
        self.c.json_answer(r, 200, "batch with a blank first line")
        res = ((r.json or {}).get("results") or [{}])
        self.c.eq([(x.get("line"), x.get("code")) for x in res], [(2, 404)],
                  "batch with a blank first line: line numbers count every line")
        # a line with "audit_id": null is neither a valid append nor a create
        before = self.offsets()
        r = self.srv.curl("POST", "/v1/events", json.dumps({"audit_id": None, "type": "log"}) + "\n", http=http)
        self.c.json_answer(r, 200, "batch line with audit_id null")
        res = ((r.json or {}).get("results") or [{}])[0]
        self.c.eq(res.get("code"), 422, "batch line with audit_id null: line code")
        self.c.eq(self.offsets(), before, "batch line with audit_id null: nothing produced")
        # empty batches and all-bad batches
        for body in ("", "\n\n  \n"):
            self.rejected("POST", "/v1/events", body, http, 400, "empty-batch", "batch %r" % body)
        before = self.offsets()
        r = self.srv.curl("POST", "/v1/events", "{\n[]\n", http=http)
        self.c.json_answer(r, 200, "all-bad batch")
        self.c.eq(((r.json or {}).get("accepted"), (r.json or {}).get("rejected")), (0, 2), "all-bad batch: counts")
        self.c.eq(self.offsets(), before, "all-bad batch: nothing produced")

    def t_kafka(self):
        info = self.srv.info()
        fp = int(info["schemas"]["execution_event_fingerprint"], 16)
        import avro.io
        import avro.schema
        reader = avro.io.DatumReader(avro.schema.parse(json.dumps(X.strip_logical_types(self.avsc))))
        msgs = self.srv.consume()
        self.c.eq(len(msgs), self.srv.message_count(), "kcat: consumed every message (count = end offsets)")
        self.c.ok(len(msgs) > 50, "kcat: the run produced events", "%d messages" % len(msgs))
        by_audit = {}
        bad_frames = bad_keys = 0
        part_of_root = {}
        for m in msgs:
            where = "message %d/%d" % (m["partition"], m["offset"])
            try:
                mfp, body = X.split_single_object(m["value"])
            except ValueError as e:
                bad_frames += 1
                self.c.ok(False, "%s: single-object frame" % where, str(e))
                continue
            if mfp != fp:
                bad_frames += 1
                self.c.ok(False, "%s: fingerprint (little-endian) = /v1/info's" % where,
                          "%016x vs %016x" % (mfp, fp))
                continue
            buf = io.BytesIO(body)
            try:
                rec = reader.read(avro.io.BinaryDecoder(buf))
            except Exception as e:  # noqa: BLE001 - any decoding error is a failure
                bad_frames += 1
                self.c.ok(False, "%s: python3-avro decodes the body" % where, repr(e))
                continue
            if buf.tell() != len(body):
                bad_frames += 1
                self.c.ok(False, "%s: no trailing bytes after the body" % where, "%d of %d" % (buf.tell(),
                                                                                          len(body)))
            if m["key"] != str(rec["root_audit_id"]).encode():
                bad_keys += 1
                self.c.ok(False, "%s: key is the root audit ID as decimal text" % where,
                          "%r vs root %r" % (m["key"], rec["root_audit_id"]))
            p = part_of_root.setdefault(rec["root_audit_id"], m["partition"])
            if p != m["partition"]:
                self.c.ok(False, "%s: every event of a lineage on one partition" % where,
                          "root %d on %d and %d" % (rec["root_audit_id"], p, m["partition"]))
            rec["_offset"] = (m["partition"], m["offset"])
            by_audit.setdefault(rec["audit_id"], []).append(rec)
        self.c.eq(bad_frames, 0, "kcat: every value is C3 01 + fingerprint + a decodable body")
        self.c.eq(bad_keys, 0, "kcat: every key is the root audit ID")
        for recs in by_audit.values():
            recs.sort(key=lambda r: r["_offset"])
        for a, types in self.expect_events.items():
            got = [r["type"] for r in by_audit.get(a, [])]
            self.c.eq(got, types, "kcat: event types of execution %d in log order" % a)
        missing = [x for x in self.run_ids if x not in by_audit]
        self.c.eq(missing, [], "kcat: every created execution is on the topic")
        # the scripted execution, field by field
        for http, life in self.lifecycle.items():
            a, body = life["audit_id"], life["body"]
            recs = by_audit.get(a, [])
            if not self.c.eq(len(recs), 6, "kcat %s: lifecycle events" % http):
                continue
            cr = recs[0]
            for k in ("event_id", "flow_id", "flow_name", "tenant_id", "message_id", "trigger_type", "started_by",
                      "attributes", "time", "message"):
                self.c.eq(cr[k], body[k], "kcat %s: created.%s" % (http, k))
            self.c.eq((cr["audit_id"], cr["root_audit_id"], cr["parent_audit_id"], cr["parent_execution_id"],
                       cr["retries"], cr["status"], cr["type"]), (a, a, None, None, 0, "queued", "created"),
                      "kcat %s: created lineage and status" % http)
            self.c.ok(self.run_start_ms - 5000 <= cr["ingest_time"] <= now_ms() + 5000,
                      "kcat %s: ingest_time is the server's clock" % http, repr(cr["ingest_time"]))
            for rec, step in zip(recs[1:], life["steps"]):
                what = "kcat %s: %s" % (http, step["type"])
                self.c.eq(rec["type"], step["type"], what + " type")
                self.c.eq(rec["time"], step["time"], what + " time")
                # appends carry the execution's identity
                self.c.eq((rec["flow_id"], rec["tenant_id"], rec["root_audit_id"]), ("nightly-load", "acme", a),
                          what + " identity")
                for k in ("metrics", "warnings", "message", "task", "event_id"):
                    if k in step:
                        self.c.eq(rec[k], step[k], "%s %s" % (what, k))
            self.c.eq([r["status"] for r in recs], ["queued", "running", None, None, None, "succeeded"],
                      "kcat %s: requested statuses" % http)
        for http, (f, error) in self.failed_ids.items():
            recs = by_audit.get(f, [])
            if recs:
                self.c.eq((recs[-1]["type"], recs[-1]["status"], recs[-1]["error"]), ("failed", "failed", error),
                          "kcat %s: failed event carries the error" % http)
        for http, (a, b, c, d) in self.retry_lineage.items():
            for x, parent, retries in ((b, a, 1), (c, b, 2), (d, c, 3)):
                recs = by_audit.get(x, [])
                if self.c.ok(recs, "kcat %s: retry %r on the topic" % (http, x)):
                    r0 = recs[0]
                    self.c.eq((r0["parent_audit_id"], r0["root_audit_id"], r0["retries"], r0["flow_id"]),
                              (parent, a, retries, "etl"), "kcat %s: retry %d lineage" % (http, x))
        for http, a in self.cancel_ids.items():
            recs = by_audit.get(a, [])
            if len(recs) >= 3:
                self.c.eq((recs[2]["type"], recs[2]["status"], recs[2]["message"]),
                          ("cancel_requested", "cancelling", "user asked"), "kcat %s: cancel event" % http)
        dlq = info["kafka"].get("dlq_topic", "execlog.events.dlq")
        self.c.eq(self.srv.message_count(dlq), 0, "kcat: nothing on the dead-letter topic")

    def metrics(self):
        """{name or name{labels}: value} of GET /metrics."""
        r = self.srv.curl("GET", "/metrics")
        out = {}
        for line in r.raw.decode("utf-8", "replace").splitlines():
            m = re.match(r"^([a-z_]+(\{[^}]*\})?) (\S+)$", line)
            if m:
                out[m.group(1)] = float(m.group(3))
        return out

    def digest(self):
        return (self.srv.curl("GET", "/v1/admin/digest").json or {}).get("digest")

    def check_resumed(self, ends, digest, what):
        """
        Right after a restart (before any write). The embedded broker starts a
        new, empty log each time. A real cluster keeps the log, and the
        projector resumes from the offsets stored with the projections: at the
        log end, consuming nothing again (no batch, no duplicate, nothing applied).
        """
        if not X.on_cluster():
            self.c.eq(sum(self.offsets().values()), 0, "%s: the embedded broker starts a new, empty log" % what)
        else:
            self.c.eq(self.offsets(), ends, "%s: the log is still there (end offsets unchanged)" % what)
            want = {'execlog_projector_applied_offset{partition="%d"}' % p: float(o) for p, o in ends.items() if o}
            deadline, m = time.monotonic() + 5, {}
            while time.monotonic() < deadline:
                m = self.metrics()
                if all(m.get(k) == v for k, v in want.items()) and m.get("execlog_consumer_lag") == 0:
                    break
                time.sleep(0.1)
            time.sleep(0.5)  # a projector that wrongly consumed again would have counted by now
            m = self.metrics()
            got = {k: m.get(k) for k in want}
            self.c.eq(got, want, "%s: the projection resumed at the log end (applied offset of each partition)" % what)
            self.c.eq(tuple(m.get(k) for k in ("execlog_projector_batches_total",
                                               "execlog_projector_duplicates_total",
                                               "execlog_projector_events_applied_total", "execlog_consumer_lag")),
                      (0.0, 0.0, 0.0, 0.0), "%s: nothing consumed again (batches, duplicates, applied, lag)" % what)
        self.c.eq(self.digest(), digest, "%s: the digest of the projections is unchanged" % what)

    def t_restart(self):
        srv = self.srv
        before_ids = list(self.run_ids)
        snap = {a: self.get(a, "1.1", "snapshot") for a in before_ids}
        ends, digest = self.offsets(), self.digest()
        rc, secs = srv.stop()
        self.c.eq(rc, 0, "SIGTERM: exit status")
        self.c.ok(secs < 10, "SIGTERM: stopped within 10 s", "%.1f s" % secs)
        srv.start()
        self.check_resumed(ends, digest, "after SIGTERM restart")
        self.run_start_ms = now_ms()
        for http in HTTPS:
            changed = [a for a in before_ids if self.srv.curl("GET", "/v1/executions/%d" % a, http=http).json !=
                       snap[a]]
            self.c.eq(changed, [], "after SIGTERM restart (%s): every execution reads the same" % http)
        # the create index survives a restart (also the embedded broker's fresh log)
        life = self.lifecycle.get("1.1")
        if life:
            r = srv.curl("POST", "/v1/executions", life["body"])
            self.c.json_answer(r, 201, "repeat of a create after restart")
            self.c.eq((r.json or {}).get("audit_id"), life["audit_id"], "repeat of a create after restart: same ID")
        live = next((a for a in before_ids if snap[a].get("status") == "running"), None)
        if self.c.ok(live is not None, "restart: a running execution from before"):
            n = snap[live]["events"]
            self.append(live, {"type": "succeeded"}, "h2c", "append after restart", want_seq=n + 1)
            st = self.get(live, "1.1")
            self.c.eq((st.get("status"), st.get("events")), ("succeeded", n + 1), "append after restart: state")
        old_max = max(self.ids)
        new = []
        for i in range(10):
            r = self.create({"flow_id": "after-restart", "event_id": "ar-%d-%s" % (i, self.uniq)}, HTTPS[i % 2],
                            "create after restart")
            new.append((r.json or {}).get("audit_id"))
        self.c.ok(all(is_int(x) and x > old_max for x in new), "after restart: new IDs above every earlier one",
                  "max before %d, new %r" % (old_max, new))
        self.c.eq(len(set(self.ids)), len(self.ids), "after restart: no audit ID issued twice")
        self.check_reservation()

        # kill -9 right after the acknowledgements
        acked = []
        for i in range(6):
            r = self.create({"flow_id": "crash", "tenant_id": "acme", "time": self.t0 + i}, HTTPS[i % 2],
                            "create before kill -9")
            a = (r.json or {}).get("audit_id")
            if is_int(a):
                self.append(a, {"type": "started", "time": self.t0 + 10 + i}, HTTPS[i % 2], "append before kill -9",
                            want_seq=2)
                if i % 2:
                    self.append(a, {"type": "progress", "metrics": {"i": i}}, HTTPS[i % 2],
                                "append before kill -9", want_seq=3)
                acked.append(a)
        snap2 = {a: self.get(a, "1.1") for a in list(self.run_ids)}
        ends, digest = self.offsets(), self.digest()
        srv.kill()
        t = time.monotonic()
        srv.start(timeout=75)  # a slow start is a failed check below, not the end of the section
        dt = time.monotonic() - t
        self.c.ok(dt < 15, "after kill -9: ready (/readyz 200) within 15 s of the restart", "%.1f s" % dt)
        self.check_resumed(ends, digest, "after kill -9")
        for a, want in snap2.items():
            st = srv.curl("GET", "/v1/executions/%d" % a).json
            self.c.eq(st, want, "after kill -9: execution %d reads the same" % a)
        for i, a in enumerate(acked):
            st = snap2.get(a) or {}
            self.c.eq((st.get("status"), st.get("events"), st.get("created")),
                      ("running", 2 + (i % 2), self.t0 + i), "acknowledged before kill -9: %d" % a)
        old_max = max(self.ids)
        new = []
        for i in range(6):
            r = self.create({"flow_id": "after-crash"}, HTTPS[i % 2], "create after kill -9")
            new.append((r.json or {}).get("audit_id"))
        self.c.ok(all(is_int(x) and x > old_max for x in new), "after kill -9: new IDs above every earlier one",
                  "max before %d, new %r" % (old_max, new))
        self.c.eq(len(set(self.ids)), len(self.ids), "after kill -9: no audit ID issued twice")
        self.check_reservation()
        rc, _ = srv.stop()
        self.c.eq(rc, 0, "final SIGTERM: exit status")

    def check_reservation(self):
        """README: the counter is reserved in data.dir/audit_id.<node> before use."""
        node = self.srv.info()["ingest"]["node_id"]  # the real-cluster lane gives each instance its own
        if not X.on_cluster():
            self.c.eq(node, 0, "ingest.node.id is 0 by default")
        path = os.path.join(self.srv.data_dir, "audit_id.%d" % node)
        try:
            with open(path) as fp:
                reserved = int(fp.read().strip())
        except (OSError, ValueError) as e:
            self.c.ok(False, "reservation file %s readable" % path, str(e))
            return
        self.c.ok(all((x >> 8) < reserved for x in self.ids), "every issued ID's counter is below the reservation",
                  "reserved %d, max counter %d" % (reserved, max(self.ids) >> 8))
        self.c.ok(all((x & 0xFF) == node for x in self.ids), "node %d in the low 8 bits of every ID" % node)

    def t_sigterm_under_load(self):
        """SIGTERM while writes are in flight: a clean exit, and every acknowledged write survives."""
        srv = self.srv
        srv.start()
        acked, lock, stop = [], threading.Lock(), threading.Event()

        def worker(k):
            i = 0
            while not stop.is_set():
                eid = "load-%d-%d-%s" % (k, i, self.uniq)
                try:
                    r = srv.curl("POST", "/v1/executions", {"flow_id": "load", "event_id": eid}, http=HTTPS[k % 2],
                                 timeout=10)
                except X.HarnessError:
                    return  # the server went away
                if r.status == 201 and is_int((r.json or {}).get("audit_id")):
                    with lock:
                        acked.append((eid, r.json["audit_id"]))
                i += 1

        threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(6)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(acked) < 30:  # well under way
            time.sleep(0.05)
        rc, secs = srv.stop()
        stop.set()
        for t in threads:
            t.join(15)
        self.c.ok(len(acked) >= 30, "load: writes acknowledged before SIGTERM", "%d" % len(acked))
        self.c.eq(rc, 0, "SIGTERM with writes in flight: exit status")
        self.c.ok(secs < 10, "SIGTERM with writes in flight: stopped within 10 s", "%.1f s" % secs)
        srv.start()
        lost = []
        for eid, a in acked:
            self.track(a)
            st = srv.curl("GET", "/v1/executions/%d" % a).json or {}
            if st.get("audit_id") != a or st.get("flow_id") != "load":
                lost.append(a)
        self.c.eq(lost, [], "after SIGTERM under load: every acknowledged execution is readable")
        # and a repeat of an acknowledged create still finds it
        if acked:
            eid, a = acked[-1]
            r = srv.curl("POST", "/v1/executions", {"flow_id": "load", "event_id": eid}, http="h2c")
            self.c.eq((r.status, (r.json or {}).get("audit_id")), (201, a),
                      "after SIGTERM under load: the last acknowledged create is found again")
        rc, _ = srv.stop()
        self.c.eq(rc, 0, "SIGTERM after the load test: exit status")

    def t_limits(self):
        """
        A second instance with small limits: ingest.timeout.ms=100 and
        http.max_body=1024. On a real cluster ingest.timeout.ms=1000: execlogd
        bounds its start-up requests to the cluster (metadata, topic creation)
        by ingest.timeout.ms too, and 100 ms is often too short for them.
        """
        timeout_ms = 1000 if X.on_cluster() else 100
        srv = X.Execlogd(self.args.execlogd, args=["--http.max_body=1024", "--ingest.timeout.ms=%d" % timeout_ms],
                         name="execlogd-limits")
        self.servers.append(srv)
        srv.start()
        saved, self.srv = self.srv, srv
        try:
            self.limits_unavailable(srv)
            self.limits_max_body(srv)
        finally:
            self.srv = saved
            srv.stop()

    def limits_unavailable(self, srv):
        """
        503 means "not acknowledged: retry", and a retry with the same event_id
        is always safe. Right after start the projector has no partitions yet,
        so with a 100 ms timeout the first writes are 503s (on the embedded
        broker; a cluster's 1000 ms may answer them all); the client retries
        until it gets 201, and a little longer: every 201 must name the same
        execution, and only one execution may exist for the event_id.
        """
        body = {"flow_id": "flaky", "tenant_id": "acme", "event_id": "retry-until-ok-" + self.uniq}
        answers = []
        first_ok = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = srv.curl("POST", "/v1/executions", body, http=HTTPS[len(answers) % 2])
            answers.append(r)
            if r.status == 201 and first_ok is None:
                first_ok = time.monotonic()
            if first_ok is not None and time.monotonic() - first_ok > 1.5:
                break
            time.sleep(0.1)
        unavailable = [r for r in answers if r.status == 503]
        created = [r for r in answers if r.status == 201]
        self.c.ok(first_ok is not None, "503 then retry: a 201 within 20 s", repr(answers[-1:]))
        self.c.ok(all(r.status in (201, 409, 503) for r in answers), "503 then retry: only 201, 409 or 503",
                  repr([r.status for r in answers]))
        for r in unavailable[:2]:
            self.c.problem(r, 503, "unavailable", "503 answer", path="/v1/executions")
            self.c.ok(r.header("retry-after") is not None, "503 answer: Retry-After", repr(r.headers))
        ids = [(r.json or {}).get("audit_id") for r in created]
        self.c.eq(sorted(set(ids)), sorted(set(ids[:1])), "503 then retry: every 201 names the same execution "
                                                          "(answers in order: %s)" % ids)
        # how many executions hold this event_id? every create on the topic that is readable is one
        execs, on_topic = set(), 0
        import avro.io
        import avro.schema
        reader = avro.io.DatumReader(avro.schema.parse(json.dumps(X.strip_logical_types(self.avsc))))
        for m in srv.consume():
            try:
                _fp, b = X.split_single_object(m["value"])
                rec = reader.read(avro.io.BinaryDecoder(io.BytesIO(b)))
            except Exception:  # noqa: BLE001 - the kafka section checks the frames
                continue
            if rec["type"] == "created" and rec["event_id"] == body["event_id"]:
                on_topic += 1
                if srv.curl("GET", "/v1/executions/%d" % rec["audit_id"]).status == 200:
                    execs.add(rec["audit_id"])
        self.c.eq(len(execs), 1, "503 then retry: one execution stored for the event_id (%d 503s, %d creates on "
                                 "the topic)" % (len(unavailable), on_topic))

    def limits_max_body(self, srv):
        def body_of(n, **extra):
            """A create body of exactly n bytes (the message pads it)."""
            base = dict({"flow_id": "limit"}, **extra)
            base["message"] = ""
            return json.dumps(dict(base, message="x" * (n - len(json.dumps(base)))))

        for http in HTTPS:
            # exactly http.max_body bytes is accepted (retried on 503: the timeout is short here)
            b = body_of(1024, event_id="limit-%s-%s" % (http, self.uniq))
            self.c.eq(len(b), 1024, "max_body: test body size")
            r = None
            for _ in range(50):
                r = srv.curl("POST", "/v1/executions", b, http=http)
                if r.status != 503:
                    break
                time.sleep(0.1)
            self.c.json_answer(r, 201, "create of exactly http.max_body bytes (%s)" % http)
            a = (r.json or {}).get("audit_id")
            for n in (1025, 5000, 20000):
                self.rejected("POST", "/v1/executions", body_of(n), http, 413, "too-large",
                              "create of %d bytes over http.max_body=1024 (%s)" % (n, http))
            if is_int(a):
                self.rejected("POST", "/v1/executions/%d/events" % a, json.dumps(
                    {"type": "log", "message": "y" * 2000}), http, 413, "too-large",
                    "append over http.max_body (%s)" % http)
            self.rejected("POST", "/v1/events", '{"flow_id":"f"}\n' * 100, http, 413, "too-large",
                          "batch over http.max_body (%s)" % http)

    # ---- driver --------------------------------------------------------------------

    def run(self):
        self.srv = X.Execlogd(self.args.execlogd, name="execlogd")
        self.servers.append(self.srv)
        try:
            self.c.phase = "start"
            self.srv.start()
            self.run_start_ms = now_ms()
            for http in HTTPS:
                self.section("info/%s" % http, self.t_info, http)
            for http in HTTPS:
                self.section("lifecycle/%s" % http, self.t_lifecycle, http)
                self.section("retry/%s" % http, self.t_retry, http)
                self.section("cancel/%s" % http, self.t_cancel, http)
                self.section("idempotency/%s" % http, self.t_idempotency, http)
                self.section("errors/%s" % http, self.t_errors, http)
                self.section("batch/%s" % http, self.t_batch, http)
            self.section("kafka", self.t_kafka)
            self.section("restart", self.t_restart)
            self.section("sigterm_under_load", self.t_sigterm_under_load)
            self.section("limits", self.t_limits)
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
