#!/usr/bin/python3
"""
End-to-end test of execlog as a two-node service on a real Kafka cluster.

Two execlogd nodes, A (ingest.node.id 1) and B (2), each with its own data
directory, role all, ingest.ack=delivered and ingest.timeout.ms=3000, on one
fresh topic of the 3-broker cluster of ops/kafka (RF 3, min.insync.replicas 2).
First the promises between nodes: a write accepted by one node is usable at
once through the other (append, retry, cancel, batch line: accepted, never
404); a read on one node with the position the other answered sees the
write; the same create (same tenant and event_id) sent to both nodes,
concurrently or one after the other, before or after projection, with
ingest.ack delivered and projected, is one execution with one audit ID in
every answer; an unknown audit ID is 404 once the node has caught up; both
replicas reach the same digest. Then faults, each under a bounded write load
through both nodes (a thread pool of http.client connections, every attempt
recorded with its answer): brokers killed (kill -9) one after the other, two
brokers stopped (SIGSTOP) past ingest.timeout.ms, node B killed (kill -9)
and restarted, node B rebuilt from the topic. After each, from the answers:
acknowledged events missing from GET /v1/executions/{id}/events on either
node, events applied twice, and whether the two replicas' digests agree,
printed as one line per fault.

Usage: XL_TEST_KAFKA=<bootstrap list> test_cluster.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
The cluster is ops/kafka/kafka.sh's (kafka.sh up first); without XL_TEST_KAFKA
the test is skipped (exit status 77). It kills, stops and restarts brokers,
and always ends with `kafka.sh up` (also when it fails), so that the cluster
is whole again. Prints one line per failed check, the figures of each fault,
and "N passed, N failed"; exits 1 on any failure.
"""

import collections
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402
from test_write_path import Checks, concurrently, is_int  # noqa: E402

SKIP = 77
TIMEOUT_MS = 3000  # ingest.timeout.ms of both nodes
READ_WAIT_MS = 5000  # read.wait.max.ms of both nodes
LOAD_THREADS = 6
LOAD_MAX = 8000  # writes per load at most: a bounded load whatever the speed of the machine
PHASE_WRITES = 1600  # acknowledged writes a fault's load makes at least (half before the fault, half after; bounded)
RETRY_WINDOW = 20.0  # seconds a load write is sent again (503, no answer) before the load gives it up
REQUEST_TIMEOUT = 10.0  # one load request (several ingest.timeout.ms)
CONVERGE_TIMEOUT = 120.0  # both replicas at the log end with equal digests (the figures say how long it took)
READY_BOUND = 15.0  # a restarted node answers /readyz 200 within this
LIFECYCLE = ("started", "progress", "log", "progress", "succeeded")  # appended to every load execution
UNKNOWN_ID = (1 << 52) | 2  # a well-formed audit ID (node 2) that no node issued

# one request of a load and its answer (times: time.monotonic(); status 0: no answer; position: (partition, offset))
Attempt = collections.namedtuple("Attempt", "sent answered node kind audit_id event_id status retry_after problem "
                                            "position")


class Client:
    """One persistent HTTP/1.1 connection to a node; after an error it reconnects, to the node's current port."""

    def __init__(self, srv, timeout=REQUEST_TIMEOUT):
        self.srv = srv
        self.timeout = timeout
        self.conn = None
        self.port = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def request(self, method, path, body=None):
        """(status, Retry-After, JSON body); status 0 when no answer came (the error in the body)."""
        try:
            if self.conn is None or self.port != self.srv.port:
                self.close()
                self.port = self.srv.port
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            data = None if body is None else json.dumps(body).encode()
            self.conn.request(method, path, body=data,
                              headers={"content-type": "application/json"} if data is not None else {})
            r = self.conn.getresponse()
            raw = r.read()
            retry_after = r.getheader("retry-after")
            if (r.getheader("connection") or "").lower() == "close":
                self.close()
            try:
                j = json.loads(raw) if raw else None
            except ValueError:
                j = None
            return r.status, retry_after, j
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return 0, None, {"error": "%s: %s" % (type(e).__name__, e)}


class Load:
    """
    A bounded write load through both nodes. Each of `threads` workers has a
    connection to every node; it creates an execution (tenant acme, the
    client's event_id) and appends LIFECYCLE to it, event by event on
    alternate nodes, so that most appends name an execution the other node
    created. A write not acknowledged (503, no answer, 409 in-progress) is
    sent again with the same event_id on the next node until RETRY_WINDOW is
    over: a retry is always safe. Every attempt is kept with its answer.
    """

    def __init__(self, name, nodes, threads=LOAD_THREADS, max_writes=LOAD_MAX):
        self.name = name
        self.nodes = nodes
        self.nthreads = threads
        self.max_writes = max_writes
        self.attempts = []  # every Attempt
        self.writes = []  # one per write: {kind, audit_id, event_id, acked, statuses}
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.threads = []
        self.t_start = self.t_stop = None

    def start(self):
        self.t_start = time.monotonic()
        for k in range(self.nthreads):
            t = threading.Thread(target=self.worker, args=(k,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        """Ask the workers to finish their current write (bounded by RETRY_WINDOW); True if they all did."""
        self.halt.set()
        deadline = time.monotonic() + RETRY_WINDOW + 2 * REQUEST_TIMEOUT
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self.t_stop = time.monotonic()
        return not any(t.is_alive() for t in self.threads)

    def worker(self, k):
        clients = [Client(n) for n in self.nodes]
        i = 0
        try:
            while not self.halt.is_set() and len(self.writes) < self.max_writes:
                eid = "%s-%d-%d" % (self.name, k, i)
                i += 1
                w = self.send(clients, k, "create", "/v1/executions",
                              {"flow_id": "load-" + self.name, "tenant_id": "acme", "event_id": eid}, None, eid)
                if not w["acked"] or not is_int(w["audit_id"]):
                    continue
                for j, typ in enumerate(LIFECYCLE):
                    if self.halt.is_set():
                        break
                    body = {"type": typ, "event_id": "%s-%d" % (eid, j)}
                    if typ == "progress":
                        body["metrics"] = {"n": j}
                    elif typ == "log":
                        body["message"] = "load " + self.name
                    self.send(clients, k + j + 1, "append", "/v1/executions/%d/events" % w["audit_id"], body,
                              w["audit_id"], body["event_id"])
        finally:
            for c in clients:
                c.close()

    def send(self, clients, first, kind, path, body, audit_id, event_id):
        w = {"kind": kind, "audit_id": audit_id, "event_id": event_id, "acked": False, "statuses": []}
        with self.lock:
            self.writes.append(w)
        deadline = time.monotonic() + RETRY_WINDOW
        n = 0
        while True:
            c = clients[(first + n) % len(clients)]
            t0 = time.monotonic()
            status, retry_after, j = c.request("POST", path, body)
            t1 = time.monotonic()
            ptype = (j or {}).get("type") if status >= 400 else None
            aid = (j or {}).get("audit_id") if kind == "create" and 200 <= status < 300 else audit_id
            pos = (j or {}).get("position") if 200 <= status < 300 else None
            pos = (pos.get("partition"), pos.get("offset")) if isinstance(pos, dict) else None
            with self.lock:
                self.attempts.append(Attempt(t0, t1, c.srv.name, kind, aid, event_id, status, retry_after, ptype,
                                             pos))
            w["statuses"].append(status)
            if 200 <= status < 300:
                w["acked"] = True
                if kind == "create":
                    w["audit_id"] = (j or {}).get("audit_id")
                return w
            retry = status in (0, 503) or (status == 409 and (ptype or "").endswith(":in-progress"))
            if not retry or time.monotonic() >= deadline:
                return w
            pause = 0.1
            if status == 503 and retry_after and retry_after.isdigit():
                pause = min(1.0, float(retry_after))
            time.sleep(pause)
            n += 1

    # ---- figures --------------------------------------------------------------------------------

    def acked(self):
        return [w for w in self.writes if w["acked"]]

    def run_until(self, n, since=None, least=0.0, most=30.0):
        """
        Let the load run at least `least` seconds and until n writes sent
        after `since` (default: its start) are acknowledged, at most `most`
        seconds: each fault gets thousands of writes however fast the machine.
        """
        since = self.t_start if since is None else since
        t0 = time.monotonic()
        while time.monotonic() - t0 < most:
            if time.monotonic() - t0 >= least and \
                    self.count(lambda a: a.sent >= since and 200 <= a.status < 300) >= n:
                break
            time.sleep(0.1)

    def count(self, cond):
        with self.lock:
            return sum(1 for a in self.attempts if cond(a))


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.t_start = time.monotonic()
        self.uniq = "%x" % (int(time.time() * 1000) & 0xFFFFFFF)
        self.topic = X.new_topic("cluster")
        self.loads = []  # every load so far (the rebuild is checked against all of them)
        self.figures = []  # one line per fault
        self.expect = {}  # audit ID -> event types expected in its history (cross-node checks)
        self.positions = {}  # partition -> latest offset a write of the checks answered
        self.touched_brokers = False
        self.caught_up_after = {}  # converge(): node name -> seconds until it was at the log end
        node_args = ["--role=all", "--ingest.ack=delivered", "--ingest.timeout.ms=%d" % TIMEOUT_MS,
                     "--read.wait.max.ms=%d" % READ_WAIT_MS]
        self.A = X.Execlogd(args.execlogd, name="A", topic=self.topic, args=node_args + ["--ingest.node.id=1"])
        self.B = X.Execlogd(args.execlogd, name="B", topic=self.topic, args=node_args + ["--ingest.node.id=2"])
        self.nodes = (self.A, self.B)

    # ---- helpers ----------------------------------------------------------------------------------

    def kafka(self, *argv, timeout=150):
        """ops/kafka/kafka.sh with argv; its output. Raises HarnessError when it fails."""
        try:
            cp = subprocess.run([X.kafka_sh(self.args.src)] + list(argv), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise X.HarnessError("kafka.sh %s did not finish in %d s" % (" ".join(argv), timeout))
        out = cp.stdout.decode("utf-8", "replace")
        if cp.returncode != 0:
            raise X.HarnessError("kafka.sh %s failed (%d): %s" % (" ".join(argv), cp.returncode, out[-1500:]))
        return out

    def leaders(self):
        """{broker: number of partitions of the topic it leads}, from kafka.sh topics --describe."""
        out = self.kafka("topics", "--describe", "--topic", self.topic, timeout=60)
        n = collections.Counter()
        for m in re.finditer(r"Partition:\s*(\d+)\s+Leader:\s*(-?\d+)", out):
            n[int(m.group(2))] += 1
        return n

    def note(self, text):
        if self.args.verbose:
            print("    %6.1f s  %s" % (time.monotonic() - self.t_start, text), flush=True)

    def track(self, pos):
        """Keep the latest position a write answered (reads wait for it with min_position); returns pos."""
        if isinstance(pos, dict) and is_int(pos.get("partition")) and is_int(pos.get("offset")):
            self.positions[pos["partition"]] = max(pos["offset"], self.positions.get(pos["partition"], -1))
        return pos

    def min_position(self):
        """min_position= of every partition a check wrote to, at its latest offset."""
        return ",".join("%d:%d" % (p, o) for p, o in sorted(self.positions.items()))

    def metrics(self, srv):
        r = srv.curl("GET", "/metrics", timeout=10)
        out = {}
        for line in r.raw.decode("utf-8", "replace").splitlines():
            m = re.match(r"^([a-z_]+(\{[^}]*\})?) (\S+)$", line)
            if m:
                out[m.group(1)] = float(m.group(3))
        return out

    def caught_up(self, srv, ends):
        """/readyz 200 and the applied offset of every partition at its end offset."""
        if srv.curl("GET", "/readyz", timeout=10).status != 200:
            return False
        m = self.metrics(srv)
        return all(m.get('execlog_projector_applied_offset{partition="%d"}' % p, -1) >= o
                   for p, o in ends.items() if o > 0)

    def digest(self, srv):
        return (srv.curl("GET", "/v1/admin/digest", timeout=30).json or {}).get("digest")

    def converge(self, timeout=CONVERGE_TIMEOUT):
        """
        Wait until A and B have both projected the whole log and answer
        /readyz 200, and their digests are equal. Returns (equal, seconds, (digest A, digest B)).
        self.caught_up_after: {node name: seconds until it first was at the log end}.
        """
        t0 = time.monotonic()
        digests = (None, None)
        self.caught_up_after = {}
        while True:
            try:
                ends = self.A.end_offsets()
                for n in self.nodes:
                    if self.caught_up(n, ends):
                        self.caught_up_after.setdefault(n.name, time.monotonic() - t0)
                    else:
                        self.caught_up_after.pop(n.name, None)
                if len(self.caught_up_after) == len(self.nodes):
                    digests = (self.digest(self.A), self.digest(self.B))
                    if digests[0] is not None and digests[0] == digests[1]:
                        return True, time.monotonic() - t0, digests
            except X.HarnessError:
                pass  # a broker or node on its way back: asked again
            if time.monotonic() - t0 > timeout:
                return False, time.monotonic() - t0, digests
            time.sleep(0.3)

    def histories(self, srv, audit_ids, threads=4):
        """{audit ID: [event_id of each history entry]} on srv (None where the read failed)."""
        ids = list(audit_ids)
        out = {}
        lock = threading.Lock()

        def work(part):
            cl = Client(srv, timeout=30)
            try:
                for a in part:
                    status, _, j = cl.request("GET", "/v1/executions/%d/events?limit=1000" % a)
                    h = [i.get("event_id") for i in (j or {}).get("items") or []] if status == 200 else None
                    if h is not None and (j or {}).get("has_more"):
                        h = None  # more than 1000 entries: never in this test
                    with lock:
                        out[a] = h
            finally:
                cl.close()

        ths = [threading.Thread(target=work, args=(ids[i::threads],), daemon=True) for i in range(threads)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(120)
        return out

    def verify(self, label, loads, detail=""):
        """The figures of a fault over every acknowledged write of loads; one line, and checks on each."""
        eq, secs, digests = self.converge()
        self.c.ok(eq, "%s: both replicas at the log end with equal digests within %.0f s" % (label, CONVERGE_TIMEOUT),
                  "digests %r after %.1f s" % (digests, secs))
        acked = [w for ld in loads for w in ld.acked()]
        by_exec = collections.defaultdict(list)
        for w in acked:
            by_exec[w["audit_id"]].append(w["event_id"])
        missing, doubled, unread = set(), set(), 0
        for srv in self.nodes:
            hist = self.histories(srv, by_exec)
            for a, eids in by_exec.items():
                h = hist.get(a)
                if h is None:
                    unread += 1
                    missing.update((a, e) for e in eids)
                    continue
                have = collections.Counter(h)
                missing.update((a, e) for e in eids if have[e] == 0)
                doubled.update((a, e) for e, n in have.items() if n > 1)
        writes = sum(len(ld.writes) for ld in loads)
        given_up = sum(1 for ld in loads for w in ld.writes if not w["acked"])
        n503 = sum(ld.count(lambda a: a.status == 503) for ld in loads)
        line = "%s: %d acknowledged, %d missing, %d doubled, %s" % (
            label, len(acked), len(missing), len(doubled), "digests equal" if eq else "digests differ")
        caught = ", ".join("%s %.1f s" % kv for kv in sorted(self.caught_up_after.items()))
        line += " (%d writes, %d not acknowledged; %d answers 503; at the log end after: %s%s)" % (
            writes, given_up, n503, caught or "not both", "; " + detail if detail else "")
        print(line, flush=True)
        self.figures.append(line)
        self.c.eq(len(missing), 0, "%s: acknowledged events missing from a history" % label)
        if missing:
            print("  missing (audit ID, event_id), first ones: %r" % sorted(missing)[:10], flush=True)
        self.c.eq(len(doubled), 0, "%s: events applied twice" % label)
        if doubled:
            print("  doubled (audit ID, event_id), first ones: %r" % sorted(doubled)[:10], flush=True)
        self.c.eq(unread, 0, "%s: histories that could not be read" % label)
        return missing

    def check_load(self, load, label, least=500):
        """Checks of the answers a load got, whatever the fault: a real load, no 500s, no 404 for a known execution."""
        acked = load.acked()
        # each fault's load is bounded in time; the test as a whole writes thousands of events
        self.c.ok(len(acked) >= least, "%s: a real load (at least %d acknowledged)" % (label, least),
                  "%d acknowledged of %d" % (len(acked), len(load.writes)))
        bad = collections.Counter((a.status, a.problem) for a in load.attempts
                                  if a.status not in (0, 201, 202, 503) and
                                  not (a.status == 409 and (a.problem or "").endswith(":in-progress")))
        self.c.eq(dict(bad), {}, "%s: every answer is 201, 202, 503 or 409 in-progress (status, type: count)" % label)
        no_retry_after = load.count(lambda a: a.status == 503 and not a.retry_after)
        self.c.eq(no_retry_after, 0, "%s: every 503 has Retry-After" % label)

    def run_load(self, name):
        load = Load(name, self.nodes)
        self.loads.append(load)
        return load.start()

    # ---- sections ---------------------------------------------------------------------------------

    def t_start_nodes(self):
        for srv in self.nodes:
            srv.start(timeout=60)
            info = srv.info()
            k = info.get("kafka") or {}
            self.c.eq((k.get("topic"), k.get("embedded"), (info.get("ingest") or {}).get("ack"), info.get("role")),
                      (self.topic, False, "delivered", "all"), "%s: /v1/info (topic, embedded, ack, role)" % srv.name)
            self.c.eq((info.get("ingest") or {}).get("node_id"), 1 if srv is self.A else 2,
                      "%s: ingest.node.id" % srv.name)
        self.c.eq(len(self.A.partitions()), 6, "the topic execlogd created has topic.partitions=6 partitions")

    def t_cross_node(self):
        """A write accepted by one node is usable at once through the other: accepted, never 404."""
        for op in ("append", "retry", "cancel", "batch"):
            for w, o in ((self.A, self.B), (self.B, self.A)):
                what = "create on %s, then at once %s on %s" % (w.name, op, o.name)
                r = w.curl("POST", "/v1/executions", {"flow_id": "xnode-" + op, "tenant_id": "acme"})
                if not self.c.status(r, 201, what + ": create"):
                    continue
                self.c.eq((r.json or {}).get("seq", "absent"), None, what + ": seq is null with ack delivered")
                self.track((r.json or {}).get("position"))
                a = r.json.get("audit_id")
                t = time.monotonic()
                if op == "append":
                    r2 = o.curl("POST", "/v1/executions/%d/events" % a, {"type": "started"})
                    ok = self.c.status(r2, 202, what)
                    self.expect[a] = ["created", "started"]
                elif op == "retry":
                    r2 = o.curl("POST", "/v1/executions/%d/retry" % a, {"started_by": "ops"})
                    if self.c.status(r2, 201, what):
                        j = r2.json or {}
                        self.c.eq((j.get("parent_audit_id"), j.get("root_audit_id"), j.get("retries")), (a, a, 1),
                                  what + ": lineage of the new attempt")
                        if is_int(j.get("audit_id")):
                            self.expect[j["audit_id"]] = ["created"]
                    self.expect[a] = ["created"]
                    ok = r2.status == 201
                elif op == "cancel":
                    r2 = o.curl("POST", "/v1/executions/%d/cancel" % a, {"message": "from " + o.name})
                    ok = self.c.status(r2, 202, what)
                    self.expect[a] = ["created", "cancel_requested"]
                else:
                    r2 = o.curl("POST", "/v1/events", json.dumps({"audit_id": a, "type": "log", "message": "x"}) + "\n",
                                headers={"content-type": "application/x-ndjson"})
                    codes = [x.get("code") for x in (r2.json or {}).get("results") or []]
                    ok = self.c.eq((r2.status, codes), (200, [202]), what + ": a batch line naming it")
                    self.track((((r2.json or {}).get("results") or [{}])[0]).get("position"))
                    self.expect[a] = ["created", "log"]
                dt = time.monotonic() - t
                if ok:
                    self.track((r2.json or {}).get("position"))
                    self.c.ok(dt < TIMEOUT_MS / 1000, what + ": answered within ingest.timeout.ms", "%.2f s" % dt)
        # a chain: every event on the other node than the one before, at once
        r = self.A.curl("POST", "/v1/executions", {"flow_id": "xnode-chain", "tenant_id": "acme"})
        if self.c.status(r, 201, "chain: create on A"):
            a = r.json["audit_id"]
            types = ["started", "progress", "log", "warning", "progress", "succeeded"]
            for i, typ in enumerate(types):
                srv = self.B if i % 2 == 0 else self.A
                r = srv.curl("POST", "/v1/executions/%d/events" % a, {"type": typ, "message": "step %d" % i})
                self.c.status(r, 202, "chain: %s on %s" % (typ, srv.name))
                self.track((r.json or {}).get("position"))
            self.expect[a] = ["created"] + types
        # every history, on both nodes, once they have read up to the last write of each partition
        mp = self.min_position()
        for srv in self.nodes:
            for a, types in self.expect.items():
                r = srv.curl("GET", "/v1/executions/%d/events?min_position=%s" % (a, mp))
                got = [i.get("type") for i in (r.json or {}).get("items") or []] if r.status == 200 else r
                self.c.eq(got, types, "history of %d on %s (types in log order)" % (a, srv.name))

    def t_min_position(self):
        """Reads on one node with the position the other answered see the write."""
        for w, o in ((self.A, self.B), (self.B, self.A)):
            r = w.curl("POST", "/v1/executions", {"flow_id": "ryw-x", "tenant_id": "acme"})
            if not self.c.status(r, 201, "ryw: create on %s" % w.name):
                continue
            a, p = r.json["audit_id"], self.track((r.json or {}).get("position"))
            r = o.curl("GET", "/v1/executions/%d?min_position=%d:%d" % (a, p["partition"], p["offset"]))
            self.c.eq((r.status, (r.json or {}).get("audit_id"), (r.json or {}).get("events")), (200, a, 1),
                      "ryw: GET on %s with the position %s answered (create)" % (o.name, w.name))
            r = w.curl("POST", "/v1/executions/%d/events" % a, {"type": "progress", "metrics": {"rows": 7}})
            if not self.c.status(r, 202, "ryw: append on %s" % w.name):
                continue
            p = self.track((r.json or {}).get("position"))
            mp = "min_position=%d:%d" % (p["partition"], p["offset"])
            r = o.curl("GET", "/v1/executions/%d?%s" % (a, mp))
            j = r.json or {}
            self.c.eq((r.status, j.get("events"), j.get("status"), j.get("metrics")), (200, 2, "running", {"rows": 7}),
                      "ryw: GET on %s with the position of the append on %s" % (o.name, w.name))
            r = o.curl("GET", "/v1/executions/%d/events?%s" % (a, mp))
            self.c.eq([i.get("type") for i in (r.json or {}).get("items") or []], ["created", "progress"],
                      "ryw: history on %s with the position of the append on %s" % (o.name, w.name))
            r = o.curl("GET", "/v1/executions?flow_id=ryw-x&%s" % mp)
            self.c.ok(a in [i.get("audit_id") for i in (r.json or {}).get("items") or []],
                      "ryw: the list on %s with the position from %s has the execution" % (o.name, w.name), repr(r))
            self.expect[a] = ["created", "progress"]

    def t_same_create(self, ack):
        """The same create (tenant, event_id) through both nodes: one execution, one audit ID in every answer."""
        A, B = self.A, self.B
        cases = {}  # name -> (flow, body, [(node, Response)])

        def send(srv, body):
            return srv.name, srv.curl("POST", "/v1/executions", body)

        def body_of(name):
            flow = "same-%s-%s-%s" % (ack, name, self.uniq)
            return flow, {"flow_id": flow, "tenant_id": "acme", "event_id": "ev-" + flow}

        # at once: two requests on each node
        flow, body = body_of("concurrent")
        rs = concurrently([lambda: send(A, body), lambda: send(B, body), lambda: send(A, body), lambda: send(B, body)])
        cases["concurrent"] = (flow, body, [x for x in rs if isinstance(x, tuple)])
        self.c.ok(len(cases["concurrent"][2]) == 4, "same create (%s) at once: four answers" % ack, repr(rs))
        # B while A's answer is still on its way (sent a few milliseconds later)
        flow, body = body_of("overlap")
        out = []
        th = threading.Thread(target=lambda: out.append(send(A, body)), daemon=True)
        th.start()
        time.sleep(0.005)
        out.append(send(B, body))
        th.join(30)
        cases["overlap"] = (flow, body, out)
        # one after the other, before the other node projected it
        for first, second, name in ((A, B, "A-then-B"), (B, A, "B-then-A")):
            flow, body = body_of(name)
            cases[name] = (flow, body, [send(first, body), send(second, body), send(first, body)])
        # one after the other, after both nodes projected it
        flow, body = body_of("after-projection")
        ans = [send(A, body)]
        pos = (ans[0][1].json or {}).get("position") or {}
        if self.c.ok(is_int(pos.get("offset")), "same create (%s) after projection: first answer has a position" % ack,
                     repr(ans[0][1])):
            for srv in (A, B):
                srv.curl("GET", "/v1/executions?flow_id=%s&min_position=%d:%d" % (flow, pos["partition"], pos["offset"]))
        ans += [send(B, body), send(A, body), send(B, body)]
        cases["after-projection"] = (flow, body, ans)
        # every copy is in the log: both replicas at its end, then one execution per case on each
        eq, secs, _ = self.converge()
        self.c.ok(eq, "same create (%s): both replicas caught up with equal digests" % ack, "%.1f s" % secs)
        for name, (flow, body, answers) in cases.items():
            what = "same create (%s, %s)" % (ack, name)
            statuses = [r.status for _, r in answers]
            ok = [r for _, r in answers if r.status == 201]
            busy = [r for _, r in answers if r.status == 409]
            self.c.ok(len(ok) + len(busy) == len(answers) and ok, what + ": every answer 201 (or 409 in-progress "
                      "while the same node has it in hand)", repr(statuses))
            for r in busy:
                self.c.eq((r.json or {}).get("type"), "urn:execlog:problem:in-progress", what + ": the 409 says why")
            ids = sorted({(r.json or {}).get("audit_id") for r in ok})
            self.c.eq(len(ids), 1, what + ": one audit ID in every 201 (%s)" %
                      ", ".join("%s %s" % (n, (r.json or {}).get("audit_id")) for n, r in answers))
            if ack == "projected":
                self.c.eq({(r.json or {}).get("seq") for r in ok}, {1}, what + ": seq 1 with ack projected")
            for srv in self.nodes:
                r = srv.curl("GET", "/v1/executions?flow_id=%s" % flow)
                got = [i.get("audit_id") for i in (r.json or {}).get("items") or []]
                self.c.eq(got, ids[:1], what + ": one execution on %s" % srv.name)
                r = srv.curl("POST", "/v1/executions", body)  # and once more, now that everything is projected
                self.c.eq((r.status, (r.json or {}).get("audit_id")), (201, ids[0] if ids else None),
                          what + ": the create again on %s" % srv.name)

    def t_same_create_projected(self):
        """The same checks with ingest.ack=projected on both nodes (restarted with it, then back to delivered)."""
        for srv in self.nodes:
            srv.stop()
        for srv in self.nodes:
            srv.start(extra_args=["--ingest.ack=projected"], timeout=60)
            self.c.eq((srv.info().get("ingest") or {}).get("ack"), "projected", "%s restarted with ack projected" %
                      srv.name)
        try:
            self.t_same_create("projected")
        finally:
            for srv in self.nodes:
                srv.stop()
            for srv in self.nodes:
                srv.start(timeout=60)

    def t_unknown(self):
        """An audit ID no node issued: 404 on B once it has caught up with the log, within a second or two."""
        u = UNKNOWN_ID
        for method, path, body in (("POST", "/v1/executions/%d/events" % u, {"type": "started"}),
                                   ("POST", "/v1/executions/%d/retry" % u, {}),
                                   ("POST", "/v1/executions/%d/cancel" % u, {}),
                                   ("GET", "/v1/executions/%d" % u, None)):
            t = time.monotonic()
            r = self.B.curl(method, path, body)
            dt = time.monotonic() - t
            self.c.problem(r, 404, "not-found", "unknown audit ID on B: %s %s" % (method, path), path=path)
            self.c.ok(dt < 2.5, "unknown audit ID on B: %s %s answered within 2.5 s" % (method, path), "%.2f s" % dt)
        t = time.monotonic()
        r = self.B.curl("POST", "/v1/executions", {"flow_id": "orphan", "parent_audit_id": u})
        self.c.problem(r, 422, "invalid-write", "create on B naming an unknown parent", fields=("parent_audit_id",))
        self.c.ok(time.monotonic() - t < 2.5, "create naming an unknown parent: answered within 2.5 s")

    def t_digest(self):
        eq, secs, digests = self.converge()
        self.c.ok(eq, "after the cross-node checks: A and B at the log end with equal digests", "%r after %.1f s" %
                  (digests, secs))
        self.c.ok(all(d and re.match(r"^[0-9a-f]{64}$", d) for d in digests), "digests are SHA-256 in hex",
                  repr(digests))

    # ---- faults -------------------------------------------------------------------------------------

    def t_broker_kill(self):
        """kill -9 the broker leading the fewest partitions, up; then the one leading the most, up."""
        load = self.run_load("bk")
        detail = []
        try:
            time.sleep(3)
            lead = self.leaders()
            self.note("leaders of %s: %r" % (self.topic, dict(lead)))
            first = min((1, 2, 3), key=lambda b: (lead.get(b, 0), b))
            self.touched_brokers = True
            self.kafka("kill", str(first))
            self.note("killed broker %d" % first)
            time.sleep(4)
            t = time.monotonic()
            self.kafka("up")
            self.note("broker %d up again (%.1f s)" % (first, time.monotonic() - t))
            time.sleep(2)
            lead = self.leaders()
            second = max((1, 2, 3), key=lambda b: (lead.get(b, 0), -b))
            self.kafka("kill", str(second))
            self.note("killed broker %d, the leader of %d of 6 partitions" % (second, lead.get(second, 0)))
            detail.append("killed broker %d, then broker %d leading %d of 6" % (first, second, lead.get(second, 0)))
            time.sleep(12)  # beyond broker.session.timeout.ms (9 s): its partitions get new leaders under load
            lead = self.leaders()
            self.c.ok(lead.get(second, 0) == 0 and sum(lead.values()) == 6 and lead.get(-1, 0) == 0,
                      "broker kill: the killed leader's partitions have new leaders", repr(dict(lead)))
            t = time.monotonic()
            self.kafka("up")
            self.note("broker %d up again (%.1f s)" % (second, time.monotonic() - t))
            time.sleep(3)
        finally:
            self.c.ok(load.stop(), "broker kill: the load stopped within its bound")
        self.check_load(load, "broker kill -9")
        self.verify("broker kill -9", [load], "; ".join(detail))

    def node_states(self):
        """{node: running | stopped | down} from kafka.sh status."""
        try:
            cp = subprocess.run([X.kafka_sh(self.args.src), "status"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                timeout=30)
        except subprocess.TimeoutExpired:
            return {}
        return {int(m.group(1)): m.group(2) for m in re.finditer(r"^node (\d)\s+(\w+)", cp.stdout.decode(), re.M)}

    def t_brokers_stopped(self):
        """SIGSTOP two brokers past ingest.timeout.ms: 503 with Retry-After, never a false acknowledgement."""
        load = self.run_load("bs")
        stopped, victims, states, flowing = [], [], {}, None
        try:
            load.run_until(PHASE_WRITES // 2, least=3)
            lead = self.leaders()
            top = max((1, 2, 3), key=lambda b: (lead.get(b, 0), -b))
            victims = [top, next(b for b in (1, 2, 3) if b != top)]
            ends = self.A.end_offsets()  # what the log held before: an acknowledgement below it is an old write
            self.touched_brokers = True
            t_stop = time.monotonic()
            for b in victims:
                stopped.append(b)
                self.kafka("stop", str(b))
            self.note("stopped brokers %r" % victims)
            time.sleep(TIMEOUT_MS / 1000 + 7)
            states = self.node_states()  # still stopped? (kafka.sh up continues stopped nodes, whoever runs it)
            t_cont = time.monotonic()
            for b in stopped:
                self.kafka("cont", str(b))
            self.note("continued brokers %r (states before: %r)" % (victims, states))
            stopped = []
            # writes flow again
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and \
                    load.count(lambda a: a.sent > t_cont and 200 <= a.status < 300) < 200:
                time.sleep(0.2)
            flowing = time.monotonic() - t_cont
            load.run_until(PHASE_WRITES // 2, since=t_cont, least=2)
        finally:
            for b in stopped:
                self.kafka("cont", str(b))
            self.c.ok(load.stop(), "brokers stopped: the load stopped within its bound")
        self.c.eq(sorted(b for b, st in states.items() if st == "stopped"), sorted(victims),
                  "brokers stopped: both still stopped at the end of the window (kafka.sh status; another "
                  "kafka.sh up would have continued them)")
        # sent after the stop and answered before SIGCONT
        window = [a for a in load.attempts if a.sent >= t_stop + 0.2 and a.answered <= t_cont]
        n503 = sum(1 for a in window if a.status == 503)
        acked = [a for a in window if 200 <= a.status < 300]
        new = [a for a in acked if a.position is None or a.position[1] >= ends.get(a.position[0], 0)]
        late = sum(1 for a in window if a.status == 503 and a.sent >= t_stop + TIMEOUT_MS / 1000)
        self.c.ok(late > 0, "brokers stopped: writes sent past ingest.timeout.ms into the stop are answered 503",
                  "%d answers in the window: %r" % (len(window), collections.Counter(a.status for a in window)))
        self.c.eq(collections.Counter(a.status for a in window if not 200 <= a.status < 300 and a.status != 503), {},
                  "brokers stopped: no answer but 503 (or an acknowledgement) while they are stopped")
        self.c.eq(sum(1 for a in window if a.status == 503 and not a.retry_after), 0,
                  "brokers stopped: every 503 has Retry-After")
        # while 2 of 3 brokers (a controller majority, and all but one replica) are stopped nothing can be written:
        # an acknowledgement then is of a write already in the log (a retry answered from it), or a false one
        self.c.eq([(a.node, a.kind, a.audit_id, a.event_id, a.position) for a in new], [],
                  "brokers stopped: acknowledgements meanwhile are all of events already in the log")
        self.c.ok(flowing is not None and flowing < 60, "brokers continued: writes acknowledged again within 60 s",
                  repr(flowing))
        missing = self.verify("2 brokers SIGSTOP", [load],
                              "%d answers 503 while stopped, %d acknowledged then (all in the log before), writes "
                              "flowing %.1f s after SIGCONT" % (n503, len(acked), flowing or -1))
        false_acks = [a for a in acked if (a.audit_id, a.event_id) in missing]
        self.c.eq(false_acks, [], "brokers stopped: every acknowledgement given meanwhile is in the history")
        self.check_load(load, "2 brokers SIGSTOP")

    def t_node_kill(self):
        """kill -9 node B mid-load, restart it on its data directory."""
        load = self.run_load("nk")
        try:
            load.run_until(PHASE_WRITES // 2, least=4)
            self.B.kill()
            self.note("killed node B")
            time.sleep(2)
            t = time.monotonic()
            self.B.start(timeout=75)  # a slow start is a failed check below, not the end of the section
            ready = time.monotonic() - t
            self.note("node B ready again after %.1f s" % ready)
            load.run_until(PHASE_WRITES // 2, since=time.monotonic(), least=3)
        finally:
            self.c.ok(load.stop(), "node kill: the load stopped within its bound")
        self.c.ok(ready < READY_BOUND, "node kill: B ready (/readyz 200) within %.0f s of its restart" % READY_BOUND,
                  "%.1f s" % ready)
        self.check_load(load, "node B kill -9")
        self.verify("node B kill -9", [load], "B ready %.1f s after its restart" % ready)

    def t_rebuild(self):
        """Stop B under load, rebuild its data directory from the topic, start it: it holds everything again."""
        load = self.run_load("rb")
        rc, out, dt = None, "", 0.0
        try:
            load.run_until(PHASE_WRITES // 2, least=3)
            self.B.stop()
            self.note("stopped node B")
            t = time.monotonic()
            try:
                cp = subprocess.run([self.B.binary, "rebuild", "--from-kafka", "--kafka.bootstrap.servers=" + X.KAFKA,
                                     "--topic=" + self.topic, "--data.dir=" + self.B.data_dir],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, cwd=self.B.workdir)
                rc, out = cp.returncode, cp.stdout.decode("utf-8", "replace")
            except subprocess.TimeoutExpired:
                rc, out = None, "did not finish in 120 s"
            dt = time.monotonic() - t
            self.note("rebuilt B in %.1f s (exit %r)" % (dt, rc))
            self.B.start(timeout=75)
            load.run_until(PHASE_WRITES // 2, since=time.monotonic(), least=3)
        finally:
            self.c.ok(load.stop(), "rebuild: the load stopped within its bound")
        self.c.eq(rc, 0, "execlogd rebuild --from-kafka: exit status")
        if rc != 0:
            print(out[-3000:], flush=True)
        self.check_load(load, "node B rebuild")
        # everything acknowledged since the start of the test, on the rebuilt replica too
        self.verify("node B rebuild --from-kafka", self.loads, "rebuild %.1f s; every load of the test checked" % dt)

    # ---- driver ---------------------------------------------------------------------------------------

    def run(self):
        try:
            self.c.phase = "start"
            self.section("start", self.t_start_nodes)
            if self.A.alive() and self.B.alive():
                self.section("cross_node", self.t_cross_node)
                self.section("min_position", self.t_min_position)
                self.section("same_create/delivered", self.t_same_create, "delivered")
                self.section("same_create/projected", self.t_same_create_projected)
                self.section("unknown_id", self.t_unknown)
                self.section("digest", self.t_digest)
                self.section("broker_kill", self.t_broker_kill)
                self.section("brokers_stopped", self.t_brokers_stopped)
                self.section("node_kill", self.t_node_kill)
                self.section("rebuild", self.t_rebuild)
        except Exception as e:  # noqa: BLE001 - a failure, never a crash
            self.c.ok(False, "harness", "%s: %s" % (type(e).__name__, e))
        finally:
            for ld in self.loads:
                ld.halt.set()
            if self.touched_brokers:  # the cluster whole again, whatever happened
                self.c.phase = "cleanup"
                try:
                    self.kafka("up")
                except X.HarnessError as e:
                    self.c.ok(False, "kafka.sh up at the end", str(e))
            for srv in self.nodes:
                srv.kill()
        if self.c.failed:
            for srv in self.nodes:
                srv.dump_logs(lines=60)
        for srv in self.nodes:
            if not self.c.failed or not self.args.keep:
                srv.cleanup()
        for line in self.figures:
            print(line)
        print("(%.1f s)" % (time.monotonic() - self.t_start))
        print("%d passed, %d failed" % (self.c.passed, self.c.failed), flush=True)
        return 0 if self.c.failed == 0 else 1


if __name__ == "__main__":
    if not X.on_cluster():
        print("skipped: set XL_TEST_KAFKA to the bootstrap list of ops/kafka's cluster (ctest -L kafka does)")
        sys.exit(SKIP)
    sys.exit(X.run_suite(Suite, __doc__, exclusive=True))
