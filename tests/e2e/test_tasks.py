#!/usr/bin/env python3
"""Black-box test of the task model, the control routes and the call-tree reads.

Starts the real execlogd (embedded broker) and talks to it with curl over
HTTP/1.1 and h2c: task runs (a failed task retried within its execution),
structured input/output surviving that retry, message vs log lines, the
control routes and their idempotent repeats, tree filters with
grandchildren, field selection, and the bounds of the new fields.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402
from test_write_path import Checks, is_int  # noqa: E402

HTTPS = ("1.1", "h2c")


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.setup(args, Checks())

    def post(self, path, body, http, want, what):
        r = self.srv.curl("POST", path, body, http=http)
        self.c.json_answer(r, want, what)
        return r.json or {}

    def get(self, path, http, what):
        r = self.srv.curl("GET", path, http=http)
        self.c.json_answer(r, 200, what)
        return r.json or {}

    def create(self, body, http, what):
        return self.post("/v1/executions", body, http, 201, what).get("audit_id")

    def ev(self, a, body, http, what, want=202):
        return self.post("/v1/executions/%d/events" % a, body, http, want, what)

    # ---- sections --------------------------------------------------------------------

    def t_runs(self, http):
        a = self.create({"flow_id": "tasks-" + self.uniq, "input": {"rows": [1, 2], "mode": "full"},
                         "steps": [{"name": "extract", "type": "sql"},
                                   {"name": "load", "depends_on": ["extract"]}]}, http, "create with a plan")
        if not is_int(a):
            return
        st = self.get("/v1/executions/%d" % a, http, "GET planned")
        self.c.eq(st.get("input"), {"rows": [1, 2], "mode": "full"}, "input is a JSON value")
        self.c.eq([(t["name"], t["status"], t["type"], t["depends_on"]) for t in st.get("tasks", [])],
                  [("extract", "waiting", "sql", []), ("load", "waiting", None, ["extract"])], "planned steps wait")
        self.ev(a, {"type": "task_started", "task": "extract", "input": {"q": "select 1"}}, http, "start 1")
        self.ev(a, {"type": "task_failed", "task": "extract", "error": {"class": "Timeout", "message": "slow"}},
                http, "fail 1")
        self.ev(a, {"type": "progress", "message": "retrying extract"}, http, "status message")
        self.ev(a, {"type": "log", "message": "attempt 1 timed out", "log": "line a\nline b"}, http, "log line")
        self.ev(a, {"type": "task_started", "task": "extract"}, http, "start 2")
        self.ev(a, {"type": "task_finished", "task": "extract", "output": [10, 20]}, http, "finish 2")
        self.ev(a, {"type": "task_started", "task": "load"}, http, "start load")
        self.ev(a, {"type": "succeeded", "output": {"loaded": 20}}, http, "succeeded")
        st = self.get("/v1/executions/%d" % a, http, "GET after")
        self.c.eq(st.get("status"), "succeeded", "status")
        self.c.eq(st.get("error"), None, "a recovered task leaves no execution error")
        self.c.eq(st.get("message"), "retrying extract", "the log line is not the status message")
        self.c.eq(st.get("output"), {"loaded": 20}, "output is a JSON value")
        tasks = {t["name"]: t for t in st.get("tasks", [])}
        ex = tasks.get("extract", {})
        self.c.eq((ex.get("status"), ex.get("attempts"), ex.get("input"), ex.get("output")),
                  ("succeeded", 2, {"q": "select 1"}, [10, 20]), "extract: input survives the retry")
        runs = ex.get("runs") or []
        self.c.eq([(r["attempt"], r["status"], (r["error"] or {}).get("class")) for r in runs],
                  [(2, "succeeded", None), (1, "failed", "Timeout")], "extract: two runs, newest first")
        self.c.ok(all(is_int(r["started"]) and is_int(r["ended"]) for r in runs), "runs have times", repr(runs))
        ld = tasks.get("load", {})
        self.c.eq((ld.get("status"), is_int(ld.get("ended"))), ("cancelled", True),
                  "a task still running when the execution ended is closed cancelled")
        h = self.get("/v1/executions/%d/events?limit=100" % a, http, "history")
        logs = [e for e in h.get("items", h.get("events", [])) if e.get("type") == "log"]
        self.c.eq([(e.get("message"), e.get("log")) for e in logs], [("attempt 1 timed out", "line a\nline b")],
                  "history keeps the log line")
        # a new attempt of the whole execution takes the same input
        r = self.post("/v1/executions/%d/retry" % a, {}, http, 201, "retry the execution")
        if is_int(r.get("audit_id")):
            st2 = self.get("/v1/executions/%d" % r["audit_id"], http, "GET the new attempt")
            self.c.eq((st2.get("input"), st2.get("parent_audit_id")), ({"rows": [1, 2], "mode": "full"}, a),
                      "input survives an execution retry")
        # an end before the start is refused
        b = self.create({"flow_id": "tasks-" + self.uniq}, http, "create 2")
        if is_int(b):
            self.ev(b, {"type": "started", "time": 2000000000000}, http, "started 2")
            r = self.srv.curl("POST", "/v1/executions/%d/events" % b, {"type": "succeeded", "time": 1999999995000},
                              http=http)
            self.c.status(r, 422, "an end before the start is refused")
            self.c.eq(self.get("/v1/executions/%d" % b, http, "GET 2").get("status"), "running", "nothing changed")

    def t_controls(self, http):
        flow = "ctl-%s-%s" % (self.uniq, http.replace(".", ""))
        # an executor follows the users' requests on the stream
        S = self.srv.sse("/v1/stream?flow_id=%s&type=pause_requested,resume_requested,force_cancel_requested,"
                         "retry_requested,cancel_requested" % flow, http)
        try:
            self.c.ok(S.wait(lambda s: len(s.comments) > 0, 10), "SSE connected")
            self._controls(flow, http, S)
        finally:
            S.close()

    def _controls(self, flow, http, S):
        a = self.create({"flow_id": flow}, http, "create")
        if not is_int(a):
            return
        self.ev(a, {"type": "started"}, http, "started")
        p1 = self.post("/v1/executions/%d/pause" % a, None, http, 202, "pause")
        p2 = self.post("/v1/executions/%d/pause" % a, None, http, 202, "pause again")
        self.c.eq((p2.get("event_id"), p2.get("seq")), (p1.get("event_id"), p1.get("seq")), "pause repeat: same answer")
        st = self.get("/v1/executions/%d" % a, http, "GET paused")
        self.c.eq((st.get("status"), st.get("anomalies"), st.get("events")), ("paused", 0, 3), "paused once")
        self.c.eq((st.get("control") or {}).get("type"), "pause_requested", "control recorded")
        self.post("/v1/executions/%d/resume" % a, None, http, 202, "resume")
        self.ev(a, {"type": "task_started", "task": "t"}, http, "task start")
        self.ev(a, {"type": "task_failed", "task": "t", "error": {"class": "E", "message": "m"}}, http, "task fail")
        self.ev(a, {"type": "failed", "error": {"class": "E", "message": "t failed"}}, http, "failed")
        r = self.srv.curl("POST", "/v1/executions/%d/retry-failed-tasks" % a, {"task": "nope"}, http=http)
        self.c.status(r, 422, "retry of a task the execution does not have")
        r = self.srv.curl("POST", "/v1/executions/%d/pause" % a, {"task": "t"}, http=http)
        self.c.status(r, 422, "only retry-failed-tasks names a task")
        r1 = self.post("/v1/executions/%d/retry-failed-tasks" % a, {"task": "t"}, http, 202, "retry failed tasks")
        r2 = self.post("/v1/executions/%d/retry-failed-tasks" % a, None, http, 202, "retry again")
        self.c.eq(r2.get("event_id"), r1.get("event_id"), "retry repeat: same answer")
        st = self.get("/v1/executions/%d" % a, http, "GET retried")
        self.c.eq((st.get("status"), st.get("ended"), st.get("error"), st.get("anomalies")),
                  ("running", None, None, 0), "running again")
        self.c.eq([(t["name"], t["status"]) for t in st.get("tasks", [])], [("t", "waiting")], "failed task waits")
        self.post("/v1/executions/%d/force-cancel" % a, None, http, 202, "force-cancel")
        f2 = self.post("/v1/executions/%d/force-cancel" % a, None, http, 202, "force-cancel again")
        st = self.get("/v1/executions/%d" % a, http, "GET cancelled")
        self.c.eq((st.get("status"), st.get("anomalies")), ("cancelled", 0), "force-cancelled, no anomaly")
        self.c.eq(f2.get("seq"), st.get("events"), "force-cancel repeat names the last event")
        r = self.srv.curl("POST", "/v1/executions/%d/pause" % a, None, http=http)
        self.c.status(r, 409, "pause after the end")
        self.c.eq(r.content_type, "application/problem+json", "409 is problem+json")
        S.wait_events(4)
        S.drain(0.5)
        got = [e["data"].get("type") for e in S.events if isinstance(e.get("data"), dict)]
        self.c.eq(got, ["pause_requested", "resume_requested", "retry_requested", "force_cancel_requested"],
                  "the stream carries each request once (repeats write nothing)")

    def t_tree(self, http):
        top = self.create({"flow_id": "tree-" + self.uniq}, http, "top")
        if not is_int(top):
            return
        kid = self.create({"flow_id": "tree-" + self.uniq, "parent_execution_id": top}, http, "child")
        grand = self.create({"flow_id": "tree-" + self.uniq, "parent_execution_id": kid}, http, "grandchild")
        other = self.create({"flow_id": "tree-" + self.uniq}, http, "another tree")
        lst = self.get("/v1/executions?top_execution_id=%d&order_by=created" % top, http, "list by top")
        self.c.eq([i["audit_id"] for i in lst.get("items", [])], [top, kid, grand], "the whole tree")
        lst = self.get("/v1/executions?parent_execution_id=%d" % top, http, "list by parent")
        self.c.eq([i["audit_id"] for i in lst.get("items", [])], [kid], "direct children only")
        self.c.ok(other not in [i["audit_id"] for i in lst.get("items", [])], "other tree left out")
        st = self.get("/v1/executions/%d?fields=audit_id,status,top_execution_id" % grand, http, "fields")
        self.c.eq(st, {"audit_id": grand, "status": "queued", "top_execution_id": top}, "selected fields only")
        lst = self.get("/v1/executions?top_execution_id=%d&fields=audit_id" % top, http, "list fields")
        self.c.eq(sorted(lst.get("items", []), key=lambda i: i["audit_id"]),
                  sorted([{"audit_id": x} for x in (top, kid, grand)], key=lambda i: i["audit_id"]),
                  "list: selected fields only")

    def t_trace_and_ids(self, http):
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        flow = "9007199254740993"  # 2^53 + 1: not exact as a JSON number
        r = self.srv.curl("POST", "/v1/executions", {"flow_id": flow}, http=http, headers={"traceparent": tp})
        if not self.c.json_answer(r, 201, "create with a traceparent"):
            return
        a = r.json["audit_id"]
        h = self.get("/v1/executions/%d/events" % a, http, "history")
        items = h.get("items", h.get("events", []))
        self.c.eq([e.get("traceparent") for e in items], [tp], "the traceparent is in the event")
        j = self.get("/rest/v1/executions/%s?auditId=%d" % (flow, a), http, "ETLWorks status")
        self.c.eq(j.get("flowId"), flow, "a flow ID above 2^53-1 is a string")
        b = self.create({"flow_id": "9007199254740991"}, http, "create 2")
        j = self.get("/rest/v1/executions/9007199254740991?auditId=%d" % b, http, "ETLWorks status 2")
        self.c.eq(j.get("flowId"), 9007199254740991, "2^53-1 is still a number")

    def t_bounds(self, http):
        big = {"x": "y" * 70000}
        r = self.srv.curl("POST", "/v1/executions", {"flow_id": "b", "input": big}, http=http)
        self.c.status(r, 422, "input above 64 KiB")
        r = self.srv.curl("POST", "/v1/executions", {"flow_id": "b", "steps": [{"name": "a", "depends_on": ["z"]}]},
                          http=http)
        self.c.status(r, 422, "depends_on outside the plan")
        r = self.srv.curl("POST", "/v1/executions", {"flow_id": "b", "steps": [{"name": "a"}] * 2}, http=http)
        self.c.status(r, 422, "repeated step names")

    def run(self):
        self.srv = X.Execlogd(self.args.execlogd, name="execlogd")
        self.servers.append(self.srv)
        def body():
            self.c.phase = "start"
            self.srv.start()
            for http in HTTPS:
                self.section("runs/%s" % http, self.t_runs, http)
                self.section("controls/%s" % http, self.t_controls, http)
                self.section("tree/%s" % http, self.t_tree, http)
                self.section("bounds/%s" % http, self.t_bounds, http)
                self.section("trace/%s" % http, self.t_trace_and_ids, http)

        return self.conclude(self.servers, body)


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
