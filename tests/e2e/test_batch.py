#!/usr/bin/env python3
"""Black-box test of batch ingest (POST /v1/events) acknowledged on delivery.

Starts the real execlogd (embedded broker) with ingest.ack=delivered and
talks to it with curl over HTTP/1.1 and h2c. A batch mixes the common line
shape with unusual ones (escapes, spacing, negative and large integers,
duplicate keys, leading zeros, floats, unknown fields): each line's code and
answer values are checked, then what the projection made of the accepted
lines (metrics, messages, event IDs), then a repeated event_id and the
per-execution bounds.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402
from test_write_path import UUID_RE, Checks, is_int, now_ms  # noqa: E402

HTTPS = ("1.1", "h2c")
UNKNOWN_ID = 1  # never issued


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.setup(args, Checks())

    def batch(self, lines, http, what):
        r = self.srv.curl("POST", "/v1/events", "".join(line + "\n" for line in lines), http=http,
                          headers={"content-type": "application/x-ndjson"})
        self.c.json_answer(r, 200, what)
        return r.json or {}

    def get(self, path, http, what):
        r = self.srv.curl("GET", path, http=http)
        self.c.json_answer(r, 200, what)
        return r.json or {}

    def wait_events(self, a, n, http, what):
        """The state of a once the projection has applied n events (delivered does not wait for it)."""
        deadline = time.monotonic() + 15
        while True:
            r = self.srv.curl("GET", "/v1/executions/%d" % a, http=http)
            st = (r.json or {}) if r.status == 200 else {}
            if st.get("events", 0) >= n or time.monotonic() > deadline:
                self.c.json_answer(r, 200, what)
                self.c.eq(st.get("events"), n, "%s: events projected" % what)
                return st
            time.sleep(0.1)

    def problem(self, res, code, slug, what):
        p = res.get("problem") or {}
        self.c.eq((res.get("code"), p.get("status"), p.get("type")), (code, code, "urn:execlog:problem:" + slug),
                  "%s: code and problem" % what)
        return p

    # ---- sections --------------------------------------------------------------------

    def t_mixed(self, http):
        tag = "%s-%s" % (self.uniq, http.replace(".", ""))
        r = self.srv.curl("POST", "/v1/executions", {"flow_id": "batch-" + tag, "tenant_id": "acme"}, http=http)
        self.c.json_answer(r, 201, "create the target")
        a = (r.json or {}).get("audit_id")
        if not is_int(a):
            return
        self.wait_events(a, 1, http, "the target is projected")  # acknowledged on delivery: maybe not yet
        odd_eid = 'q"b\\s\t%s \u00e9' % tag  # needs escapes in the answer
        ev_eid = "ev-" + tag
        lines = [
            json.dumps({"flow_id": "batch-" + tag, "event_id": odd_eid, "tenant_id": "acme"}),
            json.dumps({"flow_id": "batch-" + tag, "parent_audit_id": a}),
            '{"audit_id":%d,"type":"progress","metrics":{"rows":1}}' % a,
            '{ "audit_id" : %d ,\t"type":"progress", "message":"half\\nway \\u00e9",'
            ' "metrics":{"neg":-5,"big":9007199254740993, "rows" : 2} }  ' % a,
            '{"audit_id": %d, "type":' % a,
            '{"audit_id":%d,"type":"log","type":"log"}' % a,
            '{"audit_id":%d,"type":"log","colour":"red"}' % a,
            '{"audit_id":%d,"type":"log"}' % UNKNOWN_ID,
            '{"audit_id":%d,"type":"log","event_id":"%s","message":"from a batch"}' % (a, ev_eid),
            '{"audit_id":%d,"type":"created"}' % a,
            '{"audit_id":%d,"type":"metrics","metrics":{"rows":1.5}}' % a,
            '{"audit_id":0%d,"type":"log"}' % a,
            '{"audit_id":%d,"type":"task_started","task":"t1","time":%d}' % (a, now_ms()),
        ]
        want = [201, 201, 202, 202, 400, 400, 422, 404, 202, 422, 422, 400, 202]
        j = self.batch(lines, http, "mixed batch")
        res = j.get("results") or []
        self.c.eq((j.get("accepted"), j.get("rejected")), (6, 7), "counts")
        self.c.eq([x.get("line") for x in res], list(range(1, len(lines) + 1)), "line numbers")
        self.c.eq([x.get("code") for x in res], want, "codes")
        if len(res) != len(lines):
            return
        c0, c1 = res[0], res[1]
        self.c.eq((c0.get("event_id"), c0.get("status"), c0.get("root_audit_id"), c0.get("parent_audit_id"),
                   c0.get("retries"), c0.get("seq")),
                  (odd_eid, "queued", c0.get("audit_id"), None, 0, 1),
                  "create with the client's event_id (answered from the projection): answer values")
        self.c.ok(is_int(c0.get("audit_id")) and c0["audit_id"] != a, "create: a new audit ID", repr(c0))
        self.c.eq((c1.get("root_audit_id"), c1.get("parent_audit_id"), c1.get("retries")), (a, a, 1),
                  "create naming its parent: lineage")
        for i in (0, 1, 2, 3, 8, 12):
            pos = res[i].get("position") or {}
            self.c.ok(is_int(pos.get("partition")) and is_int(pos.get("offset")) and pos["offset"] >= 0,
                      "line %d: position" % (i + 1), repr(res[i]))
        for i in (1, 2, 3, 8, 12):
            self.c.eq(res[i].get("seq", "absent"), None, "line %d: seq is null with ack delivered" % (i + 1))
        for i in (2, 3, 12):
            self.c.eq(res[i].get("audit_id"), a, "line %d: audit_id" % (i + 1))
            self.c.ok(UUID_RE.match(res[i].get("event_id") or ""), "line %d: a UUID event_id" % (i + 1),
                      repr(res[i]))
        self.c.eq(res[8].get("event_id"), ev_eid, "line 9: the client's event_id")
        self.problem(res[4], 400, "malformed-json", "line 5 (truncated)")
        self.problem(res[5], 400, "malformed-json", "line 6 (duplicate key)")
        p = self.problem(res[6], 422, "invalid-write", "line 7 (unknown field)")
        self.c.eq([e.get("field") for e in p.get("errors", [])], ["colour"], "line 7: errors")
        self.problem(res[7], 404, "not-found", "line 8 (unknown execution)")
        p = self.problem(res[9], 422, "invalid-write", "line 10 (type created)")
        self.c.eq([e.get("field") for e in p.get("errors", [])], ["type"], "line 10: errors")
        p = self.problem(res[10], 422, "invalid-write", "line 11 (a float metric)")
        self.c.eq([e.get("field") for e in p.get("errors", [])], ["metrics.rows"], "line 11: errors")
        self.problem(res[11], 400, "malformed-json", "line 12 (leading zero)")
        # what the projection made of the accepted appends: created + 4 appends
        st = self.wait_events(a, 5, http, "GET the target")
        self.c.eq(st.get("metrics"), {"rows": 2, "neg": -5, "big": 9007199254740993}, "metrics")
        self.c.eq(st.get("message"), "half\nway \u00e9", "the escaped message")
        h = self.get("/v1/executions/%d/events?limit=100" % a, http, "history")
        items = h.get("items", h.get("events", []))
        self.c.eq([e.get("type") for e in items if e.get("type") != "created"][:4] in
                  (["progress", "progress", "log", "task_started"],), True,
                  "history types")
        self.c.ok(any(e.get("event_id") == ev_eid for e in items), "history has the client's event_id",
                  repr(items)[:300])
        tasks = {t["name"] for t in self.get("/v1/executions/%d" % a, http, "GET tasks").get("tasks", [])}
        self.c.ok("t1" in tasks, "the task named in a batch line is tracked", repr(tasks))
        created = self.wait_events(c0["audit_id"], 1, http, "GET the created execution")
        self.c.eq((created.get("flow_id"), created.get("tenant_id")), ("batch-" + tag, "acme"), "created: fields")
        # the same event_id again: answered as the first time, with its seq now that it is projected
        j = self.batch([lines[8]], http, "repeat")
        r0 = (j.get("results") or [{}])[0]
        self.c.eq((r0.get("code"), r0.get("audit_id"), r0.get("event_id")), (202, a, ev_eid), "repeat: answer")
        self.c.ok(is_int(r0.get("seq")) and r0["seq"] >= 2, "repeat: seq of the archived event", repr(r0))
        self.c.eq(self.wait_events(a, 5, http, "GET after the repeat").get("events"), 5, "repeat: nothing new")

    def t_bounds(self, http):
        r = self.srv.curl("POST", "/v1/executions", {"flow_id": "bounds-" + self.uniq}, http=http)
        self.c.json_answer(r, 201, "create")
        a = (r.json or {}).get("audit_id")
        if not is_int(a):
            return
        self.wait_events(a, 1, http, "the execution is projected")
        full = json.dumps({"audit_id": a, "type": "metrics", "metrics": {"m%d" % i: i for i in range(256)}})
        one_more = json.dumps({"audit_id": a, "type": "metrics", "metrics": {"another": 1}})
        j = self.batch([full], http, "256 metric names")
        self.c.eq([x.get("code") for x in j.get("results", [])], [202], "256 names accepted")
        self.wait_events(a, 2, http, "GET after 256 names")
        j = self.batch([one_more], http, "one name more")
        p = self.problem((j.get("results") or [{}])[0], 422, "limit-exceeded", "the 257th name")
        self.c.ok("257 distinct metric names" in (p.get("detail") or ""), "detail counts the names", repr(p))
        # the size bound, each line checked against the projected state: 512 KiB, then ~960 KiB (just under
        # the bound, where the state is encoded to check it), then past 1 MiB
        big = "x" * 65536
        events = 2
        for n, (count, code) in enumerate(((8, 202), (7, 202), (2, 422))):
            line = json.dumps({"audit_id": a, "type": "progress",
                               "attributes": {"k%d-%d" % (n, i): big for i in range(count)}})
            res = (self.batch([line], http, "attributes %d" % n).get("results") or [{}])[0]
            self.c.eq(res.get("code"), code, "attributes line %d: code" % n)
            if code == 202:
                events += 1
                self.wait_events(a, events, http, "GET after attributes line %d" % n)
            else:
                p = self.problem(res, 422, "limit-exceeded", "the line past 1 MiB")
                self.c.ok("state would be" in (p.get("detail") or ""), "detail names the state size", repr(p))
        st = self.get("/v1/executions/%d" % a, http, "GET after the bound")
        self.c.eq((st.get("events"), len(st.get("attributes") or {})), (4, 15), "the refused line changed nothing")

    def run(self):
        self.srv = X.Execlogd(self.args.execlogd, name="execlogd", args=["--ingest.ack=delivered"])
        self.servers.append(self.srv)

        def body():
            self.c.phase = "start"
            self.srv.start()
            for http in HTTPS:
                self.section("mixed/%s" % http, self.t_mixed, http)
            self.section("bounds", self.t_bounds, "h2c")

        return self.conclude(self.servers, body)


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
