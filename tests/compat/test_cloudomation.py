#!/usr/bin/python3
"""
Black-box suite: Cloudomation users switching to execlog. Cloudomation's Execution object (flow_api.Execution:
parent/children/top, pause and run, cancel, message, log, input_value/output_value, get_dict with fields) is
served by the /v1 routes; each method maps to one call, driven here with curl:

  Execution.parent() / children() / top()      parent_execution_id; GET /v1/executions?parent_execution_id= ;
                                                top_execution_id, GET /v1/executions?top_execution_id=
  pause() / run() (resume) / cancel()           POST /v1/executions/{id}/pause, /resume, /cancel, /force-cancel
  message(text) / log(text)                     an event's message (the status message) / its log (history only)
  input_value / output_value / set_output()     input on create / output on an event
  is_paused, status                             status == "paused", status
  get_dict(fields)                              ?fields=

Bad input is a problem+json and changes nothing.

Usage: test_cloudomation.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check and "N passed, N failed"; exits 1 on any failure.
"""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import execlogd as X  # noqa: E402
from test_write_path import Checks  # noqa: E402


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.workdir = tempfile.mkdtemp(prefix="xl-cloudomation-")
        self.token = "cm-" + os.urandom(8).hex()

    def req(self, method, path, body=None, http="1.1"):
        return self.srv.curl(method, path, body, token=self.token, http=http)

    def create(self, flow, **kw):
        body = {"flow_id": flow, "flow_name": flow}
        body.update(kw)
        r = self.req("POST", "/v1/executions", body)
        self.c.json_answer(r, 201, "create %s" % flow)
        return (r.json or {}).get("audit_id")

    def event(self, a, ev, want=202):
        r = self.req("POST", "/v1/executions/%d/events" % a, ev)
        self.c.status(r, want, "event %s" % ev.get("type"))
        return r

    def get(self, a, query=""):
        r = self.req("GET", "/v1/executions/%d%s" % (a, query), http="h2c")
        self.c.json_answer(r, 200, "get %d%s" % (a, query))
        return r.json or {}

    def ids(self, query):
        r = self.req("GET", "/v1/executions?" + query)
        self.c.json_answer(r, 200, "list ?" + query)
        return sorted(x["audit_id"] for x in (r.json or {}).get("items", []))

    def t_tree(self):
        top = self.top = self.create("deploy-app", input={"env": "prod", "replicas": 3})
        self.event(top, {"type": "started"})
        c1 = self.create("provision-vm", parent_execution_id=top)
        c2 = self.create("configure-dns", parent_execution_id=top)
        g1 = self.create("install-agent", parent_execution_id=c1)
        self.tree = (top, c1, c2, g1)
        self.c.eq(self.get(top).get("input"), {"env": "prod", "replicas": 3}, "input_value: the structured input")
        self.c.eq(self.get(g1).get("parent_execution_id"), c1, "parent(): parent_execution_id")
        self.c.eq(self.get(g1).get("top_execution_id"), top, "top(): a grandchild's top")
        self.c.eq(self.get(top).get("top_execution_id"), top, "top(): an execution without a caller is its own")
        self.c.eq(self.ids("parent_execution_id=%d" % top), sorted([c1, c2]), "children(): the direct children")
        self.c.eq(self.ids("top_execution_id=%d" % top), sorted([top, c1, c2, g1]),
                  "execution_list_top_execution_id: the whole tree")
        lin = self.req("GET", "/v1/executions/%d/lineage" % top).json or {}
        self.c.eq(sorted(x["audit_id"] for x in lin.get("children", [])), sorted([c1, c2]), "lineage: children")

    def t_pause_message_log(self):
        top, c1, c2, g1 = self.tree
        self.event(c1, {"type": "started", "message": "creating the VM"})
        self.event(c1, {"type": "progress", "message": "VM up, 50%", "log": "vm-17 answered ping"})
        self.event(c1, {"type": "log", "message": "disk attached"})
        st = self.get(c1)
        self.c.eq(st.get("message"), "VM up, 50%", "message(): the status message, not a log line")
        h = self.req("GET", "/v1/executions/%d/events" % c1).json or {}
        text = repr(h)
        self.c.ok("vm-17 answered ping" in text and "disk attached" in text, "log(): the lines are in the history",
                  text[:300])
        r = self.req("POST", "/v1/executions/%d/pause" % c1, {})
        self.c.json_answer(r, 202, "pause()")
        self.c.eq(self.get(c1).get("status"), "paused", "is_paused: status paused")
        r2 = self.req("POST", "/v1/executions/%d/pause" % c1, {})
        self.c.json_answer(r2, 202, "pause() again")
        self.c.eq((r2.json or {}).get("seq"), (r.json or {}).get("seq"), "pause() again: a repeat, nothing new")
        r = self.req("POST", "/v1/executions/%d/resume" % c1, {})
        self.c.json_answer(r, 202, "run(): resume")
        self.c.eq(self.get(c1).get("status"), "running", "resumed: running")
        self.event(c1, {"type": "succeeded", "output": {"vm": "vm-17", "ip": "10.0.0.7"}, "message": "done"})
        st = self.get(c1)
        self.c.eq((st.get("status"), st.get("output")), ("succeeded", {"vm": "vm-17", "ip": "10.0.0.7"}),
                  "set_output(): output_value")
        sel = self.get(c1, "?fields=audit_id,status,message,output")
        self.c.eq(sel, {"audit_id": c1, "status": "succeeded", "message": "done",
                        "output": {"vm": "vm-17", "ip": "10.0.0.7"}}, "get_dict(fields)")

    def t_cancel_error(self):
        top, c1, c2, g1 = self.tree
        self.event(c2, {"type": "started"})
        self.event(c2, {"type": "failed", "error": {"class": "DnsError", "message": "zone locked"}})
        self.c.eq((self.get(c2).get("error") or {}).get("message"), "zone locked", "error(): the error")
        self.event(g1, {"type": "started"})
        r = self.req("POST", "/v1/executions/%d/cancel" % g1, {})
        self.c.json_answer(r, 202, "cancel()")
        self.c.eq(self.get(g1).get("status"), "cancelling", "cancel(): cancelling until the executor stops")
        r = self.req("POST", "/v1/executions/%d/force-cancel" % g1, {})
        self.c.json_answer(r, 202, "force-cancel")
        self.c.eq(self.get(g1).get("status"), "cancelled", "force-cancel: cancelled")
        self.c.eq(self.ids("top_execution_id=%d&status=cancelled,failed" % top), sorted([c2, g1]),
                  "the tree filtered by status")

    def t_bad_input(self):
        top, c1, c2, g1 = self.tree
        before = self.get(c1)
        r = self.req("POST", "/v1/executions/%d/pause" % c1, {})
        self.c.problem(r, 409, "already-ended", "pause() of an ended execution")
        self.c.problem(self.req("GET", "/v1/executions?parent_execution_id=abc"), 400, "invalid-parameter",
                       "parent_execution_id that is no ID")
        self.c.problem(self.req("POST", "/v1/executions", {"flow_id": "x", "parent_execution_id": "abc"}), 422,
                       "invalid-write", "a child whose parent is no ID", fields=("parent_execution_id",))
        self.c.eq(self.get(c1), before, "bad input changed nothing")

    def run(self):
        tokens = os.path.join(self.workdir, "tokens")
        with open(tokens, "w") as fp:
            fp.write("%s * admin\n" % X.token_hash(self.token))
        self.srv = X.Execlogd(self.args.execlogd, workdir=self.workdir, name="execlogd",
                              args=["--auth.tokens=" + tokens])
        def body():
            self.c.phase = "start"
            self.srv.start()
            self.tree = (0, 0, 0, 0)
            self.section("parent, children, top", self.t_tree)
            self.section("pause, message, log, output", self.t_pause_message_log)
            self.section("cancel and error", self.t_cancel_error)
            self.section("bad input", self.t_bad_input)

        return self.conclude([self.srv], body)


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
