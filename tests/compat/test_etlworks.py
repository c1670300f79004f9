#!/usr/bin/python3
"""
Black-box suite: ETLWorks users switching to execlog ("Get flow status" API, driven with curl as its doc shows).

GET /rest/v1/executions/{flowId} and the legacy /plugins/dashboard/rest/v1/flows/{flowId}, with
Authorization: Bearer, ?auditId= and ?messageId= (empty means absent); every one of the 23 documented keys with
its documented type (null when unknown); a run that succeeded after a failed task attempt reports no exception;
bad input is a problem+json and changes nothing.

Usage: test_etlworks.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check and "N passed, N failed"; exits 1 on any failure.
"""

import json
import os
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import execlogd as X  # noqa: E402
from test_write_path import Checks, is_int  # noqa: E402

# the 23 keys of the ETLWorks document, and the JSON types each may take
KEYS = {"auditId": (int,), "parentAuditId": (int, type(None)), "retries": (int, type(None)), "flowId": (int,),
        "flowName": (str, type(None)), "eventId": (int, type(None)), "eventName": (str, type(None)),
        "messageId": (str, type(None)), "tenantId": (int, type(None)), "status": (str,),
        "triggerType": (str, type(None)), "startedBy": (str, type(None)), "started": (int,), "ended": (int, type(None)),
        "duration": (str, type(None)), "code": (str, type(None)), "exception": (str, type(None)),
        "warnings": (str, type(None)), "metrics": (list, type(None)), "fileMetrics": (list, type(None)),
        "errorLocationInSql": (int, type(None)), "fileName": (type(None),), "records": (int, type(None))}


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.workdir = tempfile.mkdtemp(prefix="xl-etlworks-")
        self.token = "etl-" + os.urandom(8).hex()
        self.flow = str(4000 + int.from_bytes(os.urandom(2), "little"))

    def req(self, method, path, body=None, token=True):
        return self.srv.curl(method, path, body, token=self.token if token else None)

    def write(self, a, ev):
        r = self.req("POST", "/v1/executions/%d/events" % a, ev)
        self.c.status(r, 202, "event %s" % ev.get("type"))

    def status_of(self, path, what):
        r = self.req("GET", path)
        if not self.c.json_answer(r, 200, what):
            return {}
        o = r.json
        self.c.eq(sorted(o.keys()), sorted(KEYS.keys()), "%s: exactly the 23 documented keys" % what)
        for k, types in KEYS.items():
            v = o.get(k)
            self.c.ok(type(v) in types and not isinstance(v, bool), "%s: %s has the documented type" % (what, k),
                      "%r" % (v,))
        return o

    def t_succeeded_after_failed_attempt(self):
        self.msg = str(uuid.uuid4())
        r = self.req("POST", "/v1/executions", {
            "flow_id": self.flow, "flow_name": "Load orders", "tenant_id": "17", "message_id": self.msg,
            "trigger_type": "flow.execution.scheduler", "started_by": "scheduler",
            "attributes": {"schedule_event_id": "88", "schedule_event_name": "nightly",
                           "code": "insert into orders select * from stage", "error_location": "12",
                           "file_metrics": json.dumps([{"fileName": "orders.csv", "records": 120}])}})
        self.c.json_answer(r, 201, "create")
        a = self.a1 = r.json["audit_id"]
        self.write(a, {"type": "started"})
        running = self.status_of("/rest/v1/executions/%s" % self.flow, "running")
        self.c.eq(running.get("status"), "running", "running: status")
        self.c.eq((running.get("ended"), running.get("duration")), (None, None), "running: no end, no duration")
        self.write(a, {"type": "task_started", "task": "load"})
        self.write(a, {"type": "task_failed", "task": "load", "error": {"class": "SQLException", "message": "lock"}})
        self.write(a, {"type": "task_started", "task": "load"})
        self.write(a, {"type": "task_finished", "task": "load"})
        self.write(a, {"type": "metrics", "metrics": {"records": 120, "files": 1}})
        self.write(a, {"type": "succeeded"})
        o = self.status_of("/rest/v1/executions/%s" % self.flow, "succeeded")
        self.c.eq(o.get("auditId"), a, "auditId")
        self.c.eq(o.get("flowId"), int(self.flow), "flowId is the long")
        self.c.eq(o.get("tenantId"), 17, "tenantId is a long")
        self.c.eq(o.get("eventId"), 88, "eventId")
        self.c.eq(o.get("eventName"), "nightly", "eventName")
        self.c.eq(o.get("messageId"), self.msg, "messageId")
        self.c.eq(o.get("status"), "success", "status success")
        self.c.eq(o.get("triggerType"), "flow.execution.scheduler", "triggerType")
        self.c.eq(o.get("startedBy"), "scheduler", "startedBy")
        self.c.eq(o.get("exception"), None, "a run that succeeded after a failed task attempt has no exception")
        self.c.eq(sorted((m["name"], m["value"]) for m in o.get("metrics") or []),
                  [("files", 1), ("records", 120)], "metrics is a list of the run's metrics")
        self.c.eq(o.get("fileMetrics"), [{"fileName": "orders.csv", "records": 120}], "fileMetrics")
        self.c.eq(o.get("code"), "insert into orders select * from stage", "code")
        self.c.eq(o.get("errorLocationInSql"), 12, "errorLocationInSql")
        self.c.ok(is_int(o.get("ended")) and o["ended"] >= o["started"], "ended after started", repr(o))
        self.c.ok(isinstance(o.get("duration"), str) and o["duration"] != "", "duration text", repr(o))
        legacy = self.status_of("/plugins/dashboard/rest/v1/flows/%s" % self.flow, "legacy path")
        self.c.eq(legacy, o, "the legacy path answers the same document")
        self.c.eq(self.status_of("/rest/v1/executions/%s?messageId=" % self.flow, "empty messageId"), o,
                  "an empty messageId is absent")
        self.c.eq(self.status_of("/rest/v1/executions/%s?auditId=" % self.flow, "empty auditId"), o,
                  "an empty auditId is absent")

    def t_failed_and_lookup(self):
        r = self.req("POST", "/v1/executions", {"flow_id": self.flow, "started_by": "alice",
                                                "trigger_type": "flow.execution.on.demand"})
        a2 = r.json["audit_id"]
        self.write(a2, {"type": "started"})
        self.write(a2, {"type": "warning", "warnings": ["slow source"]})
        self.write(a2, {"type": "failed", "error": {"class": "IOException", "message": "disk full",
                                                     "stack": "at load()"}})
        o = self.status_of("/rest/v1/executions/%s" % self.flow, "latest is the failed run")
        self.c.eq(o.get("auditId"), a2, "latest run")
        self.c.eq(o.get("status"), "error", "failed is error")
        self.c.eq(o.get("exception"), "IOException: disk full\nat load()", "exception: class, message, stack")
        self.c.eq(o.get("warnings"), "slow source", "warnings")
        self.c.eq((o.get("eventId"), o.get("eventName"), o.get("tenantId"), o.get("metrics"), o.get("fileMetrics")),
                  (None, None, None, None, None), "unknown values are null")
        by_audit = self.status_of("/rest/v1/executions/%s?auditId=%d" % (self.flow, self.a1), "by auditId")
        self.c.eq(by_audit.get("auditId"), self.a1, "?auditId= picks that run")
        by_msg = self.status_of("/rest/v1/executions/%s?messageId=%s" % (self.flow, self.msg), "by messageId")
        self.c.eq(by_msg.get("auditId"), self.a1, "?messageId= picks the run of that message")
        # a retry of the failed run: parentAuditId and retries
        r = self.req("POST", "/v1/executions/%d/retry" % a2, {})
        a3 = r.json["audit_id"]
        o = self.status_of("/rest/v1/executions/%s?auditId=%d" % (self.flow, a3), "retry")
        self.c.eq((o.get("parentAuditId"), o.get("retries")), (a2, 1), "a retry: parentAuditId and retries")

    def t_native_fields(self):
        """The executor writes the ETLWorks fields natively (schema version 2) rather than as attributes."""
        r = self.req("POST", "/v1/executions", {"flow_id": self.flow, "flow_name": "Load orders",
                                                "schedule_event_id": 4711, "schedule_event_name": "hourly",
                                                "started_by": "scheduler"})
        a = r.json["audit_id"]
        self.write(a, {"type": "started"})
        self.write(a, {"type": "progress", "file_metrics": [{"name": "in/a.csv", "metrics": {"records": 7}}]})
        self.write(a, {"type": "failed", "code": "update t set x = 1 where", "error_location": 3,
                       "error": {"class": "SQLSyntaxErrorException", "message": "near where"}})
        o = self.status_of("/rest/v1/executions/%s?auditId=%d" % (self.flow, a), "native fields")
        self.c.eq((o.get("eventId"), o.get("eventName")), (4711, "hourly"), "eventId and eventName")
        self.c.eq((o.get("code"), o.get("errorLocationInSql")), ("update t set x = 1 where", 3),
                  "code and errorLocationInSql")
        self.c.eq(o.get("fileMetrics"), [{"fileName": "in/a.csv", "records": 7}], "fileMetrics")
        self.c.eq(o.get("exception"), "SQLSyntaxErrorException: near where", "exception")

    def t_bad_input(self):
        before = self.req("GET", "/v1/executions?flow_id=%s" % self.flow).json
        r = self.req("GET", "/rest/v1/executions/%s?auditId=abc" % self.flow)
        self.c.problem(r, 400, "invalid-parameter", "auditId that is no number")
        r = self.req("GET", "/rest/v1/executions/%s?auditId=%d" % ("999999", self.a1))
        self.c.problem(r, 404, "not-found", "auditId of another flow")
        r = self.req("GET", "/rest/v1/executions/%s?messageId=%s" % (self.flow, uuid.uuid4()))
        self.c.problem(r, 404, "not-found", "unknown messageId")
        r = self.req("GET", "/rest/v1/executions/424242424")
        self.c.problem(r, 404, "not-found", "unknown flow")
        r = self.req("GET", "/rest/v1/executions/%s?bogus=1" % self.flow)
        self.c.problem(r, 400, "unknown-parameter", "unknown parameter")
        r = self.req("GET", "/rest/v1/executions/%s" % self.flow, token=False)
        self.c.problem(r, 401, "unauthorized", "no bearer token (ETLWorks: 401)")
        r = self.req("POST", "/rest/v1/executions/%s" % self.flow, {})
        self.c.problem(r, 405, "method-not-allowed", "POST on the status route")
        self.c.eq(self.req("GET", "/v1/executions?flow_id=%s" % self.flow).json, before, "bad input changed nothing")

    def run(self):
        tokens = os.path.join(self.workdir, "tokens")
        with open(tokens, "w") as fp:
            fp.write("%s * admin\n" % X.token_hash(self.token))
        self.srv = X.Execlogd(self.args.execlogd, workdir=self.workdir, name="execlogd",
                              args=["--auth.tokens=" + tokens])
        def body():
            self.c.phase = "start"
            self.srv.start()
            self.section("succeeded after a failed attempt", self.t_succeeded_after_failed_attempt)
            self.section("failed run and lookups", self.t_failed_and_lookup)
            self.section("native version-2 fields", self.t_native_fields)
            self.section("bad input", self.t_bad_input)

        return self.conclude([self.srv], body)


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
