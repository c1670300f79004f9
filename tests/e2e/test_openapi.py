#!/usr/bin/python3
"""
End-to-end test of the OpenAPI document (api/www/v1/openapi.json) against the real execlogd, fuzzed with schemathesis.

The document is valid OpenAPI 3.1 (openapi-spec-validator); its problem types are exactly the slugs the sources
answer with; execlogd serves it, byte for byte, at GET /v1/openapi.json (HTTP/1.1 and h2c, ETag and 304, public
also with auth.tokens set while other routes need a token). Then schemathesis (pinned in tests/requirements.txt)
drives every operation of the document against a live execlogd holding some executions, with a fixed seed and
budget: its examples, coverage, fuzzing and stateful phases (negative inputs included), checking that no answer is
a 5xx (not_a_server_error) and that every answer matches the document (response_schema_conformance). A second,
smaller run goes to an execlogd with auth.tokens as one tenant's reader (403s, tenant-scoped reads) and checks
that every operation the document secures answers 401 without the token (ignored_auth). The daemons must still
serve afterwards. tests/api/test_openapi.c checks the document against the route table.

Runs on the test tools' venv (XL_VENV_PYTHON). Usage: test_openapi.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check and "N passed, N failed"; exits 1 on any failure (with schemathesis' report
and the execlogd log).
"""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402
from test_write_path import Checks, now_ms  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join("api", "www", "v1", "openapi.json")
SEED = 20261203  # schemathesis' seed: the same inputs every run
MAX_EXAMPLES = 20  # per operation and phase (GET /v1/stream: see schemathesis.toml)
TENANT_EXAMPLES = 5  # the same with a tenant's token: mostly 403 and 404, the same code paths again
RUN_TIMEOUT = 240  # seconds; the run takes ~15-40 s
# a problem's slug where the sources name one: xl_http_send_problem(req, 400, "slug", ...), problem(p, 409, "slug", ...)
# (or a choice: nlines ? "too-large" : "empty-batch"), and through the wrappers that take the same first three
# arguments (the controls' refuse, the compat routes' xl_compat_problem, cfy_error, civis_error): the third
# argument's string literals
SLUG_RE = re.compile(r'(?:xl_http_send_problem|xl_http_problem_new|xl_compat_problem|\bcfy_error|\bcivis_error|\brefuse|'
                     r'\bproblem)\(\s*[^,()]+,\s*[^,]+,\s*([^,]+),')
SLUG_LITERAL_RE = re.compile(r'"([a-z]+(?:-[a-z]+)*)"')


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.servers = []
        self.doc_path = os.path.join(args.src, DOC)
        with open(self.doc_path, "rb") as fp:
            self.raw = fp.read()
        self.doc = json.loads(self.raw)
        self.report = ""
        self.auth = None  # the execlogd with auth.tokens (t_public)
        self.tenant_token = None

    # ---- the document ---------------------------------------------------------------------------------

    def t_valid(self):
        from openapi_spec_validator import validate
        from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
        try:
            validate(self.doc)
            err = None
        except OpenAPIValidationError as e:
            err = str(e).splitlines()[0]
        self.c.ok(err is None, "%s is valid OpenAPI 3.1" % DOC, err or "")
        self.c.eq(self.doc.get("openapi"), "3.1.0", "openapi version")

    def t_slugs(self):
        used = set()
        for folder in ("api", "ingest"):
            d = os.path.join(self.args.src, folder)
            for name in sorted(os.listdir(d)):
                if name.endswith(".c"):
                    with open(os.path.join(d, name), encoding="utf-8") as fp:
                        for arg in SLUG_RE.findall(fp.read()):
                            used |= set(SLUG_LITERAL_RE.findall(arg))
        enum = self.doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
        documented = {t.rsplit(":", 1)[1] for t in enum}
        self.c.ok(len(used) >= 20, "the sources' problem slugs are found", "found %d: %s" % (len(used), sorted(used)))
        self.c.eq(sorted(used - documented), [], "slugs the sources answer with but the document lacks")
        self.c.eq(sorted(documented - used), [], "slugs the document lists but no source answers with")

    # ---- served ---------------------------------------------------------------------------------------

    def t_served(self, srv):
        for http in ("1.1", "h2c"):
            r = srv.curl("GET", "/v1/openapi.json", http=http)
            self.c.status(r, 200, "GET /v1/openapi.json over %s" % http)
            self.c.eq(r.content_type, "application/json", "%s: content-type" % http)
            self.c.ok(r.raw == self.raw, "%s: the body is %s byte for byte" % (http, DOC),
                      "%d bytes, the file has %d" % (len(r.raw), len(self.raw)))
            etag = r.header("etag")
            self.c.ok(etag and re.match(r'^"[0-9a-f]{20}"$', etag), "%s: a strong ETag" % http, repr(etag))
            r = srv.curl("GET", "/v1/openapi.json", http=http, headers={"If-None-Match": etag or "-"})
            self.c.status(r, 304, "%s: If-None-Match with its ETag" % http)
            self.c.eq(r.raw, b"", "%s: 304 has no body" % http)
        r = srv.curl("GET", "/v1/openapi.json?format=yaml")
        self.c.status(r, 400, "a query parameter")
        self.c.eq((r.json or {}).get("type"), "urn:execlog:problem:unknown-parameter", "a query parameter: type")
        r = srv.curl("POST", "/v1/openapi.json", body={})
        self.c.status(r, 405, "POST")
        self.c.eq(r.header("allow"), "GET", "POST: Allow")

    def t_public(self):
        """With auth.tokens the document needs no token; the routes it describes do."""
        d = os.path.join(self.servers[0].workdir, "tokens")
        token = "openapi-reader-" + os.urandom(8).hex()
        self.tenant_token = "openapi-acme-" + os.urandom(8).hex()
        with open(d, "w") as fp:
            fp.write("%s * reader\n%s acme reader\n" % (X.token_hash(token), X.token_hash(self.tenant_token)))
        srv = self.auth = X.Execlogd(self.args.execlogd, name="auth",
                                     args=["--auth.tokens=" + d, "--read.wait.max.ms=200"])
        self.servers.append(srv)
        srv.start()
        r = srv.curl("GET", "/v1/openapi.json")
        self.c.status(r, 200, "auth: no token")
        self.c.ok(r.raw == self.raw, "auth: the document", "%d bytes" % len(r.raw))
        r = srv.curl("GET", "/v1/info")
        self.c.status(r, 401, "auth: /v1/info without a token")
        r = srv.curl("GET", "/v1/info", token=token)
        self.c.status(r, 200, "auth: /v1/info with the reader's token")
        ops = self.doc["paths"]
        self.c.eq(ops["/v1/openapi.json"]["get"]["security"], [], "the document says the route is public")
        self.c.eq(ops["/v1/info"]["get"].get("security", self.doc.get("security")), [{"bearerAuth": []}],
                  "the document says /v1/info needs a token")

    # ---- data for the reads, then schemathesis ----------------------------------------------------------

    def t_seed(self, srv):
        """Executions the document's examples name (flow nightly-load, message msg-42), with history and lineage."""
        ids = []
        for i in range(3):
            r = srv.curl("POST", "/v1/executions", {"flow_id": "nightly-load", "flow_name": "Nightly load",
                                                    "tenant_id": "acme", "message_id": "msg-42",
                                                    "event_id": "openapi-%d-%d" % (now_ms(), i)})
            if not self.c.json_answer(r, 201, "create %d" % i):
                return
            ids.append(r.json["audit_id"])
        a = ids[0]
        for body in ({"type": "started"}, {"type": "progress", "metrics": {"rows": 1200}, "task": "load"},
                     {"type": "warning", "warnings": ["slow disk"]},
                     {"type": "failed", "error": {"class": "IOError", "message": "disk full", "stack": "at x"}}):
            r = srv.curl("POST", "/v1/executions/%d/events" % a, body)
            self.c.json_answer(r, 202, "append %s" % body["type"])
        r = srv.curl("POST", "/v1/executions/%d/retry" % a, {})
        self.c.json_answer(r, 201, "retry")
        r = srv.curl("POST", "/v1/executions", {"flow_id": "4242", "parent_execution_id": a})
        self.c.json_answer(r, 201, "child")
        r = srv.curl("POST", "/v1/executions/%d/cancel" % ids[1], {})
        self.c.json_answer(r, 202, "cancel")

    def schemathesis(self, srv, what, checks, max_examples, extra=()):
        """One schemathesis run against srv; fails a check unless it passes and tested every operation."""
        env = dict(os.environ)
        env["PYTHONPATH"] = HERE + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["SCHEMATHESIS_HOOKS"] = "openapi_hooks"
        argv = [sys.executable, "-m", "schemathesis.cli", "--config-file", os.path.join(HERE, "schemathesis.toml"),
                # the file, which t_served found served byte for byte (loaded from its URL, schemathesis
                # would leave that route out)
                "run", self.doc_path, "--url", srv.base_url, "--checks", ",".join(checks),
                "--max-examples", str(max_examples), "--seed", str(SEED), "--generation-database", "none",
                "--request-timeout", "30", "--workers", "2", "--no-color", "--warnings", "off"] + list(extra)
        t = time.monotonic()
        try:
            cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=srv.workdir, env=env,
                                timeout=RUN_TIMEOUT)
            out, rc = cp.stdout.decode("utf-8", "replace"), cp.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode("utf-8", "replace"), None
        self.report += "---- schemathesis, %s ----\n%s\n" % (what, out[-15000:])
        if self.args.verbose:
            print("  schemathesis, %s: %.1f s" % (what, time.monotonic() - t), flush=True)
        self.c.eq(rc, 0, "%s: schemathesis exit status (%s)" % (what, ", ".join(checks)))
        nops = sum(1 for item in self.doc["paths"].values() for m in item if m in ("get", "post", "patch"))
        m = re.search(r"Tested:\s+(\d+)", out)
        self.c.eq(int(m.group(1)) if m else None, nops, "%s: schemathesis tested every operation" % what)
        m = re.search(r"(\d+) generated", out)
        self.c.ok(m and int(m.group(1)) >= max_examples * nops // 2, "%s: schemathesis generated enough cases" % what,
                  m.group(0) if m else "no count in its output")
        self.c.ok(srv.alive(), "%s: execlogd still runs" % what)
        r = srv.curl("GET", "/healthz")
        self.c.status(r, 200, "%s: execlogd still serves" % what)

    def t_schemathesis(self, srv):
        """Every operation, all phases, as an admin (no auth.tokens: protected mode)."""
        self.schemathesis(srv, "open", ["not_a_server_error", "response_schema_conformance"], MAX_EXAMPLES)

    def t_schemathesis_tenant(self):
        """
        With auth.tokens, as one tenant's reader: writes and the all-tenant routes answer 403, reads see the
        tenant only; ignored_auth sends each request without the token too, and wants 401 where the document
        asks for one.
        """
        self.schemathesis(self.auth, "tenant reader", ["not_a_server_error", "response_schema_conformance",
                                                        "ignored_auth"], TENANT_EXAMPLES,
                          ["--header", "Authorization: Bearer " + self.tenant_token, "--phases", "examples,fuzzing"])

    def run(self):
        self.section("document is OpenAPI 3.1", self.t_valid)
        self.section("problem types", self.t_slugs)
        # short read-your-writes waits: fuzzed min_position values are answered (504 or 400) in 0.2 s
        srv = X.Execlogd(self.args.execlogd, name="execlogd", args=["--read.wait.max.ms=200"])
        self.servers.append(srv)
        def body():
            self.c.phase = "start"
            srv.start()
            self.section("served", self.t_served, srv)
            self.section("public", self.t_public)
            self.section("seed", self.t_seed, srv)
            self.section("schemathesis", self.t_schemathesis, srv)
            if self.auth is not None:
                self.section("schemathesis, a tenant's reader", self.t_schemathesis_tenant)

        return self.conclude(self.servers, body)


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
