#!/usr/bin/python3
"""
Black-box suite: Civis Platform users switching to execlog (workflow executions, driven with curl as the Civis
API reference shows: /workflows/{id}/executions..., Authorization: Bearer).

Start an execution (input, included_tasks), the executor reports through /v1 (tasks failing and retried), then
the Civis views: the execution with its tasks and each task's runs (one per attempt, newest first), one task by
name, the list with limit/page_num/order/order_dir and the X-Pagination headers, cancel, resume of a paused
execution, retry of a failed one. Errors are problem+json carrying Civis's {"error","errorDescription","code"};
bad input writes nothing.

Usage: test_civis.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check and "N passed, N failed"; exits 1 on any failure.
"""

import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import execlogd as X  # noqa: E402
from test_write_path import Checks  # noqa: E402

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SUMMARY_KEYS = {"id", "state", "mistral_state", "mistral_state_info", "user", "started_at", "finished_at",
                "created_at", "updated_at"}
EXECUTION_KEYS = SUMMARY_KEYS | {"definition", "input", "included_tasks", "tasks"}
RUN_KEYS = {"id", "job_id", "my_permission_level", "state", "created_at", "started_at", "finished_at"}


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.workdir = tempfile.mkdtemp(prefix="xl-civis-")
        self.token = "civis-" + os.urandom(8).hex()
        self.wf = str(1000 + int.from_bytes(os.urandom(2), "little"))

    def req(self, method, path, body=None, token=True):
        return self.srv.curl(method, path, body, token=self.token if token else None)

    def events(self, a, *evs):
        for ev in evs:
            r = self.req("POST", "/v1/executions/%d/events" % a, ev)
            self.c.status(r, 202, "executor event %s" % ev.get("type"))

    def start(self, body=None):
        r = self.req("POST", "/workflows/%s/executions" % self.wf, body if body is not None else {})
        self.c.json_answer(r, 201, "start")
        return r.json or {}

    def get(self, a, what):
        r = self.req("GET", "/workflows/%s/executions/%d" % (self.wf, a))
        self.c.json_answer(r, 200, what)
        return r.json or {}

    def civis_error(self, r, status, what, slug=None):
        self.c.problem(r, status, slug or {400: "invalid-body", 404: "not-found"}[status], what)
        p = r.json or {}
        self.c.eq(p.get("code"), status, "%s: Civis code" % what)
        self.c.ok(isinstance(p.get("error"), str) and isinstance(p.get("errorDescription"), str),
                  "%s: Civis error and errorDescription" % what, repr(p))

    def count(self):
        r = self.req("GET", "/v1/executions?flow_id=%s&limit=1000" % self.wf)
        return len((r.json or {}).get("items", []))

    # ---- sections ----------------------------------------------------------------------

    def t_execution_tasks_runs(self):
        e = self.start({"input": {"region": "eu", "n": 2}, "included_tasks": ["extract", "load"]})
        self.c.ok(isinstance(e.get("id"), int) and e["id"] > 0, "start: id is an integer", repr(e))
        self.c.eq(set(e.keys()), EXECUTION_KEYS, "start: the execution's documented keys")
        self.c.eq((e.get("state"), e.get("input"), e.get("included_tasks")),
                  ("queued", {"region": "eu", "n": 2}, ["extract", "load"]), "start: state, input, included_tasks")
        a = self.a = e["id"]
        self.c.eq(self.req("GET", "/v1/executions/%d" % a).json.get("flow_id"), self.wf, "native: workflow is flow_id")
        self.events(a, {"type": "started"},
                    {"type": "task_started", "task": "extract"}, {"type": "task_finished", "task": "extract"},
                    {"type": "task_started", "task": "load"},
                    {"type": "task_failed", "task": "load", "error": {"class": "DBError", "message": "deadlock"}},
                    {"type": "task_started", "task": "load", "message": "second try"})
        g = self.get(a, "get")
        self.c.eq(set(g.keys()), EXECUTION_KEYS, "get: the documented keys")
        self.c.eq((g.get("state"), g.get("mistral_state")), ("running", "running"), "get: running")
        self.c.ok(ISO.match(g.get("started_at") or ""), "get: started_at is a time", repr(g.get("started_at")))
        self.c.eq(g.get("finished_at"), None, "get: not finished")
        tasks = {t["name"]: t for t in g.get("tasks", [])}
        self.c.eq(sorted(tasks), ["extract", "load"], "get: the tasks")
        self.c.eq(tasks.get("extract", {}).get("mistral_state"), "success", "extract: success")
        load = tasks.get("load", {})
        self.c.eq(load.get("mistral_state"), "running", "load: running again")
        runs = load.get("runs", [])
        self.c.eq([r.get("id") for r in runs], [2, 1], "load: one run per attempt, newest first")
        self.c.eq([r.get("state") for r in runs], ["running", "failed"], "load: the runs' states")
        self.c.ok(all(RUN_KEYS <= set(r) for r in runs), "load: runs have the documented keys", repr(runs))
        self.c.ok(runs and ISO.match(runs[-1].get("finished_at") or ""), "load: the failed run has its end",
                  repr(runs))
        self.c.eq(runs[-1].get("error") if runs else None, "deadlock", "load: the failed run's error")
        self.c.eq(runs[0].get("finished_at") if runs else 0, None, "load: the running run has no end")
        t = self.req("GET", "/workflows/%s/executions/%d/tasks/load" % (self.wf, a))
        self.c.json_answer(t, 200, "task by name")
        self.c.eq(t.json, load, "task by name: the same task")
        self.events(a, {"type": "task_finished", "task": "load"}, {"type": "succeeded"})
        g = self.get(a, "get after success")
        self.c.eq((g.get("state"), g.get("mistral_state")), ("succeeded", "success"), "succeeded: state")
        self.c.ok(ISO.match(g.get("finished_at") or ""), "succeeded: finished_at", repr(g))

    def t_list(self):
        ids = [self.start().get("id") for _ in range(5)]
        allids = [self.a] + ids
        r = self.req("GET", "/workflows/%s/executions" % self.wf)
        self.c.status(r, 200, "list")
        self.c.ok(isinstance(r.json, list), "list: a JSON array", repr(r))
        self.c.eq([x.get("id") for x in r.json or []], sorted(allids, reverse=True), "list: by id, descending")
        self.c.ok(all(set(x) == SUMMARY_KEYS for x in r.json or []), "list: the documented keys", "")
        self.c.eq(r.header("x-pagination-total-entries"), "6", "list: X-Pagination-Total-Entries")
        r = self.req("GET", "/workflows/%s/executions?limit=2&page_num=2&order=created_at&order_dir=asc" % self.wf)
        self.c.eq([x.get("id") for x in r.json or []], allids[2:4], "list: limit, page_num, order, order_dir")
        self.c.eq((r.header("x-pagination-current-page"), r.header("x-pagination-per-page"),
                   r.header("x-pagination-total-pages")), ("2", "2", "3"), "list: X-Pagination headers")
        r = self.req("GET", "/workflows/%s/executions?order=name" % self.wf)
        self.civis_error(r, 400, "list: bad order", "invalid-parameter")
        r = self.req("GET", "/workflows/%s/executions?limit=51" % self.wf)
        self.c.problem(r, 400, "invalid-parameter", "list: limit above 50")
        r = self.req("GET", "/workflows/no-such-workflow/executions")
        self.c.eq((r.status, r.json, r.header("x-pagination-total-entries")), (200, [], "0"), "list: unknown workflow")
        self.ids = ids

    def t_control(self):
        a = self.ids[0]
        self.events(a, {"type": "started"}, {"type": "paused"})
        self.c.eq(self.get(a, "paused").get("state"), "paused", "paused: state")
        r = self.req("POST", "/workflows/%s/executions/%d/resume" % (self.wf, a))
        self.c.json_answer(r, 200, "resume")
        self.c.eq((r.json or {}).get("state"), "running", "resume: answer")
        self.c.eq(self.get(a, "resumed").get("state"), "running", "resume: read back")
        r = self.req("POST", "/workflows/%s/executions/%d/cancel" % (self.wf, a))
        self.c.json_answer(r, 200, "cancel")
        self.c.eq(self.req("GET", "/v1/executions/%d" % a).json.get("status"), "cancelling", "cancel: cancelling")
        self.events(a, {"type": "cancelled"})
        self.c.eq(self.get(a, "cancelled").get("state"), "cancelled", "cancelled: state")
        r = self.req("POST", "/workflows/%s/executions/%d/cancel" % (self.wf, a))
        self.c.json_answer(r, 200, "cancel again: a repeat of the request that holds")
        self.c.eq((r.json or {}).get("state"), "cancelled", "cancel again: the execution as it is")
        r = self.req("POST", "/workflows/%s/executions/%d/cancel" % (self.wf, self.a))
        self.c.status(r, 409, "cancel of a succeeded execution")
        self.c.eq(r.content_type, "application/problem+json", "cancel of a succeeded execution: problem+json")
        # retry of the failed tasks of a failed execution: the same execution runs them again
        b = self.ids[1]
        self.events(b, {"type": "started"}, {"type": "task_started", "task": "ok"},
                    {"type": "task_finished", "task": "ok"}, {"type": "task_started", "task": "flaky"},
                    {"type": "task_failed", "task": "flaky", "error": {"class": "E", "message": "x"}},
                    {"type": "failed", "error": {"class": "E", "message": "flaky failed"}})
        self.c.eq(self.get(b, "failed").get("state"), "failed", "failed: state")
        r = self.req("POST", "/workflows/%s/executions/%d/retry" % (self.wf, b), {"task_name": "flaky"})
        self.c.json_answer(r, 200, "retry")
        self.c.eq(((r.json or {}).get("id"), (r.json or {}).get("state")), (b, "running"),
                  "retry: the same execution runs again")
        g = self.get(b, "after retry")
        tasks = {t["name"]: t for t in g.get("tasks", [])}
        self.c.eq(tasks.get("flaky", {}).get("mistral_state"), "waiting", "retry: the failed task waits again")
        self.c.eq(tasks.get("ok", {}).get("mistral_state"), "success", "retry: the task that succeeded stays so")
        self.events(b, {"type": "task_started", "task": "flaky"}, {"type": "task_finished", "task": "flaky"},
                    {"type": "succeeded"})
        g = self.get(b, "after the retried task")
        flaky = {t["name"]: t for t in g.get("tasks", [])}.get("flaky", {})
        self.c.eq([(x.get("id"), x.get("state")) for x in flaky.get("runs", [])], [(2, "succeeded"), (1, "failed")],
                  "retry: the task's runs")
        self.c.eq(g.get("state"), "succeeded", "retry: the execution succeeded")
        r = self.req("POST", "/workflows/%s/executions/%d/retry" % (self.wf, self.ids[3]))
        self.c.status(r, 409, "retry of an execution without failed tasks")
        r = self.req("POST", "/workflows/%s/executions/%d/resume" % (self.wf, self.ids[3]), {"task_name": "x"})
        self.civis_error(r, 400, "task_name on resume")

    def t_bad_input(self):
        n = self.count()
        r = self.req("GET", "/workflows/%s/executions/%d/tasks/nope" % (self.wf, self.a))
        self.civis_error(r, 404, "unknown task")
        r = self.req("GET", "/workflows/other/executions/%d" % self.a)
        self.civis_error(r, 404, "execution of another workflow")
        r = self.req("GET", "/workflows/%s/executions/999999" % self.wf)
        self.civis_error(r, 404, "unknown execution")
        r = self.req("POST", "/workflows/%s/executions" % self.wf, "{nope")
        self.civis_error(r, 400, "body that is no JSON")
        r = self.req("POST", "/workflows/%s/executions" % self.wf, {"input": [1, 2]})
        self.civis_error(r, 400, "input that is no object")
        r = self.req("POST", "/workflows/%s/executions" % self.wf, {"included_tasks": [1]})
        self.civis_error(r, 400, "included_tasks that are no strings")
        r = self.req("POST", "/workflows/other/executions/%d/cancel" % self.ids[2])
        self.civis_error(r, 404, "cancel through another workflow")
        r = self.req("GET", "/workflows/%s/executions" % self.wf, token=False)
        self.c.problem(r, 401, "unauthorized", "no token")
        self.c.eq(self.count(), n, "bad input wrote nothing")
        self.c.eq(self.req("GET", "/v1/executions/%d" % self.ids[2]).json.get("status"), "queued",
                  "the execution is untouched")

    def run(self):
        tokens = os.path.join(self.workdir, "tokens")
        with open(tokens, "w") as fp:
            fp.write("%s * admin\n" % X.token_hash(self.token))
        self.srv = X.Execlogd(self.args.execlogd, workdir=self.workdir, name="execlogd",
                              args=["--auth.tokens=" + tokens])
        def body():
            self.c.phase = "start"
            self.srv.start()
            self.a, self.ids = 0, [0, 0, 0]
            self.section("execution, tasks, runs", self.t_execution_tasks_runs)
            self.section("list", self.t_list)
            self.section("cancel, resume, retry", self.t_control)
            self.section("bad input", self.t_bad_input)

        return self.conclude([self.srv], body)


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
