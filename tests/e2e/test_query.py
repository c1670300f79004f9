#!/usr/bin/python3
"""
End-to-end test of the query API: the real execlogd (embedded broker,
RocksDB, bearer tokens, a TLS listener with a self-signed certificate),
driven with curl over HTTP/1.1, h2c and h2 over TLS, and with h2load for
multiplexed requests, SSE streams and long polls. With XL_TEST_KAFKA it runs
on a real Kafka cluster instead (execlogd.py; ctest label kafka).

Usage: test_query.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check and "N passed, N failed"; exits 1 on any
failure (and prints the execlogd logs then).
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402
from test_write_path import Checks, is_int, now_ms  # noqa: E402

HTTPS3 = ("1.1", "h2c", "h2")  # every read endpoint runs over these
TOKENS = {  # name: (tenant, role)
    "admin": ("*", "admin"),
    "reader": ("*", "reader"),
    "acme_w": ("acme", "writer"),
    "acme_r": ("acme", "reader"),
    "globex_w": ("globex", "writer"),
    "globex_r": ("globex", "reader"),
}
WAIT_MAX_MS = 1500  # read.wait.max.ms of the server under test
IDLE_MS = 2500  # http.idle_timeout.ms
WALK_N = 10000
ETLWORKS_TYPES = {"auditId": (int,), "parentAuditId": (int, type(None)), "retries": (int,),
                  "flowId": (int, str), "flowName": (str, type(None)), "messageId": (str, type(None)),
                  "tenantId": (str, type(None)), "status": (str,), "triggerType": (str, type(None)),
                  "startedBy": (str, type(None)), "started": (int, type(None)), "ended": (int, type(None)),
                  "duration": (str, type(None)), "exception": (str, type(None)), "warnings": (str, type(None)),
                  "metrics": (list, type(None))}


def ids(items):
    return [i.get("audit_id") for i in items]


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.t_start = time.monotonic()
        self.workdir = tempfile.mkdtemp(prefix="xl-query-")
        self.tok = {name: secrets.token_hex(20) for name in TOKENS}
        self.t0 = now_ms() - 3600 * 1000  # client times of the scripted executions
        self.x = {}  # name -> audit ID of the scripted executions
        self.saved_token = None  # a page token to use again after the restart
        self.srv = None

    # ---- helpers ------------------------------------------------------------------------

    def req(self, method, path, http="h2c", who="admin", body=None, headers=None, timeout=X.CURL_TIMEOUT):
        return self.srv.curl(method, path, body, http=http, token=self.tok[who] if who else None, headers=headers,
                             timeout=timeout)

    def get(self, path, http="h2c", who="admin", want=200, what=None):
        r = self.req("GET", path, http, who)
        if want == 200:
            self.c.json_answer(r, 200, what or "GET %s (%s, %s)" % (path, http, who))
        else:
            self.c.status(r, want, what or "GET %s (%s, %s)" % (path, http, who))
        return r

    def problem(self, r, status, slug, what):
        self.c.problem(r, status, slug, what)

    def write(self, method, path, body, who, want, what, http="h2c"):
        r = self.req(method, path, http, who, body=body)
        self.c.json_answer(r, want, what)
        return r.json or {}

    def create(self, name, who, body, what=None):
        j = self.write("POST", "/v1/executions", body, who, 201, what or "create %s" % name)
        self.x[name] = j.get("audit_id")
        return j

    def append(self, name, who, body, what=None):
        return self.write("POST", "/v1/executions/%s/events" % self.x[name], body, who, 202,
                          what or "append %s to %s" % (body.get("type"), name))

    # ---- the data every section reads -------------------------------------------------------

    def setup_data(self):
        """
        acme, flow 4242: e1 (warning, tasks, an anomaly), e2 (failed) retried
        by e3 (succeeded, 65 s), e4 (queued); children c2 (of e2, running) and
        c1 (of e3, succeeded, flow 4242-child). globex: g1 (flow 4242,
        cancelled, message msg-A like e1), g2 (flow globex-only, queued).
        """
        t0 = self.t0
        self.create("e1", "acme_w", {"flow_id": "4242", "flow_name": "Nightly load", "message_id": "msg-A",
                                     "trigger_type": "schedule", "started_by": "cron", "time": t0 + 1000})
        for body in ({"type": "started", "time": t0 + 1100},
                     {"type": "task_started", "task": "extract", "time": t0 + 1150},
                     {"type": "task_finished", "task": "extract", "time": t0 + 1200},
                     {"type": "task_started", "task": "load", "time": t0 + 1250},
                     {"type": "task_failed", "task": "load", "message": "timeout", "time": t0 + 1300},
                     {"type": "warning", "message": "slow source", "time": t0 + 1400},
                     {"type": "metrics", "metrics": {"rows": 10}, "time": t0 + 1500},
                     {"type": "succeeded", "time": t0 + 1600},
                     {"type": "started", "time": t0 + 1700}):  # after the end: an anomaly
            self.append("e1", "acme_w", body)
            time.sleep(0.003)  # distinct ingest times, for as_of
        self.create("e2", "acme_w", {"flow_id": "4242", "message_id": "msg-B", "time": t0 + 2000})
        self.append("e2", "acme_w", {"type": "started", "time": t0 + 2100})
        self.append("e2", "acme_w", {"type": "failed", "time": t0 + 2300,
                                     "error": {"class": "IOError", "message": "disk full", "stack": "at load()"}})
        j = self.write("POST", "/v1/executions/%s/retry" % self.x["e2"], {"time": t0 + 3000}, "acme_w", 201,
                       "retry e2")
        self.x["e3"] = j.get("audit_id")
        self.append("e3", "acme_w", {"type": "started", "time": t0 + 3100})
        self.append("e3", "acme_w", {"type": "succeeded", "time": t0 + 3100 + 65000})
        self.create("c2", "acme_w", {"flow_id": "4242-child", "parent_execution_id": self.x["e2"], "time": t0 + 2500})
        self.append("c2", "acme_w", {"type": "started", "time": t0 + 2600})
        self.create("c1", "acme_w", {"flow_id": "4242-child", "parent_execution_id": self.x["e3"], "time": t0 + 3500})
        self.append("c1", "acme_w", {"type": "started", "time": t0 + 3600})
        self.append("c1", "acme_w", {"type": "succeeded", "time": t0 + 3700})
        self.create("e4", "acme_w", {"flow_id": "4242", "time": t0 + 4000})
        self.create("g1", "globex_w", {"flow_id": "4242", "message_id": "msg-A", "time": t0 + 1500})
        self.append("g1", "globex_w", {"type": "started", "time": t0 + 1550})
        self.write("POST", "/v1/executions/%s/cancel" % self.x["g1"], {}, "globex_w", 202, "cancel g1")
        self.append("g1", "globex_w", {"type": "cancelled", "time": t0 + 1590})
        self.create("g2", "globex_w", {"flow_id": "globex-only", "message_id": "msg-G", "time": t0 + 1600})
        self.c.ok(all(is_int(v) for v in self.x.values()), "every scripted execution was created", repr(self.x))

    # ---- sections -----------------------------------------------------------------------------

    def t_transport(self):
        for http in ("1.1", "h2c", "h2", "1.1-tls"):
            r = self.get("/healthz", http, who=None)
            self.c.eq((r.json or {}).get("status"), "ok", "healthz over %s" % http)
            self.get("/readyz", http, who=None)
            r = self.get("/v1/info", http, who="reader")
            self.c.ok(isinstance((r.json or {}).get("version"), str), "info over %s: version" % http, repr(r))
            j = self.write("POST", "/v1/executions", {"flow_id": "transport"}, "acme_w", 201, "create over %s" % http,
                           http=http)
            self.c.position(j.get("position"), "create over %s" % http)
            self.write("POST", "/v1/executions/%s/events" % j.get("audit_id"), {"type": "started"}, "acme_w", 202,
                       "append over %s" % http, http=http)

    def t_auth(self):
        for http in HTTPS3:
            r = self.req("GET", "/v1/executions/%d" % self.x["e1"], http, who=None)
            self.problem(r, 401, "unauthorized", "no token (%s)" % http)
            self.c.ok((r.header("www-authenticate") or "").startswith("Bearer"), "401 says WWW-Authenticate: Bearer",
                      repr(r.headers))
            r = self.srv.curl("GET", "/v1/executions/%d" % self.x["e1"], http=http, token="not-a-token")
            self.problem(r, 401, "unauthorized", "unknown token (%s)" % http)
            r = self.srv.curl("GET", "/v1/info", http=http, headers={"Authorization": "Basic " + self.tok["admin"]})
            self.problem(r, 401, "unauthorized", "Basic scheme (%s)" % http)
            r = self.req("POST", "/v1/executions", http, "reader", body={"flow_id": "f"})
            self.problem(r, 403, "forbidden", "reader writes (%s)" % http)
            r = self.req("GET", "/v1/admin/digest", http, "reader")
            self.problem(r, 403, "forbidden", "reader asks for the digest (%s)" % http)
            r = self.req("GET", "/metrics", http, "acme_r")
            self.problem(r, 403, "forbidden", "a tenant's token reads /metrics (%s)" % http)
            r = self.get("/v1/admin/digest", http, "admin")
            self.c.ok(re.match(r"^[0-9a-f]{64}$", (r.json or {}).get("digest") or ""), "digest is 64 hex digits",
                      repr(r))
        # a writer is confined to its tenant
        j = self.write("POST", "/v1/executions", {"flow_id": "scoped"}, "acme_w", 201, "acme writer creates")
        st = self.get("/v1/executions/%s" % j.get("audit_id"), who="admin").json or {}
        self.c.eq(st.get("tenant_id"), "acme", "a tenant's writer: tenant_id is its tenant")
        r = self.req("POST", "/v1/executions", "h2c", "acme_w", body={"flow_id": "f", "tenant_id": "globex"})
        self.problem(r, 403, "forbidden-tenant", "acme writer creates in globex")
        g1 = self.x["g1"]
        for path, body in (("/v1/executions/%d/events" % g1, {"type": "progress"}),
                           ("/v1/executions/%d/retry" % g1, {}), ("/v1/executions/%d/cancel" % g1, {})):
            r = self.req("POST", path, "h2c", "acme_w", body=body)
            self.problem(r, 404, "not-found", "acme writer: POST %s of globex" % path)
        r = self.req("POST", "/v1/executions", "h2c", "acme_w", body={"flow_id": "f", "parent_audit_id": g1})
        self.c.problem(r, 422, "invalid-write", "acme writer retries a globex run via parent_audit_id",
                       fields=("parent_audit_id",))
        r = self.req("POST", "/v1/executions", "h2c", "acme_w", body={"flow_id": "f", "parent_execution_id": g1})
        self.c.problem(r, 422, "invalid-write", "acme writer: child of a globex run", fields=("parent_execution_id",))
        batch = "\n".join(json.dumps(line) for line in (
            {"audit_id": g1, "type": "progress"}, {"audit_id": self.x["e4"], "type": "log", "message": "hi"},
            {"flow_id": "b", "tenant_id": "globex"}, {"flow_id": "b"})) + "\n"
        j = self.write("POST", "/v1/events", batch, "acme_w", 200, "acme batch touching globex")
        codes = [r.get("code") for r in j.get("results", [])]
        self.c.eq(codes, [404, 202, 403, 201], "batch: per-line tenant checks")
        self.c.eq(self.get("/v1/executions/%d" % g1).json.get("events"), 4, "g1 unchanged by acme's writes")

    def t_execution(self):
        e1 = self.x["e1"]
        for http in HTTPS3:
            st = self.get("/v1/executions/%d" % e1, http, "acme_r").json or {}
            self.c.eq((st.get("status"), st.get("events"), st.get("anomalies")), ("warning", 10, 1),
                      "e1 status, events, anomalies (%s)" % http)
        st = self.get("/v1/executions/%d" % e1, "h2c", "acme_r").json or {}
        tasks = {t.get("name"): t for t in st.get("tasks") or []}
        self.c.eq(sorted(tasks), ["extract", "load"], "e1 tasks")
        self.c.eq((tasks.get("extract", {}).get("status"), tasks.get("load", {}).get("status")),
                  ("succeeded", "failed"), "e1 task statuses")
        self.c.eq(tasks.get("load", {}).get("message"), "timeout", "e1 task message")
        self.c.eq(tasks.get("extract", {}).get("attempts"), 1, "e1 task attempts")
        self.c.eq(st.get("anomaly_list"), [{"seq": 10, "type": "started", "status": "warning"}], "e1 anomaly list")
        self.c.eq((st.get("root_audit_id"), st.get("retries")), (e1, 0), "e1 root and retries")
        self.c.eq(st.get("metrics"), {"rows": 10}, "e1 metrics")
        self.c.position(st.get("position"), "e1 position")
        e3 = self.get("/v1/executions/%d" % self.x["e3"], "h2c", "acme_r").json or {}
        self.c.eq((e3.get("root_audit_id"), e3.get("parent_audit_id"), e3.get("retries")),
                  (self.x["e2"], self.x["e2"], 1), "e3: root, parent and retries of a retry")
        # as_of: replay up to the ingest time of an event
        evs = (self.get("/v1/executions/%d/events" % e1, "h2c", "acme_r").json or {}).get("items") or []
        times = [e.get("ingest_time") for e in evs]
        k = next((i for i in range(1, len(times)) if times[i - 1] < times[i]), None)
        if self.c.ok(k is not None and k >= 1, "e1 has events with distinct ingest times", repr(times)):
            for http in HTTPS3:
                past = self.get("/v1/executions/%d?as_of=%d" % (e1, times[k - 1]), http, "acme_r").json or {}
                self.c.eq((past.get("events"), past.get("as_of")), (k, times[k - 1]),
                          "as_of the ingest time of event %d (%s)" % (k, http))
            past = self.get("/v1/executions/%d?as_of=%d" % (e1, times[1]), "h2c", "acme_r").json or {}
            self.c.eq(past.get("status"), "running", "as_of the time it started: running")
            now = self.get("/v1/executions/%d?as_of=%d" % (e1, now_ms() + 60000), "h2c", "acme_r").json or {}
            self.c.eq({k2: v for k2, v in now.items() if k2 != "as_of"}, st, "as_of in the future = current state")
        r = self.req("GET", "/v1/executions/%d?as_of=%d" % (e1, times[0] - 1), "h2c", "acme_r")
        self.problem(r, 404, "not-found", "as_of before the creation")
        r = self.req("GET", "/v1/executions/%d?as_of=yesterday" % e1, "h2c", "acme_r")
        self.problem(r, 400, "invalid-parameter", "as_of not a number")
        r = self.req("GET", "/v1/executions/%d?asof=1" % e1, "h2c", "acme_r")
        self.problem(r, 400, "unknown-parameter", "a misspelt parameter")
        r = self.req("GET", "/v1/executions/1", "h2c", "acme_r")
        self.problem(r, 404, "not-found", "unknown audit ID")

    def t_messages(self):
        x = self.x
        for http in HTTPS3:
            j = self.get("/v1/messages/msg-B", http, "acme_r").json or {}
            self.c.eq(ids(j.get("items") or []), [x["e3"], x["e2"]], "msg-B: newest attempt first (%s)" % http)
        self.c.eq(ids(self.get("/v1/messages/msg-A", "h2c", "acme_r").json.get("items")), [x["e1"]],
                  "msg-A for acme: acme's only")
        self.c.eq(ids(self.get("/v1/messages/msg-A", "h2c", "globex_r").json.get("items")), [x["g1"]],
                  "msg-A for globex: globex's only")
        self.c.eq(ids(self.get("/v1/messages/msg-A", "h2c", "admin").json.get("items")), [x["g1"], x["e1"]],
                  "msg-A for an all-tenant token: both, newest first")
        self.problem(self.req("GET", "/v1/messages/msg-G", "h2c", "acme_r"), 404, "not-found",
                     "another tenant's message")
        self.problem(self.req("GET", "/v1/messages/nope", "h2c", "acme_r"), 404, "not-found", "unknown message")

    def t_lineage(self):
        x = self.x
        for http in HTTPS3:
            for start in ("e2", "e3"):
                j = self.get("/v1/executions/%d/lineage" % x[start], http, "acme_r").json or {}
                self.c.eq(j.get("root_audit_id"), x["e2"], "lineage of %s: root (%s)" % (start, http))
                self.c.eq(ids(j.get("attempts") or []), [x["e2"], x["e3"]], "lineage of %s: attempts" % start)
                self.c.eq(ids(j.get("children") or []), [x["c2"], x["c1"]], "lineage of %s: children" % start)
        j = self.get("/v1/executions/%d/lineage" % x["e3"], "h2c", "acme_r").json or {}
        a = j.get("attempts") or [{}, {}]
        self.c.eq([(i.get("status"), i.get("retries"), i.get("parent_audit_id")) for i in a],
                  [("failed", 0, None), ("succeeded", 1, x["e2"])], "attempts: status, retries, parent")
        self.c.eq([(i.get("started"), i.get("ended")) for i in a],
                  [(self.t0 + 2100, self.t0 + 2300), (self.t0 + 3100, self.t0 + 68100)], "attempts: start and end")
        self.c.eq((a[0].get("error") or {}).get("class"), "IOError", "attempts: the failed one's error")
        ch = j.get("children") or [{}, {}]
        self.c.eq([(i.get("status"), i.get("parent_execution_id")) for i in ch],
                  [("running", x["e2"]), ("succeeded", x["e3"])], "children: status and parent (completed included)")

    def t_flows(self):
        x = self.x
        for http in HTTPS3:
            j = self.get("/v1/flows/4242", http, "acme_r").json or {}
            self.c.eq((j.get("total"), j.get("ended"), j.get("succeeded")), (4, 3, 2), "flow 4242 for acme (%s)" % http)
        j = self.get("/v1/flows/4242", "h2c", "acme_r").json or {}
        bs = j.get("by_status") or {}
        self.c.eq(bs, {"queued": 1, "running": 0, "paused": 0, "cancelling": 0, "succeeded": 1, "warning": 1,
                       "failed": 1, "cancelled": 0}, "flow 4242: exact counts by status")
        self.c.ok(abs((j.get("success_rate") or 0) - 2 / 3) < 1e-9, "flow 4242: success rate 2/3", repr(j))
        d = j.get("duration_ms") or {}
        # ended durations 200 (e2), 500 (e1), 65000 (e3); percentiles are histogram bucket bounds (<= +12.5%)
        self.c.ok(is_int(d.get("p50")) and 500 <= d["p50"] <= 563, "flow 4242: p50 ~ 500 ms", repr(d))
        self.c.ok(is_int(d.get("p99")) and 65000 <= d["p99"] <= 73125, "flow 4242: p99 ~ 65 s", repr(d))
        self.c.eq((j.get("latest_audit_id"), (j.get("latest") or {}).get("audit_id")), (x["e4"], x["e4"]),
                  "flow 4242: latest run")
        j = self.get("/v1/flows/4242", "h2c", "admin").json or {}
        self.c.eq((j.get("total"), (j.get("by_status") or {}).get("cancelled")), (5, 1), "flow 4242 across tenants")
        j = self.get("/v1/flows/4242?tenant_id=globex", "h2c", "admin").json or {}
        self.c.eq((j.get("total"), j.get("latest_audit_id"), j.get("success_rate")), (1, x["g1"], 0.0),
                  "flow 4242 of globex (admin, tenant_id=)")
        j = self.get("/v1/flows/4242", "h2c", "globex_r").json or {}
        self.c.eq((j.get("total"), j.get("latest_audit_id")), (1, x["g1"]), "flow 4242 for globex")
        self.problem(self.req("GET", "/v1/flows/globex-only", "h2c", "acme_r"), 404, "not-found",
                     "acme asks for globex's flow")
        self.problem(self.req("GET", "/v1/flows/4242?tenant_id=globex", "h2c", "acme_r"), 404, "not-found",
                     "acme asks for globex's side of a flow")
        self.problem(self.req("GET", "/v1/flows/nope", "h2c", "admin"), 404, "not-found", "unknown flow")

    def etlworks_shape(self, j, what):
        missing = [k for k in ETLWORKS_TYPES if k not in j]
        self.c.ok(not missing, "%s: every ETLWorks field" % what, "missing %r" % missing)
        bad = [k for k, t in ETLWORKS_TYPES.items() if k in j and
               (not isinstance(j[k], t) or (isinstance(j[k], bool)))]
        self.c.ok(not bad, "%s: ETLWorks field types" % what, "%r" % {k: j.get(k) for k in bad})
        self.c.ok(j.get("status") in ("success", "warning", "error", "running"), "%s: status" % what, repr(j))

    def t_etlworks(self):
        x, t0 = self.x, self.t0
        for http in HTTPS3:
            j = self.get("/rest/v1/executions/4242?auditId=%d" % x["e1"], http, "acme_r").json or {}
            self.etlworks_shape(j, "ETLWorks by auditId (%s)" % http)
            self.c.eq({k: j.get(k) for k in ("auditId", "parentAuditId", "retries", "flowId", "flowName", "messageId",
                                             "tenantId", "status", "triggerType", "startedBy", "started", "ended",
                                             "duration", "exception", "warnings", "metrics")},
                      {"auditId": x["e1"], "parentAuditId": None, "retries": 0, "flowId": 4242,
                       "flowName": "Nightly load", "messageId": "msg-A", "tenantId": "acme", "status": "warning",
                       "triggerType": "schedule", "startedBy": "cron", "started": t0 + 1100, "ended": t0 + 1600,
                       "duration": "500 ms", "exception": None, "warnings": "slow source",
                       "metrics": [{"name": "rows", "value": 10}]},
                      "ETLWorks e1 (%s)" % http)
        j = self.get("/rest/v1/executions/4242?auditId=%d" % x["e2"], "h2c", "acme_r").json or {}
        self.etlworks_shape(j, "ETLWorks e2")
        self.c.eq((j.get("status"), j.get("exception"), j.get("duration")),
                  ("error", "IOError: disk full\nat load()", "200 ms"), "ETLWorks: a failed run")
        j = self.get("/rest/v1/executions/4242?messageId=msg-B", "h2c", "acme_r").json or {}
        self.etlworks_shape(j, "ETLWorks by messageId")
        self.c.eq((j.get("auditId"), j.get("parentAuditId"), j.get("retries"), j.get("status"), j.get("duration")),
                  (x["e3"], x["e2"], 1, "success", "1 minute 5 seconds"), "ETLWorks by messageId: newest attempt")
        j = self.get("/rest/v1/executions/4242", "h2c", "acme_r").json or {}
        self.etlworks_shape(j, "ETLWorks latest run")
        self.c.eq((j.get("auditId"), j.get("status"), j.get("ended"), j.get("duration")),
                  (x["e4"], "running", None, None), "ETLWorks without parameters: the latest run")
        j = self.get("/rest/v1/executions/4242", "h2c", "globex_r").json or {}
        self.c.eq(j.get("auditId"), x["g1"], "ETLWorks latest run for globex")
        self.c.eq(j.get("status"), "error", "ETLWorks: cancelled maps to error")
        j = self.get("/rest/v1/executions/globex-only", "h2c", "admin").json or {}
        self.c.eq(j.get("flowId"), "globex-only", "ETLWorks: a non-numeric flow ID is a string")
        for q, who, what in (("4242?auditId=%d" % x["g1"], "acme_r", "another tenant's run"),
                             ("4242?auditId=%d" % x["c1"], "acme_r", "a run of another flow"),
                             ("globex-only", "acme_r", "another tenant's flow"),
                             ("4242?messageId=nope", "acme_r", "unknown message")):
            self.problem(self.req("GET", "/rest/v1/executions/" + q, "h2c", who), 404, "not-found", "ETLWorks: " + what)
        self.problem(self.req("GET", "/rest/v1/executions/4242?auditId=x", "h2c", "acme_r"), 400,
                     "invalid-parameter", "ETLWorks: auditId not a number")

    def t_list(self):
        x, t0 = self.x, self.t0
        for http in HTTPS3:
            j = self.get("/v1/executions?flow_id=4242&order_by=created", http, "acme_r").json or {}
            self.c.eq(ids(j.get("items") or []), [x["e1"], x["e2"], x["e3"], x["e4"]],
                      "list flow 4242, oldest first (%s)" % http)
            self.c.eq(j.get("next_page_token"), None, "list: no next page (%s)" % http)
        self.c.eq(ids(self.get("/v1/executions?flow_id=4242", "h2c", "acme_r").json.get("items")),
                  [x["e4"], x["e3"], x["e2"], x["e1"]], "list: newest first by default")
        # several statuses: one scan each, merged by key; walked one item a page
        walked, token, pages = [], None, 0
        while pages < 10:
            q = "/v1/executions?status=failed&status=succeeded&limit=1" + ("&page_token=" + token if token else "")
            j = self.get(q, HTTPS3[pages % 3], "acme_r").json or {}
            walked += ids(j.get("items") or [])
            token, pages = j.get("next_page_token"), pages + 1
            if token is None:
                break
        self.c.eq(walked, [x["c1"], x["e3"], x["e2"]], "statuses failed+succeeded, a page at a time, any protocol")
        self.c.eq(ids(self.get("/v1/executions?status=queued,running&flow_id=4242", "h2c", "acme_r").json["items"]),
                  [x["e4"]], "status=queued,running within flow 4242")
        self.c.eq(ids(self.get("/v1/executions?message_id=msg-B", "h2c", "acme_r").json["items"]), [x["e3"], x["e2"]],
                  "list by message_id")
        q = "/v1/executions?flow_id=4242&order_by=created&created_gte=%d&created_lt=%d" % (t0 + 2000, t0 + 3500)
        self.c.eq(ids(self.get(q, "h2c", "acme_r").json["items"]), [x["e2"], x["e3"]], "created_gte/created_lt")
        self.c.eq(self.get("/v1/executions?tenant_id=globex", "h2c", "acme_r").json.get("items"), [],
                  "acme lists globex: nothing")
        self.c.eq(ids(self.get("/v1/executions?tenant_id=globex", "h2c", "admin").json["items"]), [x["g2"], x["g1"]],
                  "admin lists globex")
        items = self.get("/v1/executions?flow_id=4242", "h2c", "globex_r").json.get("items") or []
        self.c.eq(ids(items), [x["g1"]], "globex lists flow 4242: its own only")
        for q, slug in (("limit=1001", "invalid-parameter"), ("limit=0", "invalid-parameter"),
                        ("status=done", "invalid-parameter"), ("order_by=name", "invalid-parameter"),
                        ("created_gte=x", "invalid-parameter"), ("flow=4242", "unknown-parameter"),
                        ("page_token=abc", "invalid-page-token")):
            self.problem(self.req("GET", "/v1/executions?" + q, "h2c", "acme_r"), 400, slug, "list ?%s" % q)

    def t_walk(self):
        """10k executions created with one NDJSON batch, walked page by page in both orders."""
        tw = self.t0 - 10 * 86400 * 1000
        times = [tw + (i * 7919) % (WALK_N // 2) for i in range(WALK_N)]  # every time twice: ties by audit ID
        body = "".join(json.dumps({"flow_id": "walk", "time": t}) + "\n" for t in times)
        t = time.monotonic()
        j = self.write("POST", "/v1/events", body, "acme_w", 200, "batch of %d creates" % WALK_N)
        if self.args.verbose:
            print("  batch of %d: %.1f s" % (WALK_N, time.monotonic() - t))
        res = j.get("results") or []
        made = [(times[r["line"] - 1], r.get("audit_id")) for r in res if r.get("code") == 201]
        if not self.c.eq(len(made), WALK_N, "batch: every line created"):
            return
        want = sorted(made)
        for order, limit, protos in (("created", 1000, ("h2c",)), ("-created", 999, ("h2", "1.1", "h2c"))):
            got, token, pages = [], None, 0
            while pages < 30:
                q = "/v1/executions?flow_id=walk&order_by=%s&limit=%d" % (order, limit)
                r = self.get(q + ("&page_token=" + token if token else ""), protos[pages % len(protos)], "acme_r")
                j = r.json or {}
                got += [(i.get("created"), i.get("audit_id")) for i in j.get("items") or []]
                token, pages = j.get("next_page_token"), pages + 1
                if pages == 2 and order == "created":
                    self.saved_token = (q, token, list(j.get("items") or []))
                if token is None:
                    break
            expect = want if order == "created" else want[::-1]
            self.c.eq(len(got), WALK_N, "walk %s: %d items" % (order, WALK_N))
            self.c.eq(len(set(got)), len(got), "walk %s: no duplicates" % order)
            self.c.ok(got == expect, "walk %s: every execution once, in order" % order,
                      "first difference at %r" % next((i for i, (a, b) in enumerate(zip(got, expect)) if a != b),
                                                      None))
            self.c.eq(pages, (WALK_N + limit - 1) // limit, "walk %s: pages of %d" % (order, limit))
        # the across-tenants index, a time range, and a tampered or reused token
        q = "/v1/executions?order_by=created&limit=1000&created_gte=%d&created_lt=%d" % (tw, tw + WALK_N // 2)
        got, token = [], None
        for _ in range(15):
            j = self.get(q + ("&page_token=" + token if token else ""), "h2c", "admin").json or {}
            got += [(i.get("created"), i.get("audit_id")) for i in j.get("items") or []]
            token = j.get("next_page_token")
            if token is None:
                break
        self.c.ok(got == want, "walk across tenants by time range", "%d items" % len(got))
        q, token, _ = self.saved_token
        mid = len(token) // 2
        bad = token[:mid] + ("A" if token[mid] != "A" else "B") + token[mid + 1:]
        self.problem(self.req("GET", q + "&page_token=" + bad, "h2c", "acme_r"), 400, "invalid-page-token",
                     "a tampered page token")
        self.problem(self.req("GET", "/v1/executions?flow_id=4242&limit=1000&page_token=" + token, "h2c", "acme_r"),
                     400, "invalid-page-token", "a page token with other filters")
        self.problem(self.req("GET", q.replace("order_by=created", "order_by=-created") + "&page_token=" + token, "h2c",
                              "acme_r"), 400, "invalid-page-token", "a page token with another order")
        self.problem(self.req("GET", q + "&page_token=" + token, "h2c", "admin"), 400, "invalid-page-token",
                     "a page token of another tenant scope")
        j = self.get("/v1/executions", "h2c", "acme_r").json or {}
        items = j.get("items") or []
        self.c.ok(len(items) == 50 and all(i.get("tenant_id") == "acme" for i in items) and j.get("next_page_token"),
                  "acme's unfiltered list: 50 items (the default limit), all acme's, and a next page",
                  "%d items" % len(items))
        j = self.get(q.replace("limit=1000", "limit=10") + "&page_token=" + token, "h2c", "acme_r").json or {}
        self.c.eq([(i.get("created"), i.get("audit_id")) for i in j.get("items") or []], want[2000:2010],
                  "a page token with another limit")

    def t_events(self):
        e1 = self.x["e1"]
        types = ["created", "started", "task_started", "task_finished", "task_started", "task_failed", "warning",
                 "metrics", "succeeded", "started"]
        for http in HTTPS3:
            j = self.get("/v1/executions/%d/events" % e1, http, "acme_r").json or {}
            items = j.get("items") or []
            self.c.eq([i.get("type") for i in items], types, "events of e1 (%s)" % http)
            self.c.eq([i.get("seq") for i in items], list(range(1, 11)), "events: seq 1..10 (%s)" % http)
            self.c.eq((j.get("last_seq"), j.get("has_more"), j.get("next_after_seq")), (10, False, 10), "events page")
        self.c.ok(all(isinstance(i.get("position"), dict) for i in items), "every event has its log position")
        j = self.get("/v1/executions/%d/events?after_seq=3&limit=4" % e1, "h2c", "acme_r").json or {}
        self.c.eq(([i.get("seq") for i in j.get("items") or []], j.get("has_more"), j.get("next_after_seq")),
                  ([4, 5, 6, 7], True, 7), "events after_seq=3 limit=4")
        j = self.get("/v1/executions/%d/events?reverse=true&limit=3" % e1, "h2c", "acme_r").json or {}
        self.c.eq(([i.get("seq") for i in j.get("items") or []], j.get("next_before_seq")), ([10, 9, 8], 8),
                  "events reverse")
        j = self.get("/v1/executions/%d/events?reverse=true&limit=3&before_seq=8" % e1, "h2c", "acme_r").json or {}
        self.c.eq([i.get("seq") for i in j.get("items") or []], [7, 6, 5], "events reverse before_seq=8")
        for q, slug in (("wait=5&reverse=true", "invalid-parameter"), ("wait=61", "invalid-parameter"),
                        ("limit=1001", "invalid-parameter"), ("before_seq=3", "invalid-parameter")):
            self.problem(self.req("GET", "/v1/executions/%d/events?%s" % (e1, q), "h2c", "acme_r"), 400, slug,
                         "events ?" + q)
        # long poll: answered when an event comes, or empty when the wait ends
        for http in HTTPS3:
            last = (self.get("/v1/executions/%d" % e1, "h2c", "acme_r").json or {}).get("events")
            out = {}

            def poll():
                t = time.monotonic()
                out["r"] = self.req("GET", "/v1/executions/%d/events?after_seq=%d&wait=20" % (e1, last), http,
                                    "acme_r", timeout=30)
                out["dt"] = time.monotonic() - t

            th = threading.Thread(target=poll, daemon=True)
            th.start()
            time.sleep(0.5)
            self.c.ok(th.is_alive(), "long poll (%s) waits while nothing new" % http)
            self.append("e1", "acme_w", {"type": "log", "message": "poke %s" % http})
            th.join(15)
            r = out.get("r")
            if self.c.ok(r is not None, "long poll (%s) answered" % http):
                self.c.json_answer(r, 200, "long poll (%s)" % http)
                self.c.eq([i.get("seq") for i in (r.json or {}).get("items") or []], [last + 1],
                          "long poll (%s): the new event" % http)
                self.c.ok(out["dt"] < 10, "long poll (%s) woke up at once, not at the end of the wait" % http,
                          "%.1f s" % out["dt"])
        t = time.monotonic()
        j = self.get("/v1/executions/%d/events?after_seq=1000&wait=1" % e1, "h2", "acme_r").json or {}
        dt = time.monotonic() - t
        self.c.ok(j.get("items") == [] and 0.9 <= dt < 5, "long poll with nothing new: empty after the wait",
                  "%r after %.2f s" % (j.get("items"), dt))

    def t_isolation(self):
        """Every read endpoint, asked by acme about globex: 404 like a missing one, or filtered."""
        g1 = self.x["g1"]
        missing = self.req("GET", "/v1/executions/1", "h2c", "acme_r")
        for http in HTTPS3:
            for path in ("/v1/executions/%d" % g1, "/v1/executions/%d?as_of=%d" % (g1, now_ms()),
                         "/v1/executions/%d/lineage" % g1, "/v1/executions/%d/events" % g1,
                         "/v1/executions/%d/events?wait=5" % g1, "/v1/messages/msg-G", "/v1/flows/globex-only",
                         "/rest/v1/executions/4242?auditId=%d" % g1, "/rest/v1/executions/globex-only"):
                t = time.monotonic()
                r = self.req("GET", path, http, "acme_r")
                self.problem(r, 404, "not-found", "acme reads %s (%s)" % (path, http))
                self.c.ok(time.monotonic() - t < 3, "acme reads %s: answered at once" % path)
            r = self.req("GET", "/v1/executions/%d" % g1, http, "acme_r")
            self.c.eq(((r.json or {}).get("type"), (r.json or {}).get("title")),
                      ((missing.json or {}).get("type"), (missing.json or {}).get("title")),
                      "another tenant's execution looks like a missing one (%s)" % http)
            self.c.eq(self.get("/v1/executions?tenant_id=globex&flow_id=4242", http, "acme_r").json.get("items"),
                      [], "acme lists globex's executions (%s)" % http)
            j = self.get("/v1/flows/4242", http, "acme_r").json or {}
            self.c.eq(j.get("total"), 4, "acme's flow summary counts acme's only (%s)" % http)
            self.get("/v1/executions/%d" % g1, http, "globex_r")

    def t_sse(self, http):
        """A stream per protocol: filters, tenant scope, a disconnect and a resume with Last-Event-ID."""
        flow = "sse-" + http
        S = self.srv.sse("/v1/stream?flow_id=" + flow, http, token=self.tok["acme_r"])
        T = self.srv.sse("/v1/stream?flow_id=" + flow, http, token=self.tok["admin"])
        U = self.srv.sse("/v1/stream?flow_id=%s&type=succeeded" % flow, http, token=self.tok["acme_r"])
        try:
            for name, st in (("acme", S), ("admin", T), ("type filter", U)):
                self.c.ok(st.wait(lambda s: len(s.comments) > 0, 10), "SSE %s (%s) connected" % (name, http))
            name = "sse1-" + http
            self.create(name, "acme_w", {"flow_id": flow})
            self.append(name, "acme_w", {"type": "started"})
            self.append(name, "acme_w", {"type": "progress"})
            self.c.ok(S.wait_events(3), "SSE (%s): the first 3 events" % http, repr(S.events))
            S.close()  # the client goes away
            first = list(S.events)
            self.append(name, "acme_w", {"type": "progress"})
            self.append(name, "acme_w", {"type": "succeeded"})
            self.create("g" + name, "globex_w", {"flow_id": flow})
            last_id = first[-1].get("id") if first else "0"
            R = self.srv.sse("/v1/stream?flow_id=" + flow, http, token=self.tok["acme_r"],
                             headers={"Last-Event-ID": last_id})
            try:
                self.c.ok(R.wait_events(5 - len(first)), "SSE resume (%s): the events missed" % http, repr(R.events))
                self.append(name, "acme_w", {"type": "log", "message": "after the resume"})
                R.wait_events(6 - len(first))
                R.drain(0.5)
                both = first + R.events
                got = [(e["data"].get("audit_id"), e["data"].get("seq")) for e in both if isinstance(e["data"], dict)]
                self.c.eq(got, [(self.x[name], s) for s in range(1, 7)],
                          "SSE (%s): after a disconnect nothing missed, nothing repeated" % http)
                idn = [int(e.get("id")) for e in both]
                self.c.ok(idn == sorted(set(idn)), "SSE (%s): ids strictly increase" % http, repr(idn))
                self.c.ok(all(e["data"].get("tenant_id") == "acme" for e in both), "SSE (%s): acme sees acme's" % http)
            finally:
                R.close()
            T.wait_events(7)
            T.drain(0.3)
            self.c.eq(sorted({e["data"].get("tenant_id") for e in T.events}), ["acme", "globex"],
                      "SSE (%s): an all-tenant token sees both tenants" % http)
            self.c.eq(len(T.events), 7, "SSE (%s): admin's stream has every event of the flow" % http)
            U.wait_events(1)
            U.drain(0.3)
            self.c.eq([e["data"].get("type") for e in U.events], ["succeeded"], "SSE (%s): type filter" % http)
            self.c.ok(U.wait(lambda s: any(c == "keepalive" for c in s.comments), 5),
                      "SSE (%s): an idle stream gets keepalive comments" % http, repr(U.comments))
        finally:
            for st in (S, T, U):
                st.close()
        # the server ends a stream after max_events
        E = self.srv.sse("/v1/stream?last_event_id=0&max_events=2", http, token=self.tok["admin"])
        rc = E.wait_exit(10)
        self.c.ok(rc == 0 and len(E.events) == 2, "SSE (%s): max_events=2 ends the stream" % http,
                  "exit %r, %d events" % (rc, len(E.events)))
        self.c.eq([e.get("id") for e in E.events], ["1", "2"], "SSE (%s): from the start of the feed" % http)
        r = self.req("GET", "/v1/stream", http, "acme_r", headers={"Last-Event-ID": "99999999"})
        self.problem(r, 400, "invalid-last-event-id", "SSE (%s): an id this replica never issued" % http)
        self.problem(self.req("GET", "/v1/stream", http, None), 401, "unauthorized", "SSE without a token")

    def t_min_position(self):
        j = self.write("POST", "/v1/executions", {"flow_id": "ryw"}, "acme_w", 201, "ryw create")
        a, pos = j.get("audit_id"), j.get("position") or {}
        p, o = pos.get("partition"), pos.get("offset")
        for http in HTTPS3:
            t = time.monotonic()
            self.get("/v1/executions/%s?min_position=%d:%d" % (a, p, o), http, "acme_r")
            self.c.ok(time.monotonic() - t < 2, "min_position already reached: answered at once (%s)" % http)
        self.get("/v1/executions?flow_id=ryw&min_position=%d:%d,%d:0" % (p, o, p), "h2c", "acme_r")
        self.get("/v1/flows/ryw?min_position=%d:%d&min_position=%d:%d" % (p, o, p, max(0, o - 1)), "h2c", "acme_r")
        # a position just ahead: held until a write reaches it
        out = {}

        def read():
            t = time.monotonic()
            out["r"] = self.req("GET", "/v1/executions/%s?min_position=%d:%d" % (a, p, o + 1), "h2", "acme_r")
            out["dt"] = time.monotonic() - t

        th = threading.Thread(target=read, daemon=True)
        th.start()
        time.sleep(0.3)
        self.c.ok(th.is_alive(), "min_position ahead of the projection: the read waits")
        reached = False
        for _ in range(80):  # the partition follows the key; some create lands on p
            w = self.write("POST", "/v1/executions", {"flow_id": "ryw-push"}, "acme_w", 201, "push")
            wp = w.get("position") or {}
            if wp.get("partition") == p and wp.get("offset", -1) > o:
                reached = True
                break
        th.join(10)
        if self.c.ok(reached and "r" in out, "a write reached the awaited position and the read answered"):
            self.c.json_answer(out["r"], 200, "min_position read after the write")
        # a position past the end of the log cannot be reached: 400 after a 1 s grace, not 504 after
        # read.wait.max.ms (the 504 of a position in the log but not projected: test_diskfull.py)
        t = time.monotonic()
        r = self.req("GET", "/v1/executions/%s?min_position=%d:%d" % (a, p, o + 10 ** 9), "h2c", "acme_r")
        dt = time.monotonic() - t
        self.problem(r, 400, "invalid-parameter", "min_position past the end of the log")
        self.c.ok(0.9 <= dt < 3, "400 after the 1 s grace", "%.2f s" % dt)
        for bad in ("3", "a:b", "1:-2", "-1:3"):
            self.problem(self.req("GET", "/v1/executions/%s?min_position=%s" % (a, bad), "h2c", "acme_r"), 400,
                         "invalid-parameter", "min_position=%s" % bad)

    def t_schemas_metrics(self):
        for http in HTTPS3:
            j = self.get("/v1/schemas", http, "reader").json or {}
            items = {i.get("name"): i for i in j.get("items") or []}
            for name, fname in (("execlog.ExecutionEvent", "execution_event.avsc"),
                                ("execlog.ExecutionState", "execution_state.avsc")):
                with open(os.path.join(self.args.src, "schemas", fname)) as fp:
                    want = "%016x" % X.crc64_avro(X.canonical_form(json.load(fp)).encode())
                it = items.get(name) or {}
                self.c.eq(it.get("fingerprint"), want, "schemas (%s): %s fingerprint" % (http, name))
                self.c.ok(isinstance(it.get("schema"), dict) and it["schema"].get("name") in name,
                          "schemas (%s): %s schema as JSON" % (http, name))
        before = self.metric_value("execlog_http_requests_total",
                                   {"method": "GET", "route": "/v1/executions/{id}", "code": "200"}) or 0
        for _ in range(3):
            self.get("/v1/executions/%d" % self.x["e4"], "h2c", "acme_r")
        self.problem(self.req("GET", "/v1/executions/1", "h2c", "acme_r"), 404, "not-found", "a 404 to count")
        for http in HTTPS3:
            r = self.req("GET", "/metrics", http, "reader")
            self.c.status(r, 200, "metrics (%s)" % http)
            self.c.ok(r.content_type == "text/plain", "metrics: text/plain", repr(r.headers.get("content-type")))
        text = self.metrics_text()
        after = self.metric_value("execlog_http_requests_total",
                                  {"method": "GET", "route": "/v1/executions/{id}", "code": "200"}, text)
        self.c.ok(after is not None and after >= before + 3, "metrics: requests counted by route and code",
                  "%r -> %r" % (before, after))
        self.c.ok((self.metric_value("execlog_http_requests_total",
                                     {"method": "GET", "route": "/v1/executions/{id}", "code": "404"}, text) or 0) >= 1,
                  "metrics: 404s counted")
        self.c.ok((self.metric_value("execlog_http_request_duration_seconds_count",
                                     {"method": "GET", "route": "/v1/executions/{id}", "code": "200"}, text) or 0) >= 3,
                  "metrics: latency histogram by route and code")
        lbl = {"method": "GET", "route": "/v1/executions/{id}", "code": "200"}
        inf = self.metric_value("execlog_http_request_duration_seconds_bucket", dict(lbl, le="+Inf"), text) or 0
        held = self.metric_value("execlog_http_held_seconds_count", lbl, text) or 0
        self.c.ok(held > 0, "metrics: the reads that waited for their min_position are counted as held", repr(held))
        self.c.ok(inf + held == after, "metrics: the +Inf bucket and the held reads make the count",
                  "%r + %r != %r" % (inf, held, after))
        for name, least in (("execlog_ingest_events_produced_total", WALK_N), ("execlog_ingest_produce_errors_total", 0),
                            ("execlog_projector_events_applied_total", WALK_N), ("execlog_projector_dlq_total", 0),
                            ("execlog_projector_apply_rate", 0), ("execlog_consumer_lag", 0),
                            ("execlog_store_sst_bytes", 0), ("execlog_store_live_data_bytes", 0),
                            ("execlog_store_executions", 1), ("execlog_sse_streams", 0)):
            v = self.metric_value(name, {}, text)
            self.c.ok(v is not None and v >= least, "metrics: %s >= %d" % (name, least), repr(v))
        parts = re.findall(r'^execlog_projector_applied_offset\{partition="(\d+)"\} (\d+)$', text, re.M)
        self.c.ok(len(parts) >= 1, "metrics: applied offset per partition", repr(parts))
        lags = re.findall(r'^execlog_consumer_partition_lag\{partition="(\d+)"\} (\d+)$', text, re.M)
        self.c.ok(len(lags) == 6, "metrics: consumer lag of each of the 6 partitions", repr(lags))
        bad = [ln for ln in text.splitlines() if ln and not ln.startswith("#") and
               not re.match(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9.e+-]+|[+-]Inf)$', ln)]
        self.c.ok(not bad, "metrics: every sample line is Prometheus text format", repr(bad[:3]))

    def metrics_text(self):
        r = self.req("GET", "/metrics", "h2c", "reader")
        return r.raw.decode() if r.status == 200 else ""

    def metric_value(self, name, labels, text=None):
        text = self.metrics_text() if text is None else text
        for line in text.splitlines():
            m = re.match(r"^([a-z_]+)(\{(.*)\})? (\S+)$", line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(3) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(m.group(4)) if m.group(4) not in ("+Inf", "-Inf") else float(m.group(4).replace("Inf",
                                                                                                          "inf"))
        return None

    def t_loops(self):
        """http.threads: the connections spread over every loop, and /metrics shows one set of counters."""
        m = re.search(r"--http\.threads=(\d+)", " ".join(X.EXTRA_ARGS))
        want = int(m.group(1)) if m and int(m.group(1)) > 0 else os.sysconf("SC_NPROCESSORS_ONLN")

        def per_loop(text):
            return {int(k): float(v) for k, v in
                    re.findall(r'^execlog_http_loop_requests_total\{loop="(\d+)"\} (\S+)$', text, re.M)}

        before = per_loop(self.metrics_text())
        res = self.srv.h2load("/healthz", 640, clients=32, streams=1, http="h2c", token=self.tok["admin"])
        self.c.eq(res.get("2xx"), 640, "loops: 640 requests over 32 connections")
        text = self.metrics_text()
        after = per_loop(text)
        self.c.eq(sorted(after), list(range(want)), "loops: /metrics counts requests of each of the %d loops" % want)
        grew = {k: after.get(k, 0) - before.get(k, 0) for k in range(want)}
        self.c.ok(all(v > 0 for v in grew.values()), "loops: every loop took some of the connections", repr(grew))
        self.c.ok(sum(grew.values()) >= 640, "loops: the loops' counts add up to the requests", repr(grew))
        # one set of HTTP counters for the whole process, whichever loop renders /metrics
        n = [self.metric_value("execlog_http_requests_total", {"route": "/healthz", "code": "200"})
             for _ in range(6)]
        self.c.ok(all(v is not None and v >= 640 for v in n), "loops: /healthz counted once for all loops", repr(n))
        # one event_id sent at once on many connections (so on every loop): one execution, whichever loop
        # took each copy; a copy that finds the first still in flight gets 409, the rest its answer
        eid = "loops-%s" % secrets.token_hex(6)
        out = [None] * 16

        def create(k):
            out[k] = self.req("POST", "/v1/executions", "h2c" if k % 2 else "1.1", "acme_w",
                              {"flow_id": "loops", "event_id": eid})

        ths = [threading.Thread(target=create, args=(k,), daemon=True) for k in range(len(out))]
        for th in ths:
            th.start()
        for th in ths:
            th.join(60)
        codes = sorted(r.status for r in out if r is not None)
        ids = {(r.json or {}).get("audit_id") for r in out if r is not None and r.status == 201}
        self.c.ok(len(codes) == 16 and set(codes) <= {201, 409} and 201 in codes,
                  "loops: 16 concurrent creates of one event_id answer 201 or 409", repr(codes))
        self.c.eq(len(ids), 1, "loops: every 201 names the same execution (%s)" % sorted(map(str, ids)))
        again = self.req("POST", "/v1/executions", "h2c", "acme_w", {"flow_id": "loops", "event_id": eid})
        self.c.eq((again.status, (again.json or {}).get("audit_id")), (201, next(iter(ids), None)),
                  "loops: the create repeated afterwards gets the same execution")
        lst = self.get("/v1/executions?flow_id=loops", "h2c", "acme_r").json or {}
        self.c.eq(len(lst.get("items") or []), 1, "loops: the projection holds one execution")

    def t_h2load(self):
        e1 = self.x["e1"]
        for http, proto in (("h2c", "h2c"), ("h2", "h2")):
            res = self.srv.h2load("/v1/executions/%d" % e1, 600, clients=4, streams=50, http=http,
                                  token=self.tok["acme_r"])
            self.c.eq((res.get("protocol"), res.get("2xx"), res.get("succeeded")), (proto, 600, 600),
                      "h2load: 600 multiplexed GETs over %s" % proto)
            res = self.srv.h2load("/v1/executions?flow_id=4242&limit=2", 200, clients=2, streams=20, http=http,
                                  token=self.tok["acme_r"])
            self.c.eq(res.get("2xx"), 200, "h2load: 200 list pages over %s" % proto)
            res = self.srv.h2load("/v1/executions/%d" % e1, 100, clients=2, streams=50, http=http,
                                  token=self.tok["globex_r"])
            self.c.eq((res.get("4xx"), res.get("2xx")), (100, 0), "h2load: another tenant gets 404s over %s" % proto)
            res = self.srv.h2load("/v1/stream?last_event_id=0&max_events=5", 40, clients=2, streams=20, http=http,
                                  token=self.tok["admin"])
            self.c.eq((res.get("2xx"), res.get("done")), (40, 40), "h2load: 40 SSE streams over %s" % proto)
            # long polls: all held, all woken by one event
            last = (self.get("/v1/executions/%d" % self.x["e4"], "h2c", "acme_r").json or {}).get("events")
            out = {}

            def load():
                t = time.monotonic()
                out["res"] = self.srv.h2load("/v1/executions/%d/events?after_seq=%d&wait=30" % (self.x["e4"], last),
                                             40, clients=1, streams=40, http=http, token=self.tok["acme_r"])
                out["dt"] = time.monotonic() - t

            th = threading.Thread(target=load, daemon=True)
            th.start()
            time.sleep(1.0)
            self.c.ok(th.is_alive(), "h2load long polls (%s) wait" % proto)
            self.append("e4", "acme_w", {"type": "log", "message": "wake %s" % proto})
            th.join(40)
            res = out.get("res") or {}
            self.c.eq(res.get("2xx"), 40, "h2load: 40 long polls woken by one event over %s" % proto)
            self.c.ok(out.get("dt", 99) < 15, "h2load long polls (%s) ended well before their wait" % proto,
                      "%.1f s" % out.get("dt", 99))
        res = self.srv.h2load("/v1/executions/%d" % e1, 100, clients=4, http="1.1-tls", token=self.tok["acme_r"])
        self.c.eq((res.get("protocol"), res.get("2xx")), ("http/1.1", 100), "h2load: HTTP/1.1 over TLS (ALPN)")

    def t_limits(self):
        big = "x" * (70 * 1024)
        for http in ("1.1", "h2c"):
            try:
                r = self.req("GET", "/v1/executions/%d" % self.x["e1"], http, "acme_r", headers={"X-Big": big})
                self.c.ok(r.status in (400, 431), "a 70 KiB header is refused (%s)" % http, repr(r))
            except X.HarnessError as e:  # HTTP/2 may refuse it as a protocol error: also a refusal
                self.c.ok(http == "h2c", "a 70 KiB header is refused (%s)" % http, str(e))
        # a slow client: half a request, then nothing; the server hangs up after the idle timeout
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            t = time.monotonic()
            try:
                data = s.recv(4096)
            except socket.timeout:
                data = None
            dt = time.monotonic() - t
        self.c.ok(data is not None and dt < IDLE_MS / 1000 + 3, "a slow client is disconnected after the idle timeout",
                  "%r after %.1f s" % (data, dt))

    def t_protected_mode(self):
        port = X.free_port()
        d = tempfile.mkdtemp(prefix="protected-", dir=self.workdir)
        try:
            cp = subprocess.run([self.srv.binary, "--data.dir=" + d, "--listen=0.0.0.0:%d" % port],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30, cwd=d)
            log = cp.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            self.c.ok(False, "protected mode: execlogd refuses 0.0.0.0 without tokens", "it kept running")
            return
        self.c.ok(cp.returncode != 0, "protected mode: refuses to serve 0.0.0.0 without auth.tokens", log[-500:])
        self.c.ok("auth.tokens" in log and "loopback" in log, "protected mode: the log says why", log[-800:])
        self.c.ok("not authenticated" in log, "protected mode: says it runs unauthenticated", log[-800:])

    def t_sigterm(self):
        """
        Held answers end properly on SIGTERM; the page-token key survives the
        restart. A position from before the restart: reached at once on a
        cluster (the log is still there), past the end of the embedded
        broker's new, empty log.
        """
        before = (self.get("/v1/executions/%d" % self.x["e1"], "h2c", "acme_r").json or {}).get("position") or {}
        S = self.srv.sse("/v1/stream", "h2c", token=self.tok["admin"])
        S.wait(lambda s: len(s.comments) > 0, 10)
        out = {}

        def poll():
            out["poll"] = self.req("GET", "/v1/executions/%d/events?after_seq=1000&wait=30" % self.x["e1"], "1.1",
                                   "acme_r", timeout=30)

        def ryw():
            out["ryw"] = self.req("GET", "/v1/executions/%d?min_position=0:%d" % (self.x["e1"], 10 ** 12), "h2",
                                  "acme_r", timeout=30)

        ths = [threading.Thread(target=f, daemon=True) for f in (poll, ryw)]
        for th in ths:
            th.start()
        time.sleep(0.5)
        rc, dt = self.srv.stop()
        for th in ths:
            th.join(10)
        self.c.eq(rc, 0, "SIGTERM: exit status 0")
        self.c.ok(dt < 10, "SIGTERM: stopped in %.1f s" % dt)
        self.c.ok(S.wait_exit(5) == 0, "SIGTERM: the SSE stream ended cleanly (curl exit 0)")
        r = out.get("poll")
        self.c.ok(r is not None and r.status == 200 and (r.json or {}).get("items") == [],
                  "SIGTERM: the long poll got its (empty) answer", repr(r))
        r = out.get("ryw")
        if self.c.ok(r is not None, "SIGTERM: the min_position read got an answer"):
            self.problem(r, 503, "shutting-down", "SIGTERM: min_position read")
        self.srv.start()
        q, token, items = self.saved_token
        j = self.get(q + "&page_token=" + token, "h2c", "acme_r").json or {}
        self.c.ok(len(j.get("items") or []) == 1000 and j.get("items")[0] != items[0],
                  "a page token still works after a restart (the key is in the data directory)")
        self.c.eq(self.get("/v1/executions/%d" % self.x["e1"], "h2", "acme_r").json.get("status"), "warning",
                  "after the restart: the projections are there")
        if not self.c.ok(is_int(before.get("offset")) and before["offset"] > 0, "e1 has a position before the restart",
                         repr(before)):
            return
        t = time.monotonic()
        r = self.req("GET", "/v1/executions/%d?min_position=%d:%d" % (self.x["e1"], before["partition"],
                                                                      before["offset"]), "h2c", "acme_r")
        dt = time.monotonic() - t
        if X.on_cluster():
            self.c.json_answer(r, 200, "after the restart: min_position of a write from before it (cluster)")
            self.c.ok(dt < 1, "after the restart: a position from before it is reached at once (cluster)",
                      "%.2f s" % dt)
        else:
            self.problem(r, 400, "invalid-parameter", "after the restart: min_position from the previous run is past "
                                                      "the end of the embedded broker's new log")

    # ---- driver ---------------------------------------------------------------------------------

    def run(self):
        cert, key = X.make_cert(self.workdir)
        tokens = os.path.join(self.workdir, "tokens")
        with open(tokens, "w") as fp:
            fp.write("# test tokens: <sha256 of the token> <tenant|*> <role>\n")
            for name, (tenant, role) in TOKENS.items():
                fp.write("%s %s %s  # %s\n" % (X.token_hash(self.tok[name]), tenant, role, name))
        self.srv = X.Execlogd(self.args.execlogd, workdir=self.workdir, name="execlogd", tls=(cert, key),
                              args=["--auth.tokens=" + tokens, "--read.wait.max.ms=%d" % WAIT_MAX_MS,
                                    "--http.idle_timeout.ms=%d" % IDLE_MS, "--stream.keepalive.ms=1000"])
        try:
            self.c.phase = "start"
            self.srv.start()
            self.section("setup", self.setup_data)
            self.section("transport", self.t_transport)
            self.section("auth", self.t_auth)
            self.section("execution", self.t_execution)
            self.section("messages", self.t_messages)
            self.section("lineage", self.t_lineage)
            self.section("flows", self.t_flows)
            self.section("etlworks", self.t_etlworks)
            self.section("list", self.t_list)
            self.section("walk", self.t_walk)
            self.section("events", self.t_events)
            self.section("isolation", self.t_isolation)
            for http in HTTPS3:
                self.section("sse/%s" % http, self.t_sse, http)
            self.section("min_position", self.t_min_position)
            self.section("h2load", self.t_h2load)
            self.section("loops", self.t_loops)
            self.section("schemas_metrics", self.t_schemas_metrics)
            self.section("limits", self.t_limits)
            self.section("protected_mode", self.t_protected_mode)
            self.section("sigterm", self.t_sigterm)
        except Exception as e:  # noqa: BLE001 - e.g. execlogd does not start: a failure, never a crash
            self.c.ok(False, "harness", "%s: %s" % (type(e).__name__, e))
        finally:
            self.srv.kill()
        if self.c.failed:
            self.srv.dump_logs()
        if not self.c.failed or not self.args.keep:
            self.srv.cleanup()
            shutil.rmtree(self.workdir, ignore_errors=True)
        print("(%.1f s)" % (time.monotonic() - self.t_start))
        print("%d passed, %d failed" % (self.c.passed, self.c.failed), flush=True)
        return 0 if self.c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
