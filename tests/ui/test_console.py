#!/usr/bin/python3
"""
End-to-end test of the web console (/ui/): the real execlogd serving the files
built into it, checked with curl (routes, media types, ETags, the bytes of
every file of api/www/ui/), then driven in headless Chromium by
console.test.mjs (playwright-core, Debian's /usr/bin/chromium) against data
seeded here through the API: one execlogd without tokens, one with a tokens
file (a wrong token must show the 401).

Usage: test_console.py --execlogd PATH --src REPO_ROOT --screenshots DIR [-v] [--keep]
Prints one line per failed check and "N passed, N failed" (this file's checks
and the browser's together); exits 1 on any failure.
"""

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import execlogd as X  # noqa: E402
from test_write_path import Checks, is_int, now_ms  # noqa: E402

NODE = shutil.which("node") or "/usr/bin/node"
CHROMIUM = "/usr/bin/chromium"  # console.test.mjs launches it
BROWSER_TIMEOUT = 240  # seconds for the whole browser run
TOKENS = {"admin": ("*", "admin"), "acme_r": ("acme", "reader")}
FLOW = "nightly-load"
DURATIONS = [100 * (i + 1) for i in range(20)]  # the batch-made executions of FLOW, ms


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.workdir = tempfile.mkdtemp(prefix="xl-ui-")
        self.tok = {name: secrets.token_hex(20) for name in TOKENS}
        self.t0 = now_ms() - 3600 * 1000
        self.x = {}  # name -> audit ID
        self.batch = []  # the audit IDs of the batch-made executions
        self.open = self.secure = None

    # ---- helpers ------------------------------------------------------------------------------

    def write(self, srv, method, path, body, want, what, token=None, ctype=None):
        r = srv.curl(method, path, body, http="h2c", token=token,
                     headers={"content-type": ctype} if ctype else None)
        self.c.json_answer(r, want, what)
        return r.json or {}

    def create(self, name, body, srv=None, token=None):
        j = self.write(srv or self.open, "POST", "/v1/executions", body, 201, "create %s" % name, token)
        self.x[name] = j.get("audit_id")
        return j

    def append(self, name, body, srv=None, token=None):
        self.write(srv or self.open, "POST", "/v1/executions/%s/events" % self.x[name], body, 202,
                   "append %s to %s" % (body.get("type"), name), token)

    # ---- sections -------------------------------------------------------------------------------

    def start(self):
        for d in ("open", "secure"):
            os.makedirs(os.path.join(self.workdir, d))
        # a short keep-alive: a stream the console leaves is seen closed at the next comment line
        self.open = X.Execlogd(self.args.execlogd, os.path.join(self.workdir, "open"), name="open",
                               args=["--stream.keepalive.ms=300"])
        self.open.start()
        tokens = os.path.join(self.workdir, "tokens")
        with open(tokens, "w") as fp:
            for name, (tenant, role) in TOKENS.items():
                fp.write("%s %s %s\n" % (X.token_hash(self.tok[name]), tenant, role))
        self.secure = X.Execlogd(self.args.execlogd, os.path.join(self.workdir, "secure"), name="secure",
                                 args=["--auth.tokens=" + tokens])
        self.secure.start()

    def seed(self):
        """
        FLOW (tenant acme): e1 (tasks extract and load, a warning, metrics; succeeded), e2 (failed) retried
        by e3 (tasks, succeeded), children c2 (of e2, running) and c1 (of e3, succeeded), and 20 more from a batch
        with durations 100..2000 ms (every fifth failed). globex: g1 (flow billing, queued).
        """
        t0 = self.t0
        self.create("e1", {"flow_id": FLOW, "flow_name": "Nightly load", "tenant_id": "acme", "message_id": "msg-e1",
                           "trigger_type": "schedule", "started_by": "cron", "time": t0})
        for body in ({"type": "started", "time": t0 + 100},
                     {"type": "task_started", "task": "extract", "time": t0 + 150},
                     {"type": "task_finished", "task": "extract", "time": t0 + 400},
                     {"type": "task_started", "task": "load", "time": t0 + 450},
                     {"type": "progress", "metrics": {"rows": 1200}, "time": t0 + 500},
                     {"type": "task_finished", "task": "load", "time": t0 + 900},
                     {"type": "warning", "message": "slow source", "time": t0 + 950},
                     {"type": "succeeded", "metrics": {"rows": 5000}, "time": t0 + 1000}):
            self.append("e1", body)
        self.create("e2", {"flow_id": FLOW, "tenant_id": "acme", "message_id": "msg-retry", "time": t0 + 2000})
        self.append("e2", {"type": "started", "time": t0 + 2100})
        self.append("e2", {"type": "failed", "time": t0 + 2400,
                           "error": {"class": "IOError", "message": "disk full", "stack": "at load()"}})
        j = self.write(self.open, "POST", "/v1/executions/%s/retry" % self.x["e2"], {"time": t0 + 3000}, 201, "retry e2")
        self.x["e3"] = j.get("audit_id")
        for body in ({"type": "started", "time": t0 + 3100},
                     {"type": "task_started", "task": "extract", "time": t0 + 3120},
                     {"type": "task_finished", "task": "extract", "time": t0 + 3300},
                     {"type": "task_started", "task": "load", "time": t0 + 3310},
                     {"type": "progress", "metrics": {"rows": 4000}, "time": t0 + 3400},
                     {"type": "task_finished", "task": "load", "time": t0 + 3580},
                     {"type": "succeeded", "metrics": {"rows": 8000}, "time": t0 + 3600}):
            self.append("e3", body)
        self.create("c2", {"flow_id": FLOW + "-child", "tenant_id": "acme", "parent_execution_id": self.x["e2"],
                           "time": t0 + 2200})
        self.append("c2", {"type": "started", "time": t0 + 2300})
        self.create("c1", {"flow_id": FLOW + "-child", "tenant_id": "acme", "parent_execution_id": self.x["e3"],
                           "time": t0 + 3200})
        self.append("c1", {"type": "started", "time": t0 + 3300})
        self.append("c1", {"type": "succeeded", "time": t0 + 3400})
        self.create("g1", {"flow_id": "billing", "tenant_id": "globex", "message_id": "msg-g1", "time": t0 + 4000})
        # the batch: creates, then their ends
        lines = [json.dumps({"flow_id": FLOW, "tenant_id": "acme", "time": t0 + 10000 + 5000 * i})
                 for i in range(len(DURATIONS))]
        j = self.write(self.open, "POST", "/v1/events", "\n".join(lines) + "\n", 200, "batch of creates",
                       ctype="application/x-ndjson")
        ids = [r.get("audit_id") for r in j.get("results") or []]
        self.c.ok(len(ids) == len(DURATIONS) and all(is_int(i) for i in ids), "batch: every create answered", repr(j))
        lines = []
        for i, (a, d) in enumerate(zip(ids, DURATIONS)):
            start = t0 + 10000 + 5000 * i + 10
            lines.append(json.dumps({"audit_id": a, "type": "started", "time": start}))
            lines.append(json.dumps({"audit_id": a, "type": "failed" if i % 5 == 4 else "succeeded",
                                     "time": start + d}))
        j = self.write(self.open, "POST", "/v1/events", "\n".join(lines) + "\n", 200, "batch of ends",
                       ctype="application/x-ndjson")
        self.c.eq(j.get("accepted"), 2 * len(DURATIONS), "batch of ends: all accepted")
        self.batch = ids
        # the execlogd with tokens: one execution of acme, one of globex
        self.create("s_acme", {"flow_id": "secure-flow", "tenant_id": "acme", "time": t0}, self.secure,
                    self.tok["admin"])
        self.create("s_globex", {"flow_id": "secure-flow", "tenant_id": "globex", "time": t0 + 1}, self.secure,
                    self.tok["admin"])
        self.c.ok(all(is_int(v) for v in self.x.values()), "every seeded execution was created", repr(self.x))

    def files(self):
        """Every file of api/www/ui/ is served at /ui/<name> byte for byte, with its type and a strong ETag."""
        www = os.path.join(self.args.src, "api", "www", "ui")
        types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
        names = sorted(os.listdir(www))
        self.c.ok({"index.html", "app.js"} <= set(names), "api/www/ui has index.html and app.js", repr(names))
        for http in ("1.1", "h2c"):
            for name in names:
                with open(os.path.join(www, name), "rb") as fp:
                    want = fp.read()
                r = self.open.curl("GET", "/ui/" + name, http=http)
                self.c.status(r, 200, "GET /ui/%s (%s)" % (name, http))
                self.c.ok(r.raw == want, "GET /ui/%s (%s): the bytes of the source file" % (name, http),
                          "%d bytes, expected %d" % (len(r.raw), len(want)))
                self.c.eq(r.content_type, types.get(os.path.splitext(name)[1]), "GET /ui/%s: content-type" % name)
                etag = r.header("etag") or ""
                self.c.ok(etag.startswith('"') and len(etag) > 10, "GET /ui/%s: a strong ETag" % name, etag)
                self.c.eq(r.header("cache-control"), "no-cache", "GET /ui/%s: cache-control" % name)
                r2 = self.open.curl("GET", "/ui/" + name, http=http, headers={"If-None-Match": etag})
                self.c.ok(r2.status == 304 and r2.raw == b"", "GET /ui/%s with If-None-Match: 304, no body" % name,
                          repr(r2))
            r = self.open.curl("GET", "/ui/", http=http)
            with open(os.path.join(www, "index.html"), "rb") as fp:
                self.c.ok(r.status == 200 and r.raw == fp.read(), "GET /ui/ is index.html (%s)" % http, repr(r))
            for path in ("/", "/ui"):
                r = self.open.curl("GET", path, http=http, headers={"X-Request-Id": "console-redirect-1"})
                self.c.ok(r.status == 302 and r.header("location") == "/ui/", "GET %s redirects to /ui/ (%s)" %
                          (path, http), "%r location=%r" % (r, r.header("location")))
                self.c.eq(r.header("x-request-id"), "console-redirect-1", "GET %s: X-Request-Id echoed (%s)" % (path, http))
            for path in ("/ui/nope.js", "/ui/..%2Fapi%2Fserver.c", "/ui/%2e%2e", "/ui/app.js%00", "/ui/%ff%fe.js"):
                self.c.problem(self.open.curl("GET", path, http=http), 404, "not-found", "GET %s (%s)" % (path, http))
            self.c.problem(self.open.curl("GET", "/ui/app.js/x", http=http), 404, "no-route", "GET /ui/app.js/x")
            r = self.open.curl("POST", "/ui/", "{}", http=http)
            self.c.problem(r, 405, "method-not-allowed", "POST /ui/ (%s)" % http)
            self.c.eq(r.header("allow"), "GET", "POST /ui/: Allow")
        # public with tokens too; the data routes are not
        r = self.secure.curl("GET", "/ui/app.js")
        self.c.status(r, 200, "GET /ui/app.js without a token on the execlogd with tokens")
        self.c.problem(self.secure.curl("GET", "/v1/executions"), 401, "unauthorized",
                       "GET /v1/executions without a token on the execlogd with tokens")

    def browser(self):
        config = {
            "open": self.open.base_url, "secure": self.secure.base_url, "ids": self.x, "batch": self.batch,
            "flow": FLOW, "tokens": self.tok, "screenshots": os.path.abspath(self.args.screenshots),
        }
        path = os.path.join(self.workdir, "config.json")
        with open(path, "w") as fp:
            json.dump(config, fp)
        ready = self.c.ok(os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")),
                          "tests/ui/node_modules has playwright-core", "run make test-deps (npm ci in tests/ui)")
        ready &= self.c.ok(os.access(CHROMIUM, os.X_OK), "%s is installed" % CHROMIUM,
                           "run make test-deps (Debian's chromium)")
        if not ready:
            return
        os.makedirs(self.args.screenshots, exist_ok=True)
        # the browser asks for what only this side can do with a line "@<request>" and waits for the answer on stdin
        proc = subprocess.Popen([NODE, os.path.join(HERE, "console.test.mjs"), path], cwd=HERE,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                preexec_fn=X._die_with_parent)
        timer = threading.Timer(BROWSER_TIMEOUT, proc.kill)
        timer.start()
        counted = False
        try:
            for raw in iter(proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line == "@restart open":
                    proc.stdin.write((self.restart_open() + "\n").encode())
                    proc.stdin.flush()
                elif line.startswith("browser: ") and " passed, " in line:
                    p, f = line[len("browser: "):].replace(" passed,", "").replace(" failed", "").split()
                    self.c.passed += int(p)
                    self.c.failed += int(f)
                    counted = True
                else:
                    print(line, flush=True)
            rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.c.ok(counted and rc in (0, 1), "the browser run reported its checks",
                  "exit %d%s" % (rc, " (killed after %d s)" % BROWSER_TIMEOUT if rc < 0 else ""))

    def restart_open(self):
        """
        For the live tail: SIGTERM the execlogd without tokens (its streams end), start it again on the same
        port and data, and create an execution of live-flow before the console is back (it waits 2 s before
        it reconnects). @return "@done <audit ID>", or "@failed <why>".
        """
        port, saved = self.open.port, X.free_port
        try:
            rc, _dt = self.open.stop()
            self.c.eq(rc, 0, "SIGTERM with the console's stream open: exit status 0")
            X.free_port = lambda: port  # the page's origin must not change
            self.open.start()
        except X.HarnessError as e:
            return "@failed %s" % str(e).splitlines()[0]
        finally:
            X.free_port = saved
        j = self.write(self.open, "POST", "/v1/executions", {"flow_id": "live-flow", "tenant_id": "acme"}, 201,
                       "create after the restart")
        return "@done %s" % j.get("audit_id")

    def run(self):
        self.section("start", self.start)
        if self.open is not None and self.open.alive() and self.secure is not None and self.secure.alive():
            self.section("seed", self.seed)
            self.section("files", self.files)
            self.section("browser", self.browser)
            for srv in (self.open, self.secure):
                self.c.ok(srv.alive(), "%s execlogd still running after the browser" % srv.name)
        failed = self.c.failed > 0
        for srv in (self.open, self.secure):
            if srv is not None:
                if failed:
                    srv.dump_logs(lines=60)
                srv.kill()
        if not (failed and self.args.keep):
            shutil.rmtree(self.workdir, ignore_errors=True)
        print("%d passed, %d failed" % (self.c.passed, self.c.failed), flush=True)
        return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--execlogd", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--screenshots", required=True, help="directory for the screenshots (test artefacts)")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--keep", action="store_true")
    return Suite(ap.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
