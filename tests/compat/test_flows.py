#!/usr/bin/python3
"""
Black-box suite: users of a Flows product (flows of steps with depends_on, skipped steps, a latest run per flow)
switching to execlog, driven with curl: GET /v1/flows lists every flow with its counts and latest run, paged,
and each flow's steps from its latest run's plan (name, type, depends_on, is_skipped).

The executor plans the steps on create (`steps`), runs them through /v1, and fails before the last one runs:
that step is skipped. Paging walks every flow exactly once; a tenant sees its own flows only; bad input is a
problem+json and writes nothing.

Usage: test_flows.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check and "N passed, N failed"; exits 1 on any failure.
"""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import execlogd as X  # noqa: E402
from test_write_path import Checks  # noqa: E402

PLAN = [{"name": "extract", "type": "Export"},
        {"name": "transform", "type": "Process", "depends_on": ["extract"]},
        {"name": "load", "type": "Import", "depends_on": ["transform"]}]


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.workdir = tempfile.mkdtemp(prefix="xl-flows-")
        self.tok = {"admin": "fl-admin-" + os.urandom(6).hex(), "acme": "fl-acme-" + os.urandom(6).hex()}

    def req(self, method, path, body=None, who="admin"):
        return self.srv.curl(method, path, body, token=self.tok[who] if who else None)

    def run_flow(self, flow, tenant, outcome, plan=None, name=None):
        body = {"flow_id": flow, "tenant_id": tenant}
        if plan is not None:
            body["steps"] = plan
        if name is not None:
            body["flow_name"] = name
        r = self.req("POST", "/v1/executions", body)
        self.c.json_answer(r, 201, "create %s" % flow)
        a = r.json["audit_id"]
        evs = [{"type": "started"}]
        if plan is not None:
            evs += [{"type": "task_started", "task": "extract"}, {"type": "task_finished", "task": "extract"},
                    {"type": "task_started", "task": "transform"},
                    {"type": "task_failed", "task": "transform", "error": {"class": "E", "message": "bad row"}}]
        evs.append({"type": outcome} if outcome != "failed" else
                   {"type": "failed", "error": {"class": "E", "message": "transform failed"}})
        for ev in evs:
            self.c.status(self.req("POST", "/v1/executions/%d/events" % a, ev), 202, "event %s" % ev["type"])
        return a

    def flows(self, query="", who="admin"):
        r = self.req("GET", "/v1/flows" + query, who=who)
        self.c.json_answer(r, 200, "GET /v1/flows%s" % query)
        return r.json or {}

    def t_latest_and_steps(self):
        self.run_flow("nightly-etl", "acme", "succeeded", PLAN, "Nightly ETL")
        self.last = self.run_flow("nightly-etl", "acme", "failed", PLAN, "Nightly ETL")
        for i in range(3):
            self.run_flow("report-%d" % i, "globex", "succeeded")
        body = self.flows()
        items = {f["flow_id"]: f for f in body.get("items", [])}
        self.c.eq(sorted(items), ["nightly-etl", "report-0", "report-1", "report-2"], "every flow, once")
        f = items.get("nightly-etl", {})
        self.c.eq((f.get("id"), f.get("name"), f.get("total")), ("nightly-etl", "Nightly ETL", 2),
                  "flow: id, name, total")
        self.c.eq((f.get("by_status", {}).get("succeeded"), f.get("by_status", {}).get("failed")), (1, 1),
                  "flow: counts by status")
        self.c.eq(f.get("success_rate"), 0.5, "flow: success rate")
        lr = f.get("latest_run") or {}
        self.c.eq((lr.get("audit_id"), lr.get("status")), (self.last, "failed"), "flow: the latest run")
        self.c.eq((f.get("latest") or {}).get("audit_id"), self.last, "flow: the latest run's state")
        steps = {s["name"]: s for s in f.get("steps", [])}
        self.c.eq(f.get("steps_count"), 3, "flow: steps_count")
        self.c.eq({n: (s.get("type"), s.get("depends_on")) for n, s in steps.items()},
                  {"extract": ("Export", []), "transform": ("Process", ["extract"]), "load": ("Import", ["transform"])},
                  "steps: type and depends_on from the plan")
        self.c.eq({n: (s.get("status"), s.get("is_skipped")) for n, s in steps.items()},
                  {"extract": ("succeeded", False), "transform": ("failed", False), "load": ("skipped", True)},
                  "steps: the step that never ran is skipped")
        one = self.req("GET", "/v1/flows/nightly-etl").json or {}
        self.c.eq((one.get("total"), one.get("latest_audit_id")), (f.get("total"), f.get("latest_audit_id")),
                  "the list agrees with GET /v1/flows/{flow_id}")

    def t_paging(self):
        for i in range(7):
            self.run_flow("batch-%02d" % i, "acme", "succeeded")
        seen, token, pages = [], None, 0
        while pages < 20:
            body = self.flows("?limit=3" + ("&page_token=" + token if token else ""))
            seen += [f["flow_id"] for f in body.get("items", [])]
            self.c.ok(len(body.get("items", [])) <= 3, "a page holds at most limit flows", repr(len(seen)))
            token = body.get("next_page_token")
            pages += 1
            if token is None:
                break
        self.c.eq(sorted(seen), sorted(set(seen)), "paging: no flow twice")
        self.c.eq(len(seen), 11, "paging: every flow (4 + 7)")
        self.c.eq(pages, 4, "paging: 11 flows by 3 make 4 pages")
        acme = self.flows(who="acme")
        self.c.eq(sorted(f["flow_id"] for f in acme.get("items", [])),
                  sorted(["nightly-etl"] + ["batch-%02d" % i for i in range(7)]), "a tenant's token: its flows")
        self.c.eq(self.flows("?tenant_id=globex", who="acme").get("items"), [], "a tenant's token: no other tenant")
        g = self.flows("?tenant_id=globex")
        self.c.eq(sorted(f["flow_id"] for f in g.get("items", [])), ["report-0", "report-1", "report-2"],
                  "tenant_id filter")

    def t_bad_input(self):
        n = len(self.req("GET", "/v1/executions?limit=1000").json.get("items", []))
        self.c.problem(self.req("GET", "/v1/flows?limit=0"), 400, "invalid-parameter", "limit 0")
        self.c.problem(self.req("GET", "/v1/flows?limit=abc"), 400, "invalid-parameter", "limit abc")
        self.c.problem(self.req("GET", "/v1/flows?page_token=zz"), 400, "invalid-parameter", "page_token not hex")
        self.c.problem(self.req("GET", "/v1/flows?sort=name"), 400, "unknown-parameter", "unknown parameter")
        self.c.problem(self.req("GET", "/v1/flows", who=None), 401, "unauthorized", "no token")
        self.c.problem(self.req("POST", "/v1/flows", {}), 405, "method-not-allowed", "POST /v1/flows")
        self.c.eq(len(self.req("GET", "/v1/executions?limit=1000").json.get("items", [])), n, "nothing written")

    def run(self):
        tokens = os.path.join(self.workdir, "tokens")
        with open(tokens, "w") as fp:
            fp.write("%s * admin\n%s acme reader\n" % (X.token_hash(self.tok["admin"]), X.token_hash(self.tok["acme"])))
        self.srv = X.Execlogd(self.args.execlogd, workdir=self.workdir, name="execlogd",
                              args=["--auth.tokens=" + tokens])
        def body():
            self.c.phase = "start"
            self.srv.start()
            self.section("latest run and steps", self.t_latest_and_steps)
            self.section("paging and tenants", self.t_paging)
            self.section("bad input", self.t_bad_input)

        return self.conclude([self.srv], body)


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
