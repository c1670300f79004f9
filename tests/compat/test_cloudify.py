#!/usr/bin/python3
"""
Black-box suite: Cloudify users switching to execlog, driven through Cloudify's own REST client.

The real execlogd (tokens enabled) serves /api/v3.1 (the client's default) and /api/v3; every call goes through
cloudify_rest_client.CloudifyClient from PyPI (cloudify-common, pinned in tests/requirements.txt):
executions.start/get/list/cancel/update, _include, _offset/_size/_sort, filters, the Tenant header,
metadata.pagination, errors raised as CloudifyClientError with Cloudify's error_code, auth by token= (the
Authentication-Token header) and by username/password (Basic, the token as password). What the client wrote is
read back from the native /v1 routes with curl: the two views are one projection.

Usage: test_cloudify.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check and "N passed, N failed"; exits 1 on any failure.
"""

import base64
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import execlogd as X  # noqa: E402
from test_write_path import Checks  # noqa: E402

from cloudify_rest_client import CloudifyClient  # noqa: E402
from cloudify_rest_client.exceptions import CloudifyClientError  # noqa: E402

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EXECUTION_FIELDS = {"id", "workflow_id", "blueprint_id", "deployment_id", "status", "error", "created_at",
                    "created_by", "tenant_name", "parameters", "is_system_workflow"}


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.workdir = tempfile.mkdtemp(prefix="xl-cfy-")
        self.tok = {"admin": "cfy-admin-" + os.urandom(6).hex(), "acme": "cfy-acme-" + os.urandom(6).hex(),
                    "reader": "cfy-reader-" + os.urandom(6).hex()}
        self.servers = []  # every execlogd of the run: stopped, cleaned up at the end
        self.dep = "dep-%x" % (int(time.time() * 1000) & 0xFFFFFF)

    def client(self, token=None, tenant=None, api_version="v3.1", **kw):
        return CloudifyClient(host="127.0.0.1", port=self.srv.port, protocol="http", api_version=api_version,
                              token=token, tenant=tenant, **kw)

    def raises(self, fn, status, code, what):
        try:
            got = fn()
        except CloudifyClientError as e:
            self.c.eq(e.status_code, status, "%s: status" % what)
            if code is not None:
                self.c.eq(e.error_code, code, "%s: error_code" % what)
            return e
        self.c.ok(False, "%s: raises CloudifyClientError" % what, "returned %r" % (got,))
        return None

    def native(self, audit_id):
        r = self.srv.curl("GET", "/v1/executions/%s" % audit_id, token=self.tok["admin"])
        self.c.json_answer(r, 200, "native read of %s" % audit_id)
        return r.json or {}

    def total(self):
        r = self.srv.curl("GET", "/v1/executions?limit=1000", token=self.tok["admin"])
        return len((r.json or {}).get("items", []))

    # ---- sections ------------------------------------------------------------------

    def t_start_get(self):
        cl = self.client(token=self.tok["admin"], tenant="acme")
        e = cl.executions.start(deployment_id=self.dep, workflow_id="install", parameters={"n": 3, "x": "y"})
        self.c.ok(isinstance(e.id, str) and e.id.isdigit(), "start: id is the audit ID as a string", repr(e.id))
        self.c.eq(e.status, "pending", "start: a new execution is pending")
        self.c.eq(e.deployment_id, self.dep, "start: deployment_id")
        self.c.eq(e.workflow_id, "install", "start: workflow_id")
        self.c.eq(e.parameters, {"n": 3, "x": "y"}, "start: parameters")
        self.c.eq(e["tenant_name"], "acme", "start: tenant_name from the Tenant header")
        self.c.ok(ISO.match(e.created_at or ""), "start: created_at is an ISO 8601 datetime", repr(e.created_at))
        self.start_id = e.id
        g = cl.executions.get(e.id)
        self.c.ok(EXECUTION_FIELDS <= set(g.keys()), "get: every documented field", repr(sorted(g.keys())))
        self.c.eq(g.error, "", "get: error is an empty string before any failure")
        self.c.eq(g.is_system_workflow, False, "get: is_system_workflow is a boolean")
        self.c.eq(g.created_at, e.created_at, "get: created_at as started")
        self.c.eq(g.parameters, {"n": 3, "x": "y"}, "get: parameters")
        n = self.native(e.id)
        self.c.eq(n.get("flow_id"), self.dep, "native: deployment_id is flow_id")
        self.c.eq(n.get("flow_name"), "install", "native: workflow_id is flow_name")
        self.c.eq(n.get("tenant_id"), "acme", "native: tenant_name is tenant_id")
        self.c.eq(n.get("status"), "queued", "native: pending is queued")
        only = cl.executions.get(e.id, _include=["id", "status"])
        self.c.eq(dict(only), {"id": e.id, "status": "pending"}, "get: _include keeps only the named fields")
        # the v3 path answers the same
        g3 = self.client(token=self.tok["admin"], api_version="v3").executions.get(e.id)
        self.c.eq(g3.deployment_id, self.dep, "/api/v3: same execution")

    def t_lifecycle(self):
        cl = self.client(token=self.tok["admin"])
        e = cl.executions.start(deployment_id=self.dep, workflow_id="scale")
        u = cl.executions.update(e.id, "started")
        self.c.eq(u.status, "started", "update started: answer")
        self.c.eq(cl.executions.get(e.id).status, "started", "update started: read back")
        self.c.ok(ISO.match(cl.executions.get(e.id).started_at or ""), "started_at set", "")
        u = cl.executions.update(e.id, "failed", error="boom: disk full")
        self.c.eq(u.status, "failed", "update failed: answer")
        g = cl.executions.get(e.id)
        self.c.eq(g.status, "failed", "update failed: read back")
        self.c.eq(g.error, "boom: disk full", "update failed: error is the message")
        n = self.native(e.id)
        self.c.eq((n.get("error") or {}).get("message"), "boom: disk full", "native: the error")
        self.c.eq(n.get("status"), "failed", "native: failed")
        # cancel, then force-cancel
        e2 = cl.executions.start(deployment_id=self.dep, workflow_id="uninstall")
        cl.executions.update(e2.id, "started")
        c1 = cl.executions.cancel(e2.id)
        self.c.eq(c1.status, "cancelling", "cancel: cancelling")
        self.c.eq(self.native(e2.id).get("status"), "cancelling", "cancel: native cancelling")
        c2 = cl.executions.cancel(e2.id, force=True)
        self.c.eq(c2.status, "cancelled", "force-cancel: cancelled")
        self.c.eq(cl.executions.get(e2.id).status, "cancelled", "force-cancel: read back")
        # resume of a paused execution; force-resume retries the failed tasks of a failed one
        e4 = cl.executions.start(deployment_id=self.dep, workflow_id="update")
        self.srv.curl("POST", "/v1/executions/%s/events" % e4.id, {"type": "started"}, token=self.tok["admin"])
        self.srv.curl("POST", "/v1/executions/%s/pause" % e4.id, {}, token=self.tok["admin"])
        self.c.eq(self.native(e4.id).get("status"), "paused", "paused through the native control route")
        self.c.eq(cl.executions.resume(e4.id).status, "started", "resume: started again")
        self.c.eq(self.native(e4.id).get("status"), "running", "resume: native running")
        for ev in ({"type": "task_started", "task": "node_a"},
                   {"type": "task_failed", "task": "node_a", "error": {"class": "E", "message": "ssh timeout"}},
                   {"type": "failed", "error": {"class": "E", "message": "node_a failed"}}):
            self.srv.curl("POST", "/v1/executions/%s/events" % e4.id, ev, token=self.tok["admin"])
        self.c.eq(cl.executions.get(e4.id).status, "failed", "failed before force-resume")
        self.c.eq(cl.executions.resume(e4.id, force=True).status, "started", "force-resume: started again")
        n = self.native(e4.id)
        self.c.eq([(t.get("name"), t.get("status")) for t in n.get("tasks", [])], [("node_a", "waiting")],
                  "force-resume: the failed task waits for its retry")
        # terminated; a cancel of an ended execution is refused and changes nothing
        e3 = cl.executions.start(deployment_id=self.dep, workflow_id="heal")
        cl.executions.update(e3.id, "started")
        cl.executions.update(e3.id, "terminated")
        self.c.eq(cl.executions.get(e3.id).status, "terminated", "terminated: read back")
        self.c.eq(cl.executions.get(e3.id)["status_display"], "completed", "terminated: status_display")
        before = self.native(e3.id).get("events")
        self.raises(lambda: cl.executions.cancel(e3.id), 409, None, "cancel of an ended execution")
        self.c.eq(self.native(e3.id).get("events"), before, "refused cancel wrote nothing")

    def t_list(self):
        cl = self.client(token=self.tok["admin"])
        dep = self.dep + "-list"
        ids = [cl.executions.start(deployment_id=dep, workflow_id="install" if i % 2 else "uninstall").id
               for i in range(7)]
        cl.executions.update(ids[0], "started")
        lst = cl.executions.list(deployment_id=dep)
        self.c.eq(lst.metadata.pagination.total, 7, "list: pagination.total")
        self.c.eq(sorted(x.id for x in lst), sorted(ids), "list: the deployment's executions")
        page = cl.executions.list(deployment_id=dep, _offset=2, _size=3, sort="created_at")
        self.c.eq([x.id for x in page], ids[2:5], "list: _offset/_size over created_at order")
        self.c.eq((page.metadata.pagination.offset, page.metadata.pagination.size, page.metadata.pagination.total),
                  (2, 3, 7), "list: metadata.pagination offset, size, total")
        desc = cl.executions.list(deployment_id=dep, sort="created_at", is_descending=True, _size=2)
        self.c.eq([x.id for x in desc], [ids[6], ids[5]], "list: _sort=-created_at")
        wf = cl.executions.list(deployment_id=dep, workflow_id="install")
        self.c.eq(sorted(x.id for x in wf), sorted(ids[1::2]), "list: workflow_id filter")
        self.c.eq(wf.metadata.pagination.total, 3, "list: total counts the filtered set")
        st = cl.executions.list(deployment_id=dep, status="started")
        self.c.eq([x.id for x in st], [ids[0]], "list: status filter")
        inc = cl.executions.list(deployment_id=dep, _include=["id"], _size=1)
        self.c.eq([set(x.keys()) for x in inc], [{"id"}], "list: _include")
        self.raises(lambda: cl.executions.list(_include=["nope"]), 400, "no_such_include_field_error",
                    "list: _include of an unknown field")
        self.raises(lambda: cl.executions.list(sort="workflow_id"), 400, "bad_parameters_error", "list: bad _sort")
        self.raises(lambda: cl.executions.list(status="exploded"), 400, "bad_parameters_error", "list: bad status")
        self.raises(lambda: cl.executions.list(_size=5000), 400, None, "list: _size above 1000")
        self.raises(lambda: cl.executions.list(_offset=-1), 400, None, "list: negative _offset")
        self.raises(lambda: cl.executions.list(blueprint="x"), 400, None, "list: a filter Cloudify executions lack")

    def t_tenants_auth(self):
        acme = self.client(token=self.tok["acme"])  # a token confined to tenant acme
        e = acme.executions.start(deployment_id=self.dep + "-t", workflow_id="install")
        self.c.eq(acme.executions.get(e.id)["tenant_name"], "acme", "confined token: its tenant is stamped")
        mine = acme.executions.list()
        self.c.ok(len(mine) >= 1 and all(x["tenant_name"] == "acme" for x in mine),
                  "confined token: lists its tenant's executions only", repr([x["tenant_name"] for x in mine]))
        self.c.eq(mine.metadata.pagination.total, len(mine), "confined token: total counts what it may see")
        other = self.client(token=self.tok["admin"], tenant="globex")
        self.raises(lambda: other.executions.get(e.id), 404, "not_found_error",
                    "Tenant header of another tenant: not found")
        self.c.eq(len(other.executions.list(deployment_id=self.dep + "-t")), 0, "Tenant header scopes the list")
        mine = self.client(token=self.tok["admin"], tenant="acme")
        self.c.eq([x.id for x in mine.executions.list(deployment_id=self.dep + "-t")], [e.id],
                  "Tenant header: that tenant's executions")
        # Basic auth, the token as password
        basic = self.client(username="anyone", password=self.tok["admin"])
        self.c.eq(basic.executions.get(e.id).id, e.id, "Basic auth with the token as password")
        self.raises(lambda: self.client(token="wrong").executions.get(e.id), 401, None, "a wrong token: 401")
        self.raises(lambda: self.client().executions.list(), 401, None, "no credentials: 401")
        rd = self.client(token=self.tok["reader"])
        self.c.eq(rd.executions.get(e.id).id, e.id, "a reader reads")
        n = self.total()
        self.raises(lambda: rd.executions.start(deployment_id="d", workflow_id="w"), 403, None,
                    "a reader cannot start")
        self.c.eq(self.total(), n, "the refused start wrote nothing")

    def t_curl_as_documented(self):
        """The requests of Cloudify's documentation (curl, Tenant header, -u user:password, ?_include=id)."""
        basic = "Basic " + base64.b64encode(("admin:" + self.tok["admin"]).encode()).decode()
        h = {"Tenant": "acme", "Authorization": basic}
        r = self.srv.curl("POST", "/api/v3/executions?_include=id",
                          {"deployment_id": self.dep + "-doc", "workflow_id": "install"}, headers=h)
        self.c.json_answer(r, 201, "documented start")
        self.c.eq(list((r.json or {}).keys()), ["id"], "documented start: _include=id")
        eid = (r.json or {}).get("id")
        r = self.srv.curl("GET", "/api/v3/executions/%s?_include=id" % eid, headers=h, http="h2c")
        self.c.eq((r.status, r.json), (200, {"id": eid}), "documented get over h2c")
        r = self.srv.curl("POST", "/api/v3/executions/%s?_include=id" % eid,
                          {"deployment_id": self.dep + "-doc", "action": "cancel"}, headers=h)
        self.c.eq((r.status, r.json), (200, {"id": eid}), "documented cancel")
        r = self.srv.curl("PATCH", "/api/v3/executions/%s?_include=id,status" % eid, {"status": "cancelled"},
                          headers=h)
        self.c.eq((r.status, r.json), (200, {"id": eid, "status": "cancelled"}), "documented update")
        r = self.srv.curl("GET", "/api/v3/executions?_include=id&deployment_id=%s-doc" % self.dep, headers=h)
        self.c.eq(r.json, {"items": [{"id": eid}], "metadata": {"pagination": {"total": 1, "offset": 0,
                                                                                  "size": 1000}}},
                  "documented list")
        n = self.total()
        r = self.srv.curl("POST", "/api/v3/executions?_include=nope",
                          {"deployment_id": self.dep + "-doc", "workflow_id": "install"}, headers=h)
        self.c.problem(r, 400, "invalid-parameter", "start with a bad _include")
        self.c.eq(self.total(), n, "a start with a bad _include wrote nothing")

    def t_acked_before_projected(self):
        """ingest.ack=delivered: a write is answered before the projection holds it; the answer is what it leads to."""
        srv = X.Execlogd(self.args.execlogd, name="delivered", args=["--ingest.ack=delivered"])
        self.servers.append(srv)
        srv.start()
        cl = CloudifyClient(host="127.0.0.1", port=srv.port, protocol="http", tenant="acme")
        e = cl.executions.start(deployment_id="d-delivered", workflow_id="install", parameters={"k": "v"})
        self.c.ok(e.id and e.id.isdigit(), "delivered: start answers the new id", repr(e.id))
        self.c.eq((e.status, e.deployment_id, e.workflow_id, e.parameters, e["tenant_name"]),
                  ("pending", "d-delivered", "install", {"k": "v"}, "acme"), "delivered: start answers the request")
        got = None
        for _ in range(100):  # bounded: the projector catches up
            try:
                got = cl.executions.get(e.id)
                break
            except CloudifyClientError:
                time.sleep(0.05)
        self.c.eq(got.status if got else None, "pending", "delivered: then readable")
        u = cl.executions.update(e.id, "started")
        self.c.eq(u.status, "started", "delivered: update answers the status it leads to")
        c = cl.executions.cancel(e.id)
        self.c.eq(c.status, "cancelling", "delivered: cancel answers cancelling")
        rc, _ = srv.stop()
        self.c.eq(rc, 0, "delivered: SIGTERM exit status")

    def t_bad_input(self):
        cl = self.client(token=self.tok["admin"])
        n = self.total()
        self.raises(lambda: cl.executions.get("999999"), 404, "not_found_error", "get of an unknown id")
        self.raises(lambda: cl.executions.get("not-a-number"), 404, None, "get of a malformed id")
        self.raises(lambda: cl.executions.start(deployment_id="", workflow_id="install"), 400,
                    "bad_parameters_error", "start without deployment_id")
        self.raises(lambda: cl.executions.update(self.start_id, "exploded"), 400,
                    "invalid_exception_status_update", "update to an unknown status")
        r = self.srv.curl("POST", "/api/v3.1/executions/%s" % self.start_id, {"action": "explode"},
                          token=self.tok["admin"])
        self.c.problem(r, 400, "invalid-body", "an unknown action")
        self.c.eq((r.json or {}).get("error_code"), "bad_parameters_error", "unknown action: Cloudify error_code")
        self.c.ok("explode" in (r.json or {}).get("message", ""), "unknown action: Cloudify message", repr(r.json))
        r = self.srv.curl("POST", "/api/v3.1/executions", "{not json", token=self.tok["admin"])
        self.c.problem(r, 400, "invalid-body", "a body that is no JSON")
        r = self.srv.curl("GET", "/api/v2/executions", token=self.tok["admin"])
        self.c.problem(r, 404, "no-route", "an API version not served")
        self.c.eq(self.total(), n, "bad input wrote nothing")
        self.c.eq(self.native(self.start_id).get("status"), "queued", "the execution is untouched")

    # ---- driver ---------------------------------------------------------------------

    def run(self):
        tokens = os.path.join(self.workdir, "tokens")
        with open(tokens, "w") as fp:
            fp.write("%s * admin\n%s acme writer\n%s * reader\n" % (
                X.token_hash(self.tok["admin"]), X.token_hash(self.tok["acme"]), X.token_hash(self.tok["reader"])))
        self.srv = X.Execlogd(self.args.execlogd, workdir=self.workdir, name="execlogd",
                              args=["--auth.tokens=" + tokens])
        def body():
            self.c.phase = "start"
            self.srv.start()
            self.start_id = None
            self.section("start and get", self.t_start_get)
            self.section("lifecycle", self.t_lifecycle)
            self.section("list", self.t_list)
            self.section("tenants and auth", self.t_tenants_auth)
            self.section("curl as documented", self.t_curl_as_documented)
            self.section("bad input", self.t_bad_input)
            self.section("acknowledged before projected", self.t_acked_before_projected)

        self.servers.insert(0, self.srv)
        return self.conclude(self.servers, body)


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
