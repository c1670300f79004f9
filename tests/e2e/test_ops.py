#!/usr/bin/python3
"""
End-to-end test of execlogd's packaging and observability (issue 11): the real binary and the real tools.

- install: `make install` into a staging DESTDIR with another PREFIX (a build of its own) lays out the binary,
  the units, the sysusers.d and tmpfiles.d entries and the examples; systemd-sysusers and systemd-tmpfiles
  (--root) create the execlog user and the modes from them; `systemd-analyze security --offline` rates both
  units OK; a second install keeps an edited /etc/execlog/execlogd.properties.
- notify: a replica started with NOTIFY_SOCKET (a unix datagram socket listened to here) and a backlog to
  apply sends READY=1 only after GET /readyz answers 200 (every /readyz before it was 503, none after), and
  STOPPING=1 on SIGTERM.
- access log: one logfmt line per request with its request ID (a sane X-Request-Id is kept and echoed,
  another replaced), method, route, path, status, duration, bytes, held, the caller (role, tenant, the
  token's hash prefix, never the token), the reason of each 401/403, traceparent; log.access=off and a file,
  opened again on SIGHUP (log rotation).
- metrics: method and route as labels; an SSE stream and a long poll counted in execlog_http_held_seconds,
  not in the request latency; process_*; every metric the Grafana dashboard and the alert rules use is in a
  live scrape; promtool check rules and promtool test rules pass.

Usage: test_ops.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check and "N passed, N failed"; exits 1 on any failure.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402
from test_write_path import Checks  # noqa: E402

# PromQL words that are not metric names
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "le", "inf", "nan"}
# series Prometheus adds to every scrape itself
SCRAPE_SERIES = {"up"}

TOKENS = {"admin": ("ops-admin-token", "*", "admin"), "acme_r": ("ops-acme-reader", "acme", "reader"),
          "acme_w": ("ops-acme-writer", "acme", "writer")}


def metric_names(expr):
    """The metric names a PromQL expression reads (labels, strings, durations, functions and keywords left out)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\$\w+", "", e)  # Grafana variables
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS:
            continue  # a function or a keyword
        if re.match(r"^\d", e[max(0, m.start() - 1):m.start()] or "x"):
            continue  # the unit of a number (1e3) or a duration
        names.add(word)
    return names


def dashboard_exprs(dash):
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets") or []:
                if t.get("expr"):
                    out.append(("panel %r" % p.get("title"), t["expr"]))
            walk(p.get("panels") or [])

    walk(dash.get("panels") or [])
    for v in (dash.get("templating") or {}).get("list") or []:
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.match(r"^\s*label_values\((.*),\s*\w+\)\s*$", q or "")
        if m:
            out.append(("variable %s" % v.get("name"), m.group(1)))
    return out


def rule_exprs(path):
    """expr: lines of a rules file (plain and | blocks): enough for the rules we write, no YAML library needed."""
    out, lines = [], open(path).read().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
        if m:
            indent, value = len(m.group(1)), m.group(2).strip()
            if value in ("|", ">"):
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                out.append(("rule", " ".join(block)))
                continue
            out.append(("rule", value.strip("'\"")))
        i += 1
    return out


def scraped_names(text):
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", text, re.M)}


def access_lines(text):
    """The access lines of a log, each as a dict (logfmt: bare or quoted values with \\\" \\\\ \\xNN escapes)."""
    out = []
    for line in text.splitlines():
        if " mod=access " not in line:
            continue
        rec = {}
        for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line.split(" mod=access ", 1)[1]):
            v = m.group(2)
            if v.startswith('"'):
                v = re.sub(r"\\x([0-9a-f]{2})|\\(.)",
                           lambda g: chr(int(g.group(1), 16)) if g.group(1) else g.group(2), v[1:-1])
            rec[m.group(1)] = v
        out.append(rec)
    return out


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.tmp = tempfile.mkdtemp(prefix="xl-ops-")
        self.servers = []

    # ---- make install --------------------------------------------------------------------------

    def t_install(self):
        root, build, prefix = os.path.join(self.tmp, "root"), os.path.join(self.tmp, "build"), "/opt/execlog"
        argv = ["nice", "-n", "10", "make", "-C", self.args.src, "--no-print-directory", "install",
                "BUILD=" + build, "PREFIX=" + prefix, "DESTDIR=" + root, "JOBS=2"]
        cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
        if not self.c.eq(cp.returncode, 0, "make install DESTDIR PREFIX: exit status"):
            print(cp.stdout.decode("utf-8", "replace")[-3000:])
            return
        want = ["opt/execlog/bin/execlogd", "opt/execlog/bin/execlog", "opt/execlog/lib/systemd/system/execlogd.service",
                "opt/execlog/lib/systemd/system/execlogd@.service", "opt/execlog/lib/sysusers.d/execlog.conf",
                "opt/execlog/lib/tmpfiles.d/execlog.conf", "opt/execlog/share/doc/execlog/execlogd.properties",
                "opt/execlog/share/doc/execlog/tokens.example", "opt/execlog/share/doc/execlog/README.md",
                "opt/execlog/share/doc/execlog/grafana/execlog.json",
                "opt/execlog/share/doc/execlog/prometheus/execlog-alerts.yml", "etc/execlog/execlogd.properties"]
        for f in want:
            self.c.ok(os.path.isfile(os.path.join(root, f)), "installed: /%s" % f)
        leaked = [os.path.join(d, f)[len(root):] for d, _, fs in os.walk(root) for f in fs
                  if not os.path.join(d, f)[len(root) + 1:].startswith(("opt/execlog/", "etc/execlog/"))]
        self.c.eq(leaked, [], "nothing installed outside PREFIX and /etc/execlog")
        binary = os.path.join(root, "opt/execlog/bin/execlogd")
        cp = subprocess.run([binary, "--version"], stdout=subprocess.PIPE, timeout=10)
        self.c.ok(cp.returncode == 0 and cp.stdout.startswith(b"execlogd "), "the installed binary runs",
                  repr(cp.stdout))
        units = os.path.join(root, "opt/execlog/lib/systemd/system")
        for unit, args in (("execlogd.service", "-c /etc/execlog/execlogd.properties --role=all "
                                                "--data.dir=/var/lib/execlog"),
                           ("execlogd@.service", "-c /etc/execlog/execlogd-%i.properties --role=%i "
                                                 "--data.dir=/var/lib/execlog/%i")):
            text = open(os.path.join(units, unit)).read()
            self.c.ok(re.search(r"^ExecStart=/opt/execlog/bin/execlogd %s$" % re.escape(args), text, re.M),
                      "%s: ExecStart names the installed binary" % unit, text[:2000])
            for line in ("Type=notify", "User=execlog", "NoNewPrivileges=yes", "ProtectSystem=strict",
                         "SystemCallFilter=@system-service", "CapabilityBoundingSet=", "MemoryDenyWriteExecute=yes"):
                self.c.ok(re.search(r"^%s$" % re.escape(line), text, re.M), "%s: %s" % (unit, line))
            self.c.ok("@" not in re.sub(r"@system-service|@privileged|@resources|%i|execlogd@", "", text.split(
                "[Unit]", 1)[1]), "%s: every @VAR@ substituted" % unit)
        # the user and the modes, made by systemd's own tools in the staging root
        cp = subprocess.run(["systemd-sysusers", "--root=" + root,
                             os.path.join(root, "opt/execlog/lib/sysusers.d/execlog.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        self.c.eq(cp.returncode, 0, "systemd-sysusers --root: exit status")
        passwd = open(os.path.join(root, "etc/passwd")).read() if os.path.exists(os.path.join(root, "etc/passwd")) \
            else ""
        m = re.search(r"^execlog:x:(\d+):(\d+):[^:]*:/var/lib/execlog:/usr/sbin/nologin$", passwd, re.M)
        self.c.ok(m and int(m.group(1)) < 1000, "sysusers: a system user execlog", passwd)
        cp = subprocess.run(["systemd-tmpfiles", "--root=" + root, "--create",
                             os.path.join(root, "opt/execlog/lib/tmpfiles.d/execlog.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        self.c.eq(cp.returncode, 0, "systemd-tmpfiles --root: exit status")
        st = os.stat(os.path.join(root, "etc/execlog/execlogd.properties"))
        self.c.eq((oct(st.st_mode & 0o777), st.st_uid, st.st_gid),
                  (oct(0o640), 0, int(m.group(2)) if m else -1), "tmpfiles: the settings are root:execlog 0640")
        # systemd's own rating of the units
        # (PREFIX/lib/systemd/system is not on systemd's search path for /opt: the files are named; the template
        # is rated as an instance of it)
        rated = os.path.join(self.tmp, "rated")
        os.makedirs(rated)
        shutil.copy(os.path.join(units, "execlogd.service"), os.path.join(rated, "execlogd.service"))
        shutil.copy(os.path.join(units, "execlogd@.service"), os.path.join(rated, "execlogd@replica.service"))
        for unit in ("execlogd.service", "execlogd@replica.service"):
            cp = subprocess.run(["systemd-analyze", "security", "--offline=true", os.path.join(rated, unit)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            out = cp.stdout.decode("utf-8", "replace")
            r = re.search(r"Overall exposure level for %s: ([0-9.]+) (\w+)" % re.escape(unit), out)
            self.c.ok(r and r.group(2) == "OK" and float(r.group(1)) < 2.0,
                      "systemd-analyze security %s: OK" % unit, out[-400:])
        # a second install keeps settings an operator edited
        conf = os.path.join(root, "etc/execlog/execlogd.properties")
        with open(conf, "a") as fp:
            fp.write("listen = 0.0.0.0:9999\n")
        cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
        self.c.eq(cp.returncode, 0, "make install again: exit status")
        self.c.ok(open(conf).read().endswith("listen = 0.0.0.0:9999\n"), "make install again: settings kept")

    # ---- sd_notify -------------------------------------------------------------------------------

    def t_notify(self):
        os.makedirs(os.path.join(self.tmp, "node"))
        node = X.Execlogd(self.args.execlogd, name="node", workdir=os.path.join(self.tmp, "node"))
        self.servers.append(node)
        node.start()
        # a backlog for the replica to apply, so that it starts not ready
        total = 0
        for i in range(8):
            body = "".join('{"flow_id":"backlog-%d"}\n' % (i * 2500 + j) for j in range(2500))
            r = node.curl("POST", "/v1/events", body, headers={"content-type": "application/x-ndjson"}, timeout=60)
            if self.c.status(r, 200, "backlog batch %d" % i):
                total += (r.json or {}).get("accepted", 0)
        self.c.eq(total, 20000, "backlog: every create accepted")

        sock_path = os.path.join(self.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.setblocking(False)
        port = X.free_port()
        log = open(os.path.join(self.tmp, "replica.log"), "wb")
        env = dict(os.environ, NOTIFY_SOCKET=sock_path)
        proc = subprocess.Popen([self.args.execlogd, "--data.dir=" + os.path.join(self.tmp, "replica-data"),
                                 "--listen=127.0.0.1:%d" % port, "--role=replica", "--readyz.max_lag=0",
                                 "--kafka.bootstrap.servers=" + node.bootstrap()],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=X._die_with_parent)
        try:
            self.notify_run(proc, sock, port)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            log.close()
            sock.close()
        rc, _ = node.stop()
        self.c.eq(rc, 0, "node: SIGTERM exit status")


    def messages(self, sock):
        out = []
        while True:
            try:
                out += sock.recv(4096).decode().split("\n")
            except BlockingIOError:
                return [m for m in out if m]

    def notify_run(self, proc, sock, port):
        got, before, after = [], [], []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "READY=1" not in got and proc.poll() is None:
            code = X.readyz_status(port)  # first /readyz, then the socket: a READY=1 read now was sent before it
            got += self.messages(sock)
            if code is not None:
                (after if "READY=1" in got else before).append(code)
            time.sleep(0.02)
        self.c.ok("READY=1" in got, "READY=1 arrives", "got %r; /readyz answered %r" % (got, sorted(set(before))))
        self.c.ok(503 in before, "the replica was not ready while it applied its backlog (so the order is tested)",
                  "answers before READY=1: %r" % sorted(set(before)))
        self.c.eq(sorted(set(before) - {503, 200}), [], "/readyz before READY=1: 503 (or 200 in the last instant)")
        self.c.ok(before.count(200) <= 1, "READY=1 follows the first 200 of /readyz at once",
                  "%d answers of 200 before READY=1" % before.count(200))
        for _ in range(10):
            after.append(X.readyz_status(port))
        self.c.eq(sorted(set(after)), [200], "/readyz after READY=1: 200")
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(X.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            rc = None
        time.sleep(0.1)
        got += self.messages(sock)
        self.c.eq(rc, 0, "replica: SIGTERM exit status")
        self.c.ok("STOPPING=1" in got and got.index("STOPPING=1") > got.index("READY=1"),
                  "STOPPING=1 after SIGTERM", repr(got))
        self.c.eq(got.count("READY=1"), 1, "READY=1 is sent once")

    # ---- access log, metrics ------------------------------------------------------------------------

    def tokens_file(self):
        path = os.path.join(self.tmp, "tokens")
        with open(path, "w") as fp:
            for tok, tenant, role in TOKENS.values():
                fp.write("%s %s %s\n" % (X.token_hash(tok), tenant, role))
        return path

    def t_access(self):
        os.makedirs(os.path.join(self.tmp, "access"))
        srv = X.Execlogd(self.args.execlogd, name="access", workdir=os.path.join(self.tmp, "access"),
                         args=["--auth.tokens=" + self.tokens_file()])
        self.servers.append(srv)
        srv.start()
        tok = {k: v[0] for k, v in TOKENS.items()}
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        r = srv.curl("POST", "/v1/executions", {"flow_id": "ops"}, token=tok["acme_w"],
                     headers={"X-Request-Id": "req-42.a:b", "traceparent": tp})
        self.c.status(r, 201, "create")
        self.c.eq(r.header("x-request-id"), "req-42.a:b", "a sane X-Request-Id is echoed")
        aid = (r.json or {}).get("audit_id")
        r = srv.curl("GET", "/v1/executions/%s" % aid, http="h2c", token=tok["acme_r"],
                     headers={"X-Request-Id": "bad id\"with=quotes"})
        self.c.status(r, 200, "read")
        gen = r.header("x-request-id") or ""
        self.c.ok(re.match(r"^[0-9a-f]{16}$", gen), "an unsafe X-Request-Id is replaced by a fresh one", gen)
        r2 = srv.curl("GET", "/v1/executions/%s" % aid, token=tok["acme_r"])
        self.c.ok(r2.header("x-request-id") not in (None, gen), "each request gets its own ID",
                  repr(r2.header("x-request-id")))
        self.c.status(srv.curl("GET", "/v1/executions/%s" % aid), 401, "no token")
        self.c.status(srv.curl("GET", "/v1/executions/%s" % aid, token="not-a-token-at-all"), 401, "bad token")
        self.c.status(srv.curl("GET", "/v1/executions/%s" % aid, headers={"Authorization": "Digest username=\"foo\""}),
                      401, "another scheme (Digest)")
        self.c.status(srv.curl("POST", "/v1/executions", {"flow_id": "x"}, token=tok["acme_r"]), 403,
                      "reader writes")
        self.c.status(srv.curl("GET", "/metrics", token=tok["acme_r"]), 403, "tenant reads /metrics")
        self.c.status(srv.curl("GET", '/no/such%22path?q=1'), 404, "no route")
        # held answers: a long poll that waits its whole second, an SSE stream that ends after a second
        t = time.monotonic()
        r = srv.curl("GET", "/v1/executions/%s/events?after_seq=99&wait=1" % aid, token=tok["acme_r"])
        self.c.ok(r.status == 200 and time.monotonic() - t >= 0.9, "long poll held for its wait", repr(r))
        r = srv.curl("GET", "/v1/stream?timeout=1", http="h2c", token=tok["admin"])
        self.c.status(r, 200, "SSE stream with a timeout")
        time.sleep(0.3)
        text = srv.curl("GET", "/metrics", token=tok["admin"]).raw.decode()
        recs = access_lines(srv.log_text())
        by_id = {x.get("id"): x for x in recs}

        a = by_id.get("req-42.a:b") or {}
        self.c.eq({k: a.get(k) for k in ("method", "route", "path", "status", "held", "role", "tenant", "token",
                                         "traceparent", "remote")},
                  {"method": "POST", "route": "/v1/executions", "path": "/v1/executions", "status": "201", "held": "0",
                   "role": "writer", "tenant": "acme", "token": X.token_hash(tok["acme_w"])[:8], "traceparent": tp,
                   "remote": "127.0.0.1"}, "access line of the create")
        self.c.ok(re.match(r"^\d+\.\d{3}$", a.get("duration_ms", "")) and int(a.get("bytes", "0")) > 50,
                  "access line: duration and bytes", repr(a))
        b = by_id.get(gen) or {}
        self.c.eq({k: b.get(k) for k in ("method", "route", "path", "status", "role", "tenant")},
                  {"method": "GET", "route": "/v1/executions/{id}", "path": "/v1/executions/%s" % aid, "status": "200",
                   "role": "reader", "tenant": "acme"}, "access line of the h2c read")
        fails = [x for x in recs if x.get("status") in ("401", "403")]
        self.c.eq(sorted((x.get("status"), x.get("auth")) for x in fails),
                  [("401", "no credentials"), ("401", "not the Bearer scheme"), ("401", "unknown token"),
                   ("403", "needs a token for all tenants"), ("403", "needs the writer role")],
                  "each 401 and 403 is logged with its reason")
        f403 = [x for x in fails if x.get("status") == "403"]
        self.c.ok(all(x.get("token") == X.token_hash(tok["acme_r"])[:8] and x.get("tenant") == "acme" for x in f403),
                  "a 403 names the token it refused (its hash prefix)", repr(f403))
        log = srv.log_text()
        self.c.ok(not any(t in log for t in tok.values()) and "not-a-token-at-all" not in log,
                  "no token appears in the log")
        nf = [x for x in recs if x.get("status") == "404"]
        self.c.ok(nf and nf[0].get("route") == "unmatched" and nf[0].get("path") == '/no/such%22path',
                  "an unmatched request: route unmatched, the path without its query", repr(nf))
        held = [x for x in recs if x.get("held") == "1"]
        self.c.eq(sorted(x.get("route") for x in held), ["/v1/executions/{id}/events", "/v1/stream"],
                  "the long poll and the stream are logged as held")
        self.c.ok(all(float(x.get("duration_ms", 0)) >= 900 for x in held), "held lines have their whole time",
                  repr(held))

        # metrics: labels and the held histogram
        def val(name, **labels):
            want = ",".join('%s="%s"' % kv for kv in labels.items())
            m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(want)), text, re.M)
            return float(m.group(1)) if m else None

        self.c.eq(val("execlog_http_requests_total", method="POST", route="/v1/executions", code="201"), 1.0,
                  "requests_total by method and route")
        self.c.eq(val("execlog_http_requests_total", method="GET", route="/v1/stream", code="200"), 1.0,
                  "requests_total counts the stream")
        self.c.eq(val("execlog_http_held_seconds_count", method="GET", route="/v1/stream", code="200"), 1.0,
                  "the stream is in execlog_http_held_seconds")
        self.c.eq(val("execlog_http_held_seconds_count", method="GET", route="/v1/executions/{id}/events",
                      code="200"), 1.0, "the long poll is in execlog_http_held_seconds")
        self.c.ok((val("execlog_http_held_seconds_sum", method="GET", route="/v1/stream", code="200") or 0) >= 0.9,
                  "held seconds: the stream's whole second")
        self.c.eq(val("execlog_http_request_duration_seconds_count", method="GET", route="/v1/stream", code="200"),
                  None, "the stream is not in the request latency")
        self.c.eq(val("execlog_http_request_duration_seconds_count", method="GET",
                      route="/v1/executions/{id}/events", code="200"), None,
                  "the long poll is not in the request latency")
        self.c.eq(val("execlog_http_request_duration_seconds_count", method="GET", route="/v1/executions/{id}",
                      code="200"), 2.0, "the reads are in the request latency")
        self.c.ok(not re.search(r'route="(GET|POST) ', text), "no route label carries a method")
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                     "process_open_fds", "process_max_fds", "process_start_time_seconds"):
            m = re.search(r"^%s (\S+)$" % name, text, re.M)
            self.c.ok(m and float(m.group(1)) > 0, "metrics: %s" % name, m.group(0) if m else "absent")
        m = re.search(r"^process_start_time_seconds (\S+)$", text, re.M)
        if m:
            self.c.ok(abs(float(m.group(1)) - (time.time() - (time.monotonic() - self.started))) < 600,
                      "process_start_time_seconds is about now", m.group(1))
        m = re.search(r"^execlog_ready (\S+)$", text, re.M)
        self.c.eq(float(m.group(1)) if m else None, 1.0, "execlog_ready 1 on a ready node")
        self.metrics_text = text
        rc, _ = srv.stop()
        self.c.eq(rc, 0, "SIGTERM exit status")

        # log.access=off, and a file of its own
        path = os.path.join(self.tmp, "access.log")
        for setting in ("off", path):
            srv.start(extra_args=["--log.access=" + setting])
            srv.curl("GET", "/v1/info", token=tok["admin"], headers={"X-Request-Id": "where-%d" % srv.runs})
            srv.stop()
            in_log = [x for x in access_lines(srv.log_text()) if x.get("id") == "where-%d" % srv.runs]
            in_file = [x for x in access_lines(open(path).read() if os.path.exists(path) else "")
                       if x.get("id") == "where-%d" % srv.runs]
            self.c.eq((len(in_log), len(in_file)), (0, 0 if setting == "off" else 1),
                      "log.access=%s: (lines in the process log, lines in the file)" % setting)
        # rotation: the file moved away, SIGHUP, and the next line goes to a new file of that name
        srv.start(extra_args=["--log.access=" + path])
        srv.curl("GET", "/v1/info", token=tok["admin"], headers={"X-Request-Id": "before-rotation"})
        # the line is written once the answer is out (so maybe after curl returned), then flushed within 100 ms
        deadline = time.time() + 10
        while time.time() < deadline and "before-rotation" not in open(path).read():
            time.sleep(0.05)
        os.rename(path, path + ".1")
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        srv.curl("GET", "/v1/info", token=tok["admin"], headers={"X-Request-Id": "after-rotation"})
        self.c.ok(srv.alive(), "SIGHUP does not stop execlogd")
        rc, _ = srv.stop()
        self.c.eq(rc, 0, "SIGTERM after SIGHUP: exit status")
        old_ids = [x.get("id") for x in access_lines(open(path + ".1").read())]
        new_ids = [x.get("id") for x in access_lines(open(path).read() if os.path.exists(path) else "")]
        self.c.ok("before-rotation" in old_ids and "after-rotation" not in old_ids, "rotation: the old file ends",
                  repr(old_ids))
        self.c.ok("after-rotation" in new_ids and "before-rotation" not in new_ids, "rotation: a new file begins",
                  repr(new_ids))
        p = subprocess.run([self.args.execlogd, "--log.access=/nonexistent/dir/a.log"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        self.c.ok(p.returncode == 2 and b"log.access" in p.stderr, "an access log that cannot be opened: exit 2",
                  repr((p.returncode, p.stderr[-200:])))

    # ---- the dashboard and the alerts against a live scrape ---------------------------------------

    def t_dashboards(self):
        text = getattr(self, "metrics_text", None)
        if not self.c.ok(text, "a scrape from the access section"):
            return
        have = scraped_names(text) | SCRAPE_SERIES
        # the checker itself: it must see through functions, labels and variables, and catch a wrong name
        self.c.eq(metric_names('sum by (le, route) (rate(a_b_bucket{x=~"5..",y!="z"}[$__rate_interval])) / '
                               'on(instance) c_total offset 5m > 0.05 and time() - d_seconds{q="$job"}'),
                  {"a_b_bucket", "c_total", "d_seconds"}, "metric_names: what an expression reads")
        dash = json.load(open(os.path.join(self.args.src, "ops/grafana/execlog.json")))
        rules = os.path.join(self.args.src, "ops/prometheus/execlog-alerts.yml")
        exprs = dashboard_exprs(dash) + rule_exprs(rules)
        self.c.ok(len(exprs) >= 40, "dashboard and rules: expressions found", str(len(exprs)))
        used = {}
        for where, e in exprs:
            for n in metric_names(e):
                used.setdefault(n, where)
        self.c.ok(len(used) >= 35, "dashboard and rules: metric names found", repr(sorted(used)))
        missing = {n: w for n, w in used.items() if n not in have}
        self.c.eq(missing, {}, "every metric of the dashboard and the rules is in a live scrape")
        alerts = re.findall(r"^\s*- alert: (\w+)$", open(rules).read(), re.M)
        for want in ("ExeclogNotReady", "ExeclogProjectorStalled", "ExeclogConsumerLagHigh", "ExeclogHTTP5xxRate",
                     "ExeclogDLQGrowing", "ExeclogDiskStall"):
            self.c.ok(want in alerts, "alert rule %s" % want)
        # promtool on a copy (it resolves rule_files beside the test file)
        work = os.path.join(self.tmp, "prometheus")
        shutil.copytree(os.path.join(self.args.src, "ops/prometheus"), work)
        for argv in (["promtool", "check", "rules", "execlog-alerts.yml"],
                     ["promtool", "test", "rules", "execlog-alerts.test.yml"]):
            cp = subprocess.run(argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            out = cp.stdout.decode("utf-8", "replace")
            self.c.ok(cp.returncode == 0 and "SUCCESS" in out, " ".join(argv), out[-1500:])
        tested = set(re.findall(r"alertname: (\w+)", open(os.path.join(work, "execlog-alerts.test.yml")).read()))
        self.c.eq(sorted(set(alerts) - tested), [], "every alert has a promtool test")
        # a broken rule fails the same test: the tests do test something
        with open(os.path.join(work, "execlog-alerts.yml")) as fp:
            broken = fp.read().replace("execlog_projector_stalled == 1", "execlog_projector_stalled == 2")
        with open(os.path.join(work, "execlog-alerts.yml"), "w") as fp:
            fp.write(broken)
        cp = subprocess.run(["promtool", "test", "rules", "execlog-alerts.test.yml"], cwd=work,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        self.c.ok(cp.returncode != 0 and "ExeclogDiskStall" in cp.stdout.decode(), "a broken rule fails its test")

    def run(self):
        self.started = time.monotonic()
        try:
            self.section("access", self.t_access)
            self.section("dashboards", self.t_dashboards)
            self.section("notify", self.t_notify)
            self.section("install", self.t_install)
        finally:
            for s in self.servers:
                s.kill()
        print("%d passed, %d failed" % (self.c.passed, self.c.failed), flush=True)
        if self.c.failed:
            for s in self.servers:
                s.dump_logs(lines=60)
        if not (self.c.failed and self.args.keep):
            shutil.rmtree(self.tmp, ignore_errors=True)
        return 1 if self.c.failed else 0


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
