#!/usr/bin/python3
"""
Black-box test of execlog, the command-line client (api/cli/), against the real execlogd.

Every command runs as a separate process of the built binary; its JSON output is compared with what the API
answers to curl for the same question, its tables and trees are checked for the values they must show, and its exit
codes for not found (2), a missing or unknown token and a role too low (3), rejected input (4), usage errors (1),
a server that is down or does not answer (5). tail -f is checked to receive events written after it started, over
the events long poll and over SSE, and to resume (no event lost, none twice) after execlogd is restarted on the
same port; emit is driven from a shell script. The server runs with bearer tokens and a TLS listener (https://
with --cacert).

Usage: test_cli.py --execlog PATH --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check and "N passed, N failed"; exits 1 on any failure (with the execlogd log).
"""

import argparse
import json
import os
import pty
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import execlogd as X  # noqa: E402
from test_write_path import Checks  # noqa: E402

ADMIN, READER, ACME = "tok-admin-cli", "tok-reader-cli", "tok-acme-writer-cli"
RUN_TIMEOUT = 30


class Tail:
    """A running `execlog tail -f ...`: its stdout lines in a queue, read by a thread."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                     preexec_fn=X._die_with_parent)
        self.lines = queue.Queue()
        self.err = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err.append), daemon=True).start()

    @staticmethod
    def _pump(fp, put):
        for line in iter(fp.readline, b""):
            put(line.decode("utf-8", "replace").rstrip("\n"))

    def events(self, n, timeout=20.0):
        """The next n lines, parsed as JSON (fewer if they do not come in time)."""
        out, deadline = [], time.monotonic() + timeout
        while len(out) < n:
            try:
                out.append(json.loads(self.lines.get(timeout=max(0.05, deadline - time.monotonic()))))
            except queue.Empty:
                break
        return out

    def quiet(self, seconds):
        """Lines that arrive within seconds (expected: none)."""
        time.sleep(seconds)
        out = []
        while not self.lines.empty():
            out.append(self.lines.get())
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.setup(args, Checks())
        self.tails = []

    # ---- helpers ---------------------------------------------------------------------

    def env(self, token=ADMIN, server=None):
        e = dict(os.environ)
        e.pop("EXECLOG_CACERT", None)
        e["EXECLOG_URL"] = server or self.srv.base_url
        e["EXECLOG_TOKEN"] = token or ""
        return e

    def xl(self, *argv, token=ADMIN, server=None, stdin=None, timeout=RUN_TIMEOUT):
        """Run execlog; returns (exit code, stdout, stderr)."""
        cp = subprocess.run([self.args.execlog] + list(argv), input=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=self.env(token, server), timeout=timeout)
        return cp.returncode, cp.stdout.decode("utf-8", "replace"), cp.stderr.decode("utf-8", "replace")

    def xl_tty(self, *argv, tty="stderr", timeout=RUN_TIMEOUT):
        """Run execlog with stderr (or stdout) on a pseudo-terminal; returns (exit code, stdout, terminal text)."""
        master, slave = pty.openpty()
        out = subprocess.PIPE
        p = subprocess.Popen([self.args.execlog] + list(argv), stdin=subprocess.DEVNULL,
                             stdout=slave if tty == "stdout" else out, stderr=slave if tty == "stderr" else out,
                             env=self.env(), preexec_fn=X._die_with_parent)
        os.close(slave)
        chunks = []
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("pipe", p.communicate(timeout=timeout)), daemon=True)
        t.start()
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal's other end is gone
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        t.join(timeout)
        piped = box.get("pipe", (b"", b""))
        other = piped[0] if tty == "stderr" else piped[1]
        return p.returncode, other.decode("utf-8", "replace"), b"".join(chunks).decode("utf-8", "replace")

    def json_of(self, what, *argv, **kw):
        rc, out, err = self.xl("-o", "json", *argv, **kw)
        if not self.c.eq(rc, 0, "%s: exit code (stderr %r)" % (what, err[-300:])):
            return None
        try:
            return json.loads(out)
        except ValueError:
            self.c.ok(False, "%s: stdout is JSON" % what, out[:300])
            return None

    def api(self, method, path, body=None, token=ADMIN):
        r = self.srv.curl(method, path, body, token=token)
        if not self.c.ok(200 <= r.status < 300, "curl %s %s" % (method, path), repr(r)):
            return {}
        return r.json

    def fails(self, what, argv, code, stderr_has=(), **kw):
        rc, out, err = self.xl(*argv, **kw)
        self.c.eq(rc, code, "%s: exit code (stderr %r)" % (what, err[-300:]))
        self.c.eq(out, "", "%s: nothing on stdout" % what)
        for s in stderr_has:
            self.c.ok(s in err, "%s: stderr says %r" % (what, s), err[-400:])
        return err

    def create(self, flow, **fields):
        body = dict(fields, flow_id=flow)
        return self.api("POST", "/v1/executions", body)["audit_id"]

    def append(self, a, type_, **fields):
        return self.api("POST", "/v1/executions/%d/events" % a, dict(fields, type=type_))

    # ---- sections --------------------------------------------------------------------

    def t_help(self):
        rc, out, _ = self.xl("--help")
        self.c.eq(rc, 0, "--help: exit code")
        for word in ("get", "ls", "events", "tail", "lineage", "flows", "emit", "exit codes", "EXECLOG_TOKEN"):
            self.c.ok(word in out, "--help names %r" % word, out[:200])
        for n, what in ((1, "usage"), (2, "not found"), (3, "not allowed"), (4, "rejected"), (5, "unavailable")):
            self.c.ok("%d  %s" % (n, what) in out, "--help documents exit code %d" % n, out[-600:])
        for cmd in ("get", "ls", "events", "tail", "lineage", "flows", "emit"):
            for form in ([cmd, "--help"], ["help", cmd], ["--help", cmd]):
                rc, out, _ = self.xl(*form)
                self.c.eq(rc, 0, "%s: exit code" % " ".join(form))
                self.c.ok(out.startswith("usage: execlog %s" % cmd), "%s: the command's usage" % " ".join(form),
                          out[:100])
        rc, out, _ = self.xl("--version")
        self.c.eq((rc, out), (0, "execlog 0.1.0\n"), "--version")
        self.fails("no command", [], 1, ["usage: execlog"])
        self.fails("unknown command", ["frobnicate"], 1, ["unknown command 'frobnicate'"])
        self.fails("get without an ID", ["get"], 1, ["execlog get --help"])
        self.fails("get abc", ["get", "abc"], 1, ["not an audit ID"])
        self.fails("unknown option", ["ls", "--bogus"], 1)
        self.fails("--output xml", ["-o", "xml", "ls"], 1, ["json or table"])
        self.fails("ftp URL", ["--server", "ftp://x/", "ls"], 1, ["not an http:// or https:// URL"])

    def t_emit_script(self):
        flow = "cli-script-" + self.uniq
        script = os.path.join(self.tmp, "job.sh")
        with open(script, "w") as fp:
            fp.write("""set -e
A=$(execlog emit start --flow "$FLOW" --name 'Script job' --message-id "msg-$FLOW" --trigger cron \\
     --started-by ops --attr host=h1 --event-id "start-$FLOW")
again=$(execlog emit start --flow "$FLOW" --event-id "start-$FLOW")   # a retried start is stored once
[ "$A" = "$again" ] || { echo "idempotent start gave $A then $again" >&2; exit 9; }
execlog emit status "$A" started --message 'loading'
execlog emit progress "$A" rows=1200 files=3
execlog emit metric "$A" bytes=4096
execlog emit log "$A" half way there
execlog emit event "$A" task_started --task extract
echo '{"type":"warning","warnings":["slow disk"],"metrics":{"rows":2000}}' | execlog emit event "$A" --json
execlog emit event "$A" failed --error-class IOError --error-message 'disk full' --metric rows=2500
B=$(execlog emit retry "$A")
echo "$A $B"
""")
        cp = subprocess.run(["bash", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                            env=dict(self.env(), FLOW=flow, PATH=os.path.dirname(os.path.abspath(self.args.execlog)) +
                                     ":" + os.environ.get("PATH", "")))
        if not self.c.eq(cp.returncode, 0, "emit script: exit code (stderr %r)" % cp.stderr.decode()[-400:]):
            return
        a, b = (int(x) for x in cp.stdout.decode().split())
        st = self.api("GET", "/v1/executions/%d" % a)
        self.c.eq((st["flow_id"], st["flow_name"], st["message_id"], st["trigger_type"], st["started_by"]),
                  (flow, "Script job", "msg-" + flow, "cron", "ops"), "emit start: the fields")
        self.c.eq(st["attributes"], {"host": "h1"}, "emit start --attr")
        self.c.eq(st["status"], "failed", "emit event failed: status")
        self.c.eq(st["error"], {"class": "IOError", "message": "disk full", "stack": None}, "emit --error-*")
        self.c.eq(st["metrics"], {"rows": 2500, "files": 3, "bytes": 4096}, "emit progress/metric/--metric: metrics")
        self.c.eq(st["warnings"], ["slow disk"], "emit --json: the warning from stdin")
        self.c.eq(st["events"], 8, "emit: one event per emit (the repeated start stored once)")
        ev = self.api("GET", "/v1/executions/%d/events" % a)["items"]
        self.c.eq([e["type"] for e in ev], ["created", "started", "progress", "metrics", "log", "task_started",
                                            "warning", "failed"], "emit: the event types in order")
        self.c.eq(ev[4]["message"], "half way there", "emit log: the message")
        self.c.eq(ev[1]["message"], "loading", "emit status --message")
        self.c.eq(ev[5]["task"], "extract", "emit event --task")
        rb = self.api("GET", "/v1/executions/%d" % b)
        self.c.eq((rb["parent_audit_id"], rb["root_audit_id"], rb["retries"]), (a, a, 1), "emit retry: a new attempt")
        # --output json prints the API's answer
        j = self.json_of("emit start -o json", "emit", "start", "--flow", flow)
        if j:
            self.c.eq((j.get("status"), j.get("seq")), ("queued", 1), "emit start -o json: the answer")
            self.c.eq(self.api("GET", "/v1/executions/%d" % j["audit_id"])["flow_id"], flow, "emit -o json: created")
        rc, out, _ = self.xl("emit", "cancel", str(j["audit_id"]))
        self.c.eq((rc, out), (0, ""), "emit cancel: exit code, nothing printed")
        self.c.eq(self.api("GET", "/v1/executions/%d" % j["audit_id"])["status"], "cancelling", "emit cancel: status")
        # rejected and refused input
        self.fails("emit bad type", ["emit", "event", str(a), "exploded"], 4, ["(422)", "type:"])
        self.fails("emit metric not a number", ["emit", "metric", str(a), "rows=many"], 4, ["(422)", "metrics"])
        self.fails("emit unknown id", ["emit", "status", "4242424242", "started"], 2, ["(404)"])
        self.fails("emit cancel of an ended run", ["emit", "cancel", str(a)], 4, ["(409)"])
        self.fails("emit start without a flow", ["emit", "start"], 4, ["flow_id"])
        self.fails("emit --json not JSON", ["emit", "start", "--json"], 1, ["not a JSON object"], stdin=b"{nope")
        self.fails("emit metric without =", ["emit", "metric", str(a), "rows"], 1, ["name=value"])
        self.fails("emit event without a type", ["emit", "event", str(a)], 1, ["needs an event type"])
        self.fails("emit by a reader", ["emit", "start", "--flow", flow], 3, ["(403)"], token=READER)
        self.c.eq(self.api("GET", "/v1/executions/%d" % a)["events"], 8, "refused emits changed nothing")
        self.script_run = a

    def t_get(self):
        a = self.script_run
        want = self.api("GET", "/v1/executions/%d" % a)
        self.c.eq(self.json_of("get", "get", str(a)), want, "get -o json = GET /v1/executions/{id}")
        self.c.eq(self.json_of("get (default json off a terminal)", "get", str(a))["audit_id"], a, "get: default json")
        rc, out, err = self.xl("-o", "table", "get", str(a))
        self.c.eq(rc, 0, "get -o table: exit code")
        lines = dict(l.split(":", 1) for l in out.splitlines() if ":" in l and not l.startswith(" "))
        self.c.eq(lines.get("audit_id", "").strip(), str(a), "get table: audit_id")
        self.c.eq(lines.get("status", "").strip(), "failed", "get table: status")
        self.c.eq(lines.get("error", "").strip(), "class=IOError message=disk full", "get table: error")
        self.c.ok("warning: slow disk" in out, "get table: the warnings", out[-300:])
        self.c.ok("extract" in out and "TASK" in out, "get table: the tasks", out[-400:])
        # --as-of: the state before the first event was written
        created = want["created"]
        asof = self.json_of("get --as-of", "get", str(a), "--as-of", str(created))
        if asof:
            self.c.eq((asof.get("status"), asof.get("events"), asof.get("as_of")), ("queued", 1, created),
                      "get --as-of: the state at creation")
        msg = self.api("GET", "/v1/messages/" + want["message_id"])
        self.c.eq(self.json_of("get --message-id", "get", "--message-id", want["message_id"]), msg,
                  "get --message-id = GET /v1/messages/{id}")
        self.fails("get not found", ["get", "9007199254740990"], 2, ["Execution not found (404)"])
        self.fails("get --message-id not found", ["get", "--message-id", "no-such-" + self.uniq], 2, ["(404)"])
        self.fails("get --as-of bad", ["get", str(a), "--as-of", "yesterday"], 4, ["(400)"])
        # the tenant's view: another tenant's execution looks missing
        self.fails("get by another tenant's token", ["get", str(a)], 2, ["(404)"], token=ACME)

    def t_ls(self):
        flow = "cli-ls-" + self.uniq
        ids = []
        for i in range(23):
            ids.append(self.create(flow, tenant_id="acme" if i % 3 == 0 else "other"))
            if i % 4 == 0:
                self.append(ids[-1], "started")
        newest = list(reversed(ids))
        listing = self.json_of("ls --all", "ls", "--flow", flow, "--all")
        api_items = self.api("GET", "/v1/executions?flow_id=%s&limit=1000" % flow)["items"]
        if listing:
            self.c.eq(listing["items"], api_items, "ls --all = GET /v1/executions (every item, same order)")
            self.c.eq(listing["next_page_token"], None, "ls --all: no token left")
            self.c.eq([x["audit_id"] for x in listing["items"]], newest, "ls: newest first")
        # pages: --limit, then the token to go on
        first = self.json_of("ls --limit 7", "ls", "--flow", flow, "--limit", "7")
        if first:
            self.c.eq([x["audit_id"] for x in first["items"]], newest[:7], "ls --limit 7: the newest 7")
            tok = first.get("next_page_token")
            self.c.ok(isinstance(tok, str) and tok, "ls --limit 7: a next_page_token", repr(tok))
            rest = self.json_of("ls --page-token", "ls", "--flow", flow, "--page-token", tok, "--limit", "100")
            if rest:
                self.c.eq([x["audit_id"] for x in rest["items"]], newest[7:], "ls --page-token: the rest, once each")
            self.fails("ls --page-token with other filters", ["ls", "--flow", flow + "x", "--page-token", tok], 4,
                       ["Invalid page token (400)"])
            rc, out, err = self.xl("-o", "table", "ls", "--flow", flow, "--limit", "5")
            rows = out.splitlines()
            self.c.eq(rows[0].split()[:4], ["AUDIT_ID", "FLOW", "STATUS", "TENANT"], "ls table: header")
            self.c.eq([int(r.split()[0]) for r in rows[1:]], newest[:5], "ls table: rows")
            self.c.ok("--page-token " in err, "ls table: the next page token on stderr", err)
        old = self.json_of("ls --order oldest", "ls", "--flow", flow, "--order", "oldest", "--limit", "3")
        self.c.eq([x["audit_id"] for x in (old or {}).get("items", [])], ids[:3], "ls --order oldest")
        running = self.json_of("ls --status", "ls", "--flow", flow, "--status", "running", "--all")
        want = [x for i, x in enumerate(ids) if i % 4 == 0]
        self.c.eq(sorted(x["audit_id"] for x in (running or {}).get("items", [])), sorted(want), "ls --status running")
        both = self.json_of("ls --status a,b", "ls", "--flow", flow, "--status", "running,queued", "--all")
        self.c.eq(len((both or {}).get("items", [])), len(ids), "ls --status running,queued: all of them")
        acme = self.json_of("ls --tenant", "--tenant", "acme", "ls", "--flow", flow, "--all")
        self.c.eq([x["audit_id"] for x in (acme or {}).get("items", [])], [x for i, x in enumerate(newest)
                                                                            if (22 - i) % 3 == 0], "ls --tenant acme")
        st = self.api("GET", "/v1/executions/%d" % ids[10])
        window = self.json_of("ls --since --until", "ls", "--flow", flow, "--since", str(st["created"]), "--until",
                              str(st["created"] + 1), "--all")
        self.c.ok(ids[10] in [x["audit_id"] for x in (window or {}).get("items", [])], "ls --since/--until",
                  repr(window)[:300])
        recent = self.json_of("ls --since 10m", "ls", "--flow", flow, "--since", "10m", "--all")
        self.c.eq(len((recent or {}).get("items", [])), len(ids), "ls --since 10m: everything just made")
        self.fails("ls --status bogus", ["ls", "--status", "bogus"], 4, ["Invalid query parameter (400)"])
        self.fails("ls --order sideways", ["ls", "--order", "sideways"], 4, ["(400)"])
        self.fails("ls --limit 0", ["ls", "--limit", "0"], 1)
        self.fails("ls with a word", ["ls", "everything"], 1)

    def t_events(self):
        a = self.script_run
        want = self.api("GET", "/v1/executions/%d/events?limit=1000" % a)
        got = self.json_of("events", "events", str(a))
        if got:
            self.c.eq(got["items"], want["items"], "events -o json = GET .../events")
            self.c.eq(got["last_seq"], want["last_seq"], "events: last_seq")
        rev = self.json_of("events --reverse --limit 3", "events", str(a), "--reverse", "--limit", "3")
        self.c.eq([e["seq"] for e in (rev or {}).get("items", [])], [8, 7, 6], "events --reverse --limit 3")
        after = self.json_of("events --after-seq 5", "events", str(a), "--after-seq", "5")
        self.c.eq([e["seq"] for e in (after or {}).get("items", [])], [6, 7, 8], "events --after-seq 5")
        # many events: several pages walked
        b = self.create("cli-events-" + self.uniq)
        lines = "".join(json.dumps({"audit_id": b, "type": "progress", "metrics": {"n": i}}) + "\n"
                        for i in range(1, 1300))
        r = self.srv.curl("POST", "/v1/events", lines, headers={"content-type": "application/x-ndjson"}, token=ADMIN)
        self.c.eq((r.json or {}).get("accepted"), 1299, "batch of 1299 events accepted")
        many = self.json_of("events over pages", "events", str(b))
        self.c.eq([e["seq"] for e in (many or {}).get("items", [])], list(range(1, 1301)),
                  "events: 1300 events over two pages, each once")
        # on a terminal: a progress bar on stderr, drawn as the pages come; never off a terminal
        rc, out, term = self.xl_tty("events", str(b))
        self.c.eq(rc, 0, "events, stderr on a terminal: exit code")
        self.c.ok("events " in term and "1300/1300" in term and "\r" in term, "events: a progress bar on a terminal",
                  repr(term[-200:]))
        self.c.eq(len(json.loads(out or "{}").get("items", [])), 1300, "events: stdout unchanged by the bar")
        rc, out, err = self.xl("events", str(b))
        self.c.eq((rc, err), (0, ""), "events off a terminal: no progress bar")
        rc, out, term = self.xl_tty("tail", "-f", str(b), "--after-seq", "0", "--max-events", "1300")
        self.c.eq((rc, len(out.splitlines())), (0, 1300), "tail -f --after-seq 0: the whole history, then exit")
        self.c.ok("catching up" in term, "tail -f: a progress bar while catching up", repr(term[-200:]))
        rc, _, term = self.xl_tty("get", str(a), tty="stdout")
        self.c.ok(rc == 0 and "audit_id:" in term and ("status:" in term) and not term.lstrip().startswith("{"),
                  "stdout on a terminal: a table by default", term[:200])
        rc, out, _ = self.xl("-o", "table", "events", str(a))
        rows = out.splitlines()
        self.c.eq(rows[0].split(), ["SEQ", "TIME", "TYPE", "STATUS", "TASK", "METRICS", "MESSAGE"], "events table header")
        self.c.eq([r.split()[2] for r in rows[1:]], [e["type"] for e in want["items"]], "events table: types")
        self.fails("events not found", ["events", "9007199254740990"], 2, ["(404)"])

    def t_lineage(self):
        flow = "cli-lineage-" + self.uniq
        a = self.create(flow)
        self.append(a, "failed", error={"class": "Timeout", "message": "too slow"})
        b = self.api("POST", "/v1/executions/%d/retry" % a, {})["audit_id"]
        k = self.create(flow + "-child", parent_execution_id=b)
        self.append(b, "failed")
        c = self.api("POST", "/v1/executions/%d/retry" % b, {})["audit_id"]
        self.append(c, "succeeded")
        want = self.api("GET", "/v1/executions/%d/lineage" % b)
        self.c.eq(self.json_of("lineage", "lineage", str(b)), want, "lineage -o json = GET .../lineage")
        rc, out, _ = self.xl("-o", "table", "lineage", str(b))
        self.c.eq(rc, 0, "lineage table: exit code")
        lines = out.splitlines()
        self.c.eq(len(lines), 4, "lineage tree: one line per execution (%r)" % out)
        if len(lines) == 4:
            self.c.ok(lines[0].startswith("%d failed  [attempt 1]" % a) and "Timeout: too slow" in lines[0],
                      "lineage tree: the root attempt", lines[0])
            self.c.ok(lines[1].startswith("└── %d failed  [retry 1]" % b) and lines[1].endswith("◀"),
                      "lineage tree: the retry under the root, marked", lines[1])
            kids = {lines[2][:8]: lines[2][8:], lines[3][:8]: lines[3][8:]}
            self.c.eq(sorted(kids), ["    └── ", "    ├── "], "lineage tree: two branches under the retry")
            by_id = {int(v.split()[0]): v for v in kids.values()}
            self.c.eq(sorted(by_id), sorted([c, k]), "lineage tree: the second retry and the child under the first")
            self.c.ok("[retry 2]" in by_id.get(c, "") and "succeeded" in by_id.get(c, ""), "lineage: retry 2",
                      repr(by_id))
            self.c.ok("[child]" in by_id.get(k, ""), "lineage: the child", repr(by_id))
        self.fails("lineage not found", ["lineage", "9007199254740990"], 2, ["(404)"])

    def t_flows(self):
        flow = "cli-ls-" + self.uniq
        want = self.api("GET", "/v1/flows/" + flow)
        self.c.eq(self.json_of("flows <id>", "flows", flow), want, "flows <id> = GET /v1/flows/{id}")
        rc, out, _ = self.xl("-o", "table", "flows", flow)
        fields = dict((l.split(":", 1)[0], l.split(":", 1)[1].strip()) for l in out.splitlines())
        self.c.eq(fields.get("total"), str(want["total"]), "flows table: total")
        self.c.ok("running=%d" % want["by_status"]["running"] in fields.get("by_status", ""), "flows table: by_status",
                  fields.get("by_status"))
        self.c.eq(fields.get("latest"), str(want["latest_audit_id"]), "flows table: latest")
        # the list of flows: only where the server serves GET /v1/flows
        r = self.srv.curl("GET", "/v1/flows", token=ADMIN)
        rc, out, err = self.xl("-o", "json", "flows")
        if r.status == 404:
            self.c.eq(rc, 2, "flows (no list on this server): exit code")
            self.c.ok("no list of flows" in err, "flows: says the server has no list", err)
        else:
            self.c.eq(rc, 0, "flows (list): exit code (%r)" % err)
            self.c.eq(json.loads(out or "{}").get("items"), (r.json or {}).get("items"), "flows = GET /v1/flows")

    def t_tail(self):
        flow = "cli-tail-" + self.uniq
        a = self.create(flow)
        for t in ("started", "progress", "progress"):
            self.append(a, t)
        rc, out, _ = self.xl("tail", str(a), "-n", "2")
        self.c.eq((rc, [json.loads(l)["seq"] for l in out.splitlines()]), (0, [3, 4]), "tail -n 2: the last two")
        poll = Tail([self.args.execlog, "tail", "-f", str(a), "-n", "1"], self.env())
        stream = Tail([self.args.execlog, "tail", "-f", "--flow", flow], self.env())
        other = Tail([self.args.execlog, "tail", "-f", "--flow", flow + "-other"], self.env())
        idle = Tail([self.args.execlog, "tail", "-f", "--flow", flow + "-idle"], self.env())
        self.tails += [poll, stream, other, idle]
        self.c.eq([e["seq"] for e in poll.events(1)], [4], "tail -f -n 1: the last event first")
        time.sleep(1.0)  # the stream starts at the present: let it connect
        self.append(a, "progress", metrics={"rows": 1})
        self.append(a, "warning", warnings=["w"])
        b = self.create(flow)
        self.c.eq([e["seq"] for e in poll.events(2)], [5, 6], "tail -f <id>: events written after it started")
        got = stream.events(3)
        self.c.eq([(e["audit_id"], e["seq"]) for e in got], [(a, 5), (a, 6), (b, 1)],
                  "tail -f --flow: the flow's new events (SSE)")
        self.c.eq(other.quiet(0.5), [], "tail -f --flow: another flow's events are not shown")
        feed = [e.get("feed_seq") for e in got]
        self.c.ok(all(isinstance(f, int) for f in feed) and feed == sorted(feed), "SSE events carry feed_seq", feed)

        # execlogd restarts on the same port: both resume where they stopped
        ports = iter([self.srv.port, self.srv.tls_port])
        free_port = X.free_port
        X.free_port = lambda: next(ports)
        try:
            self.srv.stop()
            time.sleep(1.0)  # both clients see the server gone and back off
            self.srv.start()
        finally:
            X.free_port = free_port
        d = self.create(flow + "-idle")  # at once: most likely before the idle stream has reconnected
        self.append(a, "progress", metrics={"rows": 2})
        self.append(b, "started")
        self.append(a, "succeeded")
        self.c.eq([e["seq"] for e in poll.events(2, timeout=30)], [7, 8], "tail -f <id> after a restart: resumed")
        got = stream.events(3, timeout=30)
        self.c.eq([(e["audit_id"], e["seq"]) for e in got], [(a, 7), (b, 2), (a, 8)],
                  "tail -f --flow after a restart: resumed with Last-Event-ID, none lost, none twice")
        self.c.eq(poll.quiet(0.3) + stream.quiet(0.3), [], "no event twice after the restart")
        self.c.eq([(e["audit_id"], e["seq"]) for e in idle.events(1, timeout=30)], [(d, 1)],
                  "tail -f --flow with no event before the restart: resumed from the stream's start, none lost")
        self.c.ok(any("lost" in l for l in poll.err) and any("resumed" in l for l in poll.err),
                  "tail -f <id>: says it lost and resumed the server (stderr)", repr(poll.err))
        self.c.ok(any("resumed" in l for l in stream.err), "tail -f --flow: says it resumed (stderr)",
                  repr(stream.err))
        for t in (poll, stream, other, idle):
            t.stop()
        # --max-events ends it; --last-event-id replays from there
        last = got[0]["feed_seq"] - 1 if got else 0
        rc, out, err = self.xl("tail", "-f", "--flow", flow, "--last-event-id", str(last), "--max-events", "3")
        self.c.eq((rc, [(json.loads(l)["audit_id"], json.loads(l)["seq"]) for l in out.splitlines()]),
                  (0, [(a, 7), (b, 2), (a, 8)]), "tail -f --last-event-id --max-events 3: a replay, then exit 0")
        self.fails("tail -f --last-event-id never issued", ["tail", "-f", "--last-event-id", "99999999"], 4,
                   ["(400)"])
        rc, out, err = self.xl("-o", "table", "tail", str(a), "-n", "1")
        self.c.ok(rc == 0 and " 8 " in out and "succeeded" in out, "tail table: the row", out)
        self.fails("tail not found", ["tail", "-f", "9007199254740990"], 2, ["(404)"])
        self.fails("tail --flow without -f", ["tail", "--flow", flow], 1, ["add -f"])

    def t_auth(self):
        a = self.script_run
        self.fails("no token", ["get", str(a)], 3, ["(401)"], token=None)
        self.fails("unknown token", ["get", str(a)], 3, ["(401)"], token="not-a-token")
        self.fails("unknown token (ls)", ["ls"], 3, ["(401)"], token="not-a-token")
        self.fails("unknown token (tail -f)", ["tail", "-f"], 3, ["(401)"], token="not-a-token")
        self.fails("unknown token (emit)", ["emit", "start", "--flow", "x"], 3, ["(401)"], token="not-a-token")
        got = self.json_of("reader token", "get", str(a), token=READER)
        self.c.eq((got or {}).get("audit_id"), a, "a reader's token reads")
        # a tenant's writer: its executions are its tenant's
        mine = self.xl("emit", "start", "--flow", "cli-acme-" + self.uniq, token=ACME)
        if self.c.eq(mine[0], 0, "acme writer: emit start (%r)" % mine[2]):
            st = self.api("GET", "/v1/executions/%s" % mine[1].strip())
            self.c.eq(st.get("tenant_id"), "acme", "acme writer: tenant_id filled in")
        self.fails("acme writer, another tenant", ["--tenant", "other", "emit", "start", "--flow", "x"], 3, ["(403)"],
                   token=ACME)

    def t_down(self):
        # nothing listens there
        port = X.free_port()
        self.fails("server down", ["get", "1"], 5, ["cannot connect"], server="http://127.0.0.1:%d" % port)
        self.fails("server down (tail -f)", ["tail", "-f", "1"], 5, ["cannot connect"],
                   server="http://127.0.0.1:%d" % port)
        self.fails("server down (emit)", ["emit", "start", "--flow", "f"], 5, server="http://127.0.0.1:%d" % port)
        # it listens, but never answers: the --timeout bound
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            t0 = time.monotonic()
            self.fails("no answer", ["--timeout", "1", "get", "1"], 5, ["timeout"],
                       server="http://127.0.0.1:%d" % s.getsockname()[1])
            self.c.ok(time.monotonic() - t0 < 20, "no answer: bounded by --timeout", "%.1f s" % (time.monotonic() - t0))
        self.fails("a name that does not resolve", ["get", "1"], 5, server="http://no-such-host.invalid:8080")

    def t_tls(self):
        a = self.script_run
        want = self.api("GET", "/v1/executions/%d" % a)
        url = self.srv.https_url
        got = self.json_of("https --cacert", "--cacert", self.cert[0], "get", str(a), server=url)
        self.c.eq(got, want, "https:// with --cacert: the same answer")
        rc, out, err = self.xl("get", str(a), server=url)
        self.c.eq(rc, 5, "https:// without the CA: refused (exit code)")
        self.c.ok("certificate" in err or "verify" in err, "https:// without the CA: says why", err)
        rc, out, err = self.xl("--cacert", self.cert[0], "get", str(a),
                                server="https://127.0.0.2:%d" % self.srv.tls_port)
        self.c.eq(rc, 5, "https:// to a name the certificate does not have: refused")

    # ---- driver ----------------------------------------------------------------------

    def suite(self):
        self.tmp = tempfile.mkdtemp(prefix="xl-cli-")
        self.cert = X.make_cert(self.tmp)
        tokens = os.path.join(self.tmp, "tokens")
        with open(tokens, "w") as fp:
            fp.write("%s * admin\n%s * reader\n%s acme writer\n" % (X.token_hash(ADMIN), X.token_hash(READER),
                                                                     X.token_hash(ACME)))
        self.srv = X.Execlogd(self.args.execlogd, name="execlogd", tls=self.cert,
                              args=["--auth.tokens=" + tokens, "--stream.keepalive.ms=2000"])
        self.srv.start()
        self.section("help and usage", self.t_help)
        self.section("emit from a script", self.t_emit_script)
        if not hasattr(self, "script_run"):
            return
        self.section("get", self.t_get)
        self.section("ls", self.t_ls)
        self.section("events", self.t_events)
        self.section("lineage", self.t_lineage)
        self.section("flows", self.t_flows)
        self.section("auth", self.t_auth)
        self.section("server down", self.t_down)
        self.section("tls", self.t_tls)
        self.section("tail", self.t_tail)
        self.c.phase = "stop"
        rc, _ = self.srv.stop()
        self.c.eq(rc, 0, "SIGTERM: exit status")

    def run(self):
        try:
            self.suite()
        except Exception as e:  # noqa: BLE001 - e.g. execlogd does not start: a failure, never a crash
            self.c.ok(False, "harness", "%s: %s" % (type(e).__name__, e))
        finally:
            for t in self.tails:
                t.stop()
            if hasattr(self, "srv"):
                self.srv.kill()
        if self.c.failed and hasattr(self, "srv"):
            self.srv.dump_logs()
        if not self.c.failed or not self.args.keep:
            if hasattr(self, "srv"):
                self.srv.cleanup()
            if hasattr(self, "tmp"):
                shutil.rmtree(self.tmp, ignore_errors=True)
        print("(%.1f s)" % (time.monotonic() - self.t_start))
        print("%d passed, %d failed" % (self.c.passed, self.c.failed), flush=True)
        return 0 if self.c.failed == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--execlog", required=True, help="path of the execlog binary")
    ap.add_argument("--execlogd", required=True, help="path of the execlogd binary")
    ap.add_argument("--src", required=True, help="repository root")
    ap.add_argument("--verbose", "-v", action="store_true", help="print each section's duration")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories of a failed run")
    return Suite(ap.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
