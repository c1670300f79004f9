"""
A small harness for black-box tests of the real execlogd binary.

It starts execlogd on a fresh temporary data directory and a free port,
waits (bounded) until GET /readyz answers 200, captures its log to a file,
stops it with SIGTERM (SIGKILL after a bound) or kills it outright, and
restarts it on the same data directory. Requests go through the curl binary
(HTTP/1.1 or h2c with prior knowledge; h2 and HTTP/1.1 over TLS when the
server has a certificate), Server-Sent Events are read from a running curl,
load goes through h2load, Kafka is read with kcat. Every wait
is bounded, and every process started here is killed when the test ends,
also when it fails or is killed itself (PR_SET_PDEATHSIG).

The real-cluster lane: with XL_TEST_KAFKA=<bootstrap list> in the
environment (ctest label kafka; ops/kafka/kafka.sh runs the cluster), every
Execlogd started here gets --kafka.bootstrap.servers, an events topic and a
dead-letter topic of its own (named after this run, so that runs sharing the
cluster never meet), an ingest.node.id of its own (execlogd claims it on the
whole cluster), and --ingest.ack=projected, unless its arguments choose.
on_cluster() tells a suite which lane it runs in; run_suite deletes the
run's topics at the end.

Only the Python standard library is used here.
"""

import argparse
import atexit
import ctypes
import hashlib
import itertools
import json
import os
import queue
import re
import shutil
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

START_TIMEOUT = 20.0  # seconds until /readyz must answer 200
STOP_TIMEOUT = 15.0  # seconds after SIGTERM before SIGKILL
CURL_TIMEOUT = 20.0  # seconds for one request (above ingest.timeout.ms)
KCAT_TIMEOUT = 20.0

# Flags every execlogd of the run gets before its own (a suite's own flags win): e.g. XL_TEST_EXECLOGD_ARGS=
# "--http.threads=1 --projector.threads=1" runs a suite on one HTTP loop and one projector worker (ctest sets
# "--http.threads=2 --projector.threads=2" for every suite, tests/CMakeLists.txt)
EXTRA_ARGS = shlex.split(os.environ.get("XL_TEST_EXECLOGD_ARGS", ""))
_live = []  # every Execlogd that may have a process; killed at exit

# The real-cluster lane (see the module's text): the cluster's bootstrap list, or None on the embedded broker.
KAFKA = os.environ.get("XL_TEST_KAFKA", "").strip() or None
RUN_ID = "%d-%s" % (os.getpid(), os.urandom(3).hex())  # in every topic name of this run
_topic_seq = itertools.count(1)
# execlogd claims its ingest.node.id on the whole cluster (whatever the topic): runs sharing the cluster take
# IDs from a random point, each instance its own, unless the test names one
_node_ids = itertools.count(16 + int.from_bytes(os.urandom(2), "little") % 200)
_topics = []  # the topics this run named (with their dead-letter topics): deleted by run_suite


def on_cluster():
    """True in the real-cluster lane (XL_TEST_KAFKA set)."""
    return KAFKA is not None


def new_topic(label):
    """A topic name of this run, unique to it: xl-<label>-<n>-<pid>-<random>."""
    t = "xl-%s-%d-%s" % (re.sub(r"[^A-Za-z0-9_-]", "-", label)[:40], next(_topic_seq), RUN_ID)
    _topics.append(t)
    return t


def lane_lock_path():
    """XL_TEST_KAFKA_LOCK (ctest sets it), else /tmp/xl-kafka-lane-<12 hex digits of SHA-1 of the bootstrap list>.lock."""
    return os.environ.get("XL_TEST_KAFKA_LOCK") or \
        "/tmp/xl-kafka-lane-%s.lock" % hashlib.sha1(KAFKA.encode()).hexdigest()[:12]


def lane_lock(exclusive, timeout=240.0):
    """
    The real-cluster lane's tests may run from several checkouts or ctest runs
    at once on one cluster: a test that breaks brokers (test_cluster.py)
    holds this lock exclusively, the others hold it shared. A file lock in the
    temporary directory, named after the cluster; released when the process
    ends. ctest's kafka_down takes it exclusively too (tests/e2e/kafka_down.sh), so that
    no run stops the cluster under another's test. Waits at most timeout
    seconds; raises HarnessError.
    """
    import fcntl
    path = lane_lock_path()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    deadline, told = time.monotonic() + timeout, False
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise HarnessError("another test held the cluster (%s) for %.0f s" % (path, timeout))
            if not told:
                print("waiting for another test's use of the cluster to end (%s)" % path, flush=True)
                told = True
            time.sleep(0.5)


def kafka_sh(src):
    return os.path.join(src, "ops", "kafka", "kafka.sh")


def ensure_cluster(src, timeout=150):
    """
    kafka.sh up, when XL_TEST_KAFKA is ops/kafka's cluster (another cluster is
    left alone). Idempotent (0.3 s on a running cluster): a cluster stopped
    between two tests by another run's kafka_down is started again. Raises HarnessError.
    """
    sh = kafka_sh(src)
    try:
        boot = subprocess.run([sh, "bootstrap"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=30).stdout.decode().strip()
        if boot != KAFKA:
            return
        cp = subprocess.run([sh, "up"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HarnessError("kafka.sh up: %s" % e)
    if cp.returncode != 0:
        raise HarnessError("kafka.sh up failed (%d): %s" % (cp.returncode, cp.stdout.decode("utf-8", "replace")[-1500:]))


def delete_topics(src, timeout=90):
    """Delete every topic of this run (and its dead-letter topic) from the cluster. Returns (ok, message)."""
    if not _topics:
        return True, "no topics"
    pattern = "xl-.*-%s(\\.dlq)?" % RUN_ID
    try:
        cp = subprocess.run([kafka_sh(src), "topics", "--delete", "--if-exists", "--topic", pattern],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "kafka.sh topics --delete did not finish in %d s" % timeout
    out = cp.stdout.decode("utf-8", "replace").strip()
    return cp.returncode == 0, out[-500:]


def _kill_all():
    for srv in list(_live):
        srv.kill()


atexit.register(_kill_all)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when this Python process dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TLS_HTTPS = ("h2", "1.1-tls")  # curl() protocols that go to the TLS listener


class HarnessError(Exception):
    """The harness could not do what a test asked (not a product check)."""


class Response:
    """One HTTP answer: unpacks as (status, headers, json_body)."""

    def __init__(self, status, version, headers, raw):
        self.status = status
        self.version = version  # "1.1" or "2"
        self.headers = headers  # lower-case name -> [values]
        self.raw = raw  # body bytes
        self.json = None
        if raw:
            try:
                self.json = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.json = None

    def header(self, name, default=None):
        values = self.headers.get(name.lower())
        return values[0] if values else default

    @property
    def content_type(self):
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def __iter__(self):
        return iter((self.status, self.headers, self.json))

    def __repr__(self):
        body = self.raw[:300].decode("utf-8", "replace")
        return "<HTTP/%s %s %s>" % (self.version, self.status, body)


def readyz_status(port, connect_timeout=1.0, read_timeout=2.0):
    """The status of GET /readyz on 127.0.0.1:port over a plain socket (no curl, so it can be polled fast), or
    None when nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=connect_timeout) as s:
            s.settimeout(read_timeout)
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        m = re.match(rb"HTTP/1\.1 (\d+)", data)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def _parse_headers(text):
    """Headers of the last response in a curl -D file (skips 1xx blocks)."""
    blocks, cur = [], []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith("HTTP/"):
            cur = [line]
            blocks.append(cur)
        elif line.strip() and cur:
            cur.append(line)
    headers = {}
    if not blocks:
        return headers
    for line in blocks[-1][1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers


def make_cert(directory, name="server"):
    """A self-signed certificate for 127.0.0.1 and localhost (openssl req). Returns (cert, key) paths."""
    cert, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    cp = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if cp.returncode != 0:
        raise HarnessError("openssl req failed: %s" % cp.stderr.decode().strip())
    return cert, key


def token_hash(token):
    """The line a tokens file holds for a token: its SHA-256 in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


class SSEClient:
    """
    A Server-Sent Events stream read from a running curl (-N). A thread
    parses the stream into events ({"id", "data", "event"}; data is parsed
    JSON when it is JSON) and comments; close() kills curl, which is a client
    disconnecting.
    """

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        self.events = []  # every event so far, in order
        self.comments = []
        self.ended = False  # the server ended the stream
        self._q = queue.Queue()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        cur = {}
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if "data" in cur or "id" in cur:
                    try:
                        cur["data"] = json.loads(cur.get("data", ""))
                    except ValueError:
                        pass
                    self._q.put(("event", cur))
                cur = {}
            elif line.startswith(":"):
                self._q.put(("comment", line[1:].strip()))
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data" and "data" in cur:
                    cur["data"] += "\n" + value
                else:
                    cur[name] = value
        self._q.put(("end", None))

    def _pump(self, timeout):
        try:
            kind, value = self._q.get(timeout=timeout)
        except queue.Empty:
            return False
        if kind == "event":
            self.events.append(value)
        elif kind == "comment":
            self.comments.append(value)
        else:
            self.ended = True
        return True

    def wait(self, cond, timeout=10.0):
        """Read until cond(self) holds, the stream ends, or timeout. Returns cond(self)."""
        deadline = time.monotonic() + timeout
        while not cond(self) and not self.ended:
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(min(left, 0.2)) and time.monotonic() >= deadline:
                break
        return cond(self)

    def wait_events(self, n, timeout=10.0):
        return self.wait(lambda s: len(s.events) >= n, timeout)

    def drain(self, seconds):
        """Read whatever arrives during seconds (to see that nothing more does)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.ended:
            self._pump(min(0.1, max(0.0, deadline - time.monotonic())))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        return self.proc.returncode

    def wait_exit(self, timeout=10.0):
        """Wait for curl to end by itself (the server closed the stream); returns its exit status or None."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._t.join(2)
        while self._pump(0.01):
            pass
        return rc


class Execlogd:
    """One execlogd process (and its data directory, which outlives restarts)."""

    def __init__(self, binary, workdir=None, args=(), name="execlogd", tls=None, topic=None, data_dir=None):
        """
        topic: in the real-cluster lane, the events topic (default: a new one of this run, see new_topic);
        several instances given the same topic are nodes of one service. data_dir: default workdir/data.
        """
        self.binary = os.path.abspath(binary)  # it runs in its work directory
        self.name = name
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="xl-e2e-")
        self.data_dir = data_dir or os.path.join(self.workdir, "data")
        self.args = list(args)
        self.topic_name = None  # the events topic given in the real-cluster lane (None: the embedded broker's)
        self.cluster_args = []
        if KAFKA is not None:
            self.topic_name = topic or new_topic(name)
            self.cluster_args = ["--kafka.bootstrap.servers=" + KAFKA, "--topic=" + self.topic_name,
                                 "--topic.dlq=" + self.topic_name + ".dlq"]
            if not any(a.startswith("--ingest.node.id") for a in self.args):
                self.cluster_args.append("--ingest.node.id=%d" % next(_node_ids))
            if not any(a.startswith("--ingest.ack") for a in self.args):
                self.cluster_args.append("--ingest.ack=projected")  # the suites' checks on seq hold on both lanes
        self.proc = None
        self.port = None
        self.runs = 0
        self.logs = []  # one log file per run
        self._info = None
        self._tmp = tempfile.mkdtemp(prefix="curl-", dir=self.workdir)
        self._nreq = itertools.count(1)  # request file names; curl() may run on several threads
        self.tls = tls  # (cert, key): also listen with TLS (listen.tls) on tls_port
        self.tls_port = None

    # ---- lifecycle ----------------------------------------------------------

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def https_url(self):
        return "https://localhost:%d" % self.tls_port

    def url(self, http):
        """Base URL for a protocol of curl(): TLS ones go to the TLS listener."""
        return self.https_url if http in TLS_HTTPS else self.base_url

    @property
    def log_path(self):
        return self.logs[-1] if self.logs else None

    def start(self, extra_args=(), timeout=START_TIMEOUT):
        """Start on the data directory; wait (at most timeout s) until /readyz answers 200. Raises HarnessError."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError("%s already running" % self.name)
        last = None
        for _attempt in range(3):  # the free port may be taken in between
            self.port = free_port()
            self.runs += 1
            log = os.path.join(self.workdir, "%s.run%d.log" % (self.name, self.runs))
            self.logs.append(log)
            argv = [self.binary, "--data.dir=" + self.data_dir, "--listen=127.0.0.1:%d" % self.port]
            if self.tls is not None:
                self.tls_port = free_port()
                argv += ["--listen.tls=127.0.0.1:%d" % self.tls_port, "--tls.cert=" + self.tls[0],
                         "--tls.key=" + self.tls[1]]
            argv += self.cluster_args + EXTRA_ARGS + self.args + list(extra_args)
            with open(log, "wb") as fp:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fp, stderr=subprocess.STDOUT,
                                             cwd=self.workdir, preexec_fn=_die_with_parent)
            _live.append(self)
            self._info = None
            try:
                self._wait_healthy(timeout)
                return self
            except HarnessError as e:
                last = e
                bind_failed = "cannot bind" in self.log_text()
                self.kill()
                if not bind_failed:
                    break
        raise last

    def _wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError("%s exited with status %s during start-up; log:\n%s" %
                                   (self.name, self.proc.returncode, self.log_tail()))
            if readyz_status(self.port, 0.5, 1.0) == 200:
                return
            time.sleep(0.05)
        raise HarnessError("%s was not ready (/readyz) within %.0f s; log:\n%s" % (self.name, timeout,
                                                                                   self.log_tail()))

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL after timeout. Returns (exit status, seconds it took)."""
        if self.proc is None:
            return None, 0.0
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self.proc = None
        if self in _live:
            _live.remove(self)
        return rc, time.monotonic() - t0

    def kill(self):
        """SIGKILL (kill -9) and reap."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        rc = self.proc.returncode
        self.proc = None
        if self in _live:
            _live.remove(self)
        return rc

    def restart(self, sigkill=False, extra_args=()):
        if sigkill:
            self.kill()
        else:
            self.stop()
        return self.start(extra_args)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        self.kill()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    # ---- logs ---------------------------------------------------------------

    def log_text(self, run=-1):
        if not self.logs:
            return ""
        try:
            with open(self.logs[run], "rb") as fp:
                return fp.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=80, run=-1):
        return "\n".join(self.log_text(run).splitlines()[-lines:])

    def dump_logs(self, out=sys.stdout, lines=150):
        for i, path in enumerate(self.logs):
            out.write("---- %s run %d log (%s), last %d lines ----\n" % (self.name, i + 1, path, lines))
            out.write(self.log_tail(lines, i) + "\n")

    # ---- HTTP -----------------------------------------------------------------

    def _protocol_args(self, http):
        if http not in ("1.1", "h2c") + TLS_HTTPS:
            raise ValueError("http must be 1.1, h2c, h2 (TLS, ALPN) or 1.1-tls")
        if http == "1.1":
            return ["--http1.1"]
        if http == "h2c":
            return ["--http2-prior-knowledge"]
        if self.tls is None:
            raise HarnessError("%s needs a server started with tls=(cert, key)" % http)
        return ["--cacert", self.tls[0], "--http2" if http == "h2" else "--http1.1"]

    def curl(self, method, path, body=None, http="1.1", headers=None, timeout=CURL_TIMEOUT, token=None):
        """
        One request with the curl binary. body: dict/list (sent as JSON), str
        or bytes (sent as is), or None. http: "1.1" or "h2c" (prior knowledge),
        or over TLS (a server started with tls=) "h2" (ALPN) or "1.1-tls";
        raises HarnessError if curl fails or another version was negotiated.
        token: sent as "Authorization: Bearer <token>".
        Returns a Response (unpacks as status, headers, json).
        """
        proto = self._protocol_args(http)
        n = next(self._nreq)
        bodyfile = os.path.join(self._tmp, "body.%d" % n)
        hdrfile = os.path.join(self._tmp, "hdr.%d" % n)
        argv = ["curl", "-sS", "-X", method, "-o", bodyfile, "-D", hdrfile,
                "-w", "%{http_code} %{http_version}", "--max-time", str(timeout),
                "-H", "Expect:"]
        argv += proto
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        reqfile = None
        if body is not None or method in ("POST", "PUT", "PATCH"):
            if body is None:
                data = b""
            elif isinstance(body, (dict, list)):
                data = json.dumps(body).encode()
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = bytes(body)
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["content-type"] = "application/json"
            reqfile = os.path.join(self._tmp, "req.%d" % n)
            with open(reqfile, "wb") as fp:
                fp.write(data)
            argv += ["--data-binary", "@" + reqfile]
        for k, v in hdrs.items():
            argv += ["-H", "%s: %s" % (k, v)]
        argv.append(self.url(http) + path)
        try:
            cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            raise HarnessError("curl %s %s (%s) did not finish" % (method, path, http))
        try:
            out = cp.stdout.decode().split()
            status, version = int(out[0]), out[1]
            raw = b""
            if os.path.exists(bodyfile):
                with open(bodyfile, "rb") as fp:
                    raw = fp.read()
            htext = ""
            if os.path.exists(hdrfile):
                with open(hdrfile, "rb") as fp:
                    htext = fp.read().decode("latin-1")
        finally:
            for f in (bodyfile, hdrfile, reqfile):
                if f and os.path.exists(f):
                    os.unlink(f)
        if cp.returncode != 0 or status == 0:
            raise HarnessError("curl %s %s over %s failed (exit %d, http_code %d): %s" %
                               (method, path, http, cp.returncode, status, cp.stderr.decode().strip()))
        want = "1.1" if http in ("1.1", "1.1-tls") else "2"
        if version != want:
            raise HarnessError("curl %s %s: asked for %s, got HTTP/%s" % (method, path, http, version))
        return Response(status, version, _parse_headers(htext), raw)

    def sse(self, path, http="h2c", headers=None, token=None, max_time=60):
        """Open a Server-Sent Events stream with curl -N; returns an SSEClient (close() it)."""
        argv = ["curl", "-sSN", "--max-time", str(max_time)] + self._protocol_args(http)
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        for k, v in hdrs.items():
            argv += ["-H", "%s: %s" % (k, v)]
        argv.append(self.url(http) + path)
        return SSEClient(argv)

    def h2load(self, path, n, clients=1, streams=1, http="h2c", token=None, timeout=60):
        """
        Run h2load against path: n requests over `clients` connections with up
        to `streams` concurrent streams each. http: "h2c" (prior knowledge),
        "h2" (TLS, ALPN) or "1.1" / "1.1-tls" (--h1). Returns a dict with
        protocol, done, succeeded, failed, errored, timeout, and 2xx..5xx
        counts as h2load reports them, plus the raw output.
        """
        url = self.url(http) + path
        argv = ["h2load", "-n", str(n), "-c", str(clients), "-m", str(streams)]
        if http in ("1.1", "1.1-tls"):
            argv.append("--h1")
        if token is not None:
            argv += ["-H", "authorization: Bearer " + token]
        argv.append(url)
        try:
            cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("h2load %s did not finish in %.0f s" % (path, timeout))
        out = cp.stdout.decode("utf-8", "replace")
        res = {"raw": out, "protocol": None}
        m = re.search(r"Application protocol: (\S+)", out)
        if m:
            res["protocol"] = m.group(1)
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored, (\d+) timeout", out)
        if m:
            for k, v in zip(("total", "started", "done", "succeeded", "failed", "errored", "timeout"), m.groups()):
                res[k] = int(v)
        m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        if m:
            for k, v in zip(("2xx", "3xx", "4xx", "5xx"), m.groups()):
                res[k] = int(v)
        if "2xx" not in res:
            raise HarnessError("h2load %s: no status line (exit %d):\n%s" % (path, cp.returncode, out[-2000:]))
        return res

    def info(self):
        if self._info is None:
            r = self.curl("GET", "/v1/info")
            if r.status != 200 or not isinstance(r.json, dict):
                raise HarnessError("GET /v1/info: %r" % r)
            self._info = r.json
        return self._info

    # ---- Kafka (kcat) -----------------------------------------------------------

    def bootstrap(self):
        return self.info()["kafka"]["bootstrap_servers"]

    def topic(self):
        return self.info()["kafka"]["topic"]

    def _kcat(self, args, timeout=KCAT_TIMEOUT):
        argv = ["kcat", "-b", self.bootstrap()] + list(args)
        try:
            cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("kcat %s did not finish in %.0f s" % (" ".join(args), timeout))
        if cp.returncode != 0:
            raise HarnessError("kcat %s failed (%d): %s" % (" ".join(args), cp.returncode,
                                                              cp.stderr.decode().strip()))
        return cp.stdout

    def partitions(self, topic=None):
        topic = topic or self.topic()
        md = json.loads(self._kcat(["-L", "-J", "-t", topic]).decode())
        for t in md.get("topics", []):
            if t.get("topic") == topic:
                return sorted(p["partition"] for p in t.get("partitions", []))
        raise HarnessError("topic %s not in the metadata" % topic)

    def end_offsets(self, topic=None):
        """{partition: high watermark} of topic (kcat -Q with OFFSET_END)."""
        topic = topic or self.topic()
        args = ["-Q"]
        for p in self.partitions(topic):
            args += ["-t", "%s:%d:-1" % (topic, p)]
        ends = {}
        for line in self._kcat(args).decode().splitlines():
            # execlog.events [3] offset 17
            parts = line.split()
            if len(parts) >= 4 and parts[-2] == "offset":
                ends[int(parts[1].strip("[]"))] = int(parts[-1])
        return ends

    def message_count(self, topic=None):
        return sum(self.end_offsets(topic).values())

    def consume(self, topic=None):
        """
        Every message of topic as dicts {partition, offset, key, value}
        (key/value: bytes or None), read with kcat -C -e. The format puts the
        lengths first so binary values survive: '%p %o %K %S\\n%k%s'.
        """
        topic = topic or self.topic()
        out = self._kcat(["-C", "-e", "-q", "-t", topic, "-o", "beginning", "-f", "%p %o %K %S\n%k%s"])
        msgs, i = [], 0
        while i < len(out):
            nl = out.index(b"\n", i)
            p, o, klen, vlen = (int(x) for x in out[i:nl].split())
            i = nl + 1
            key = None
            if klen >= 0:
                key = out[i:i + klen]
                i += klen
            value = None
            if vlen >= 0:
                value = out[i:i + vlen]
                i += vlen
            msgs.append({"partition": p, "offset": o, "key": key, "value": value})
        return msgs


# ---- Avro helpers (standard library only: the fingerprint is computed here,
# independently of both avro-c and python3-avro) --------------------------------

_CRC_EMPTY = 0xC15D213AA4D7A795
_CRC_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_CRC_EMPTY & -(_fp & 1))
    _CRC_TABLE.append(_fp)


def crc64_avro(data):
    fp = _CRC_EMPTY
    for b in data:
        fp = (fp >> 8) ^ _CRC_TABLE[(fp ^ b) & 0xFF]
    return fp


_PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")


def canonical_form(schema):
    """Parsing Canonical Form (Avro 1.11 specification) of a parsed JSON schema."""

    def full(name, ns):
        if "." in name or not ns:
            return name
        return ns + "." + name

    def pcf(s, ns):
        if isinstance(s, str):
            return json.dumps(s) if s in _PRIMITIVES else json.dumps(full(s, ns))
        if isinstance(s, list):
            return "[" + ",".join(pcf(x, ns) for x in s) + "]"
        t = s["type"]
        if isinstance(t, (dict, list)):
            return pcf(t, ns)
        if t in _PRIMITIVES:
            return json.dumps(t)
        if t in ("record", "error", "enum", "fixed"):
            name = full(s["name"], s.get("namespace", ns))
            inner = name.rsplit(".", 1)[0] if "." in name else None
            head = '{"name":%s,"type":%s' % (json.dumps(name), json.dumps(t))
            if t in ("record", "error"):
                fields = ",".join('{"name":%s,"type":%s}' % (json.dumps(f["name"]), pcf(f["type"], inner))
                                  for f in s["fields"])
                return head + ',"fields":[' + fields + "]}"
            if t == "enum":
                return head + ',"symbols":' + json.dumps(s["symbols"], separators=(",", ":")) + "}"
            return head + ',"size":%d}' % s["size"]
        if t == "array":
            return '{"type":"array","items":%s}' % pcf(s["items"], ns)
        if t == "map":
            return '{"type":"map","values":%s}' % pcf(s["values"], ns)
        return json.dumps(full(t, ns))  # a reference to a named type

    return pcf(schema, None)


def strip_logical_types(schema):
    """A copy of a parsed JSON schema without logicalType (longs stay ints when decoded)."""
    if isinstance(schema, dict):
        return {k: strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical_types(x) for x in schema]
    return schema


def split_single_object(value):
    """(fingerprint as int, body) of an Avro single-object frame, or raise ValueError."""
    if value is None or len(value) < 10 or value[:2] != b"\xc3\x01":
        raise ValueError("not an Avro single-object frame: %r" % (value[:10] if value else value))
    return struct.unpack("<Q", value[2:10])[0], value[10:]


class SuiteBase:
    """What every e2e suite shares: self.c (checks with a phase) and self.args, set by the suite."""

    def setup(self, args, checks):
        """The state a suite starts with: its arguments, its checks, the servers it starts (for conclude), a tag
        unique to the run (in flow IDs and the like) and its start time."""
        self.args = args
        self.c = checks
        self.servers = []
        self.uniq = "%x" % (int(time.time() * 1000) & 0xFFFFFFF)
        self.t_start = time.monotonic()

    def section(self, name, fn, *args):
        """Run one section; an exception fails a check and the suite goes on with the next section."""
        self.c.phase = name
        t = time.monotonic()
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - report and go on with the next section
            tb = traceback.extract_tb(e.__traceback__)
            where = "%s:%d" % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else "?"
            self.c.ok(False, "exception at %s" % where, "%s: %s" % (type(e).__name__, str(e).splitlines()[0]
                                                                    if str(e) else ""))
            if isinstance(e, HarnessError) and "\n" in str(e):
                print(str(e), flush=True)
        if self.args.verbose:
            print("  %-28s %.1f s" % (name, time.monotonic() - t), flush=True)


    def conclude(self, servers, body):
        """
        The end every suite shares: run body() (start the servers, run the sections), stop each of servers
        with SIGTERM (exit status 0 checked), kill what is left also when body raised, print the logs of a
        failed run, remove the directories (kept with --keep on failure), print the totals.
        servers: a list the body may append to. @return the suite's exit status.
        """
        try:
            body()
            for s in servers:
                if s.proc is None:  # stopped by its section, which checked how
                    continue
                self.c.phase = "stop %s" % s.name
                rc, _ = s.stop()
                self.c.eq(rc, 0, "SIGTERM: exit status")
        except Exception as e:  # noqa: BLE001 - e.g. execlogd does not start: a failure, never a crash
            self.c.ok(False, "harness", "%s: %s" % (type(e).__name__, e))
        finally:
            for s in servers:
                s.kill()
        if self.c.failed:
            for s in servers:
                s.dump_logs()
        for s in servers:
            if not self.c.failed or not self.args.keep:
                s.cleanup()
        if hasattr(self, "t_start"):
            print("(%.1f s)" % (time.monotonic() - self.t_start))
        print("%d passed, %d failed" % (self.c.passed, self.c.failed), flush=True)
        return 0 if self.c.failed == 0 else 1


def run_suite(suite_cls, doc, exclusive=False):
    """
    The command line every e2e suite takes; runs suite_cls(args).run() and returns its exit status.
    In the real-cluster lane the suite holds lane_lock (exclusive: it breaks brokers) and its topics are
    deleted at the end.
    """
    ap = argparse.ArgumentParser(description=doc.splitlines()[1])
    ap.add_argument("--execlogd", required=True, help="path of the execlogd binary")
    ap.add_argument("--src", required=True, help="repository root (for schemas/)")
    ap.add_argument("--verbose", "-v", action="store_true", help="print each section's duration")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories of a failed run")
    args = ap.parse_args()
    if on_cluster():
        try:
            lane_lock(exclusive)
            ensure_cluster(args.src)
        except HarnessError as e:
            print("FAIL [start] the cluster %s: %s" % (KAFKA, e), flush=True)
            print("0 passed, 1 failed", flush=True)
            return 1
    rc = suite_cls(args).run()
    if on_cluster() and not (rc != 0 and args.keep):  # a kept failure keeps its topics too
        ok, out = delete_topics(args.src)
        if not ok:
            print("warning: could not delete this run's topics (%s): %s" % (RUN_ID, out), flush=True)
    return rc
