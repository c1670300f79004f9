#!/usr/bin/python3
"""
End-to-end test of the answer cache of GET /v1/executions/{id} (http.cache.bytes): the real execlogd.

Reads after writes are never stale with the cache on: writers append progress events to a few executions
while reader threads read them, each read with min_position = the position of the newest write acknowledged
to that execution (and, since the embedded broker acknowledges once projected, also without it); every answer
must hold at least the events and the metrics of that write. Reader threads keep HTTP/1.1 connections open
(http.client) so that the reads come fast enough to race the projector; curl checks the same over h2c. The
cache must really answer (execlog_cache_hits_total grows), another tenant's cached answer is a 404 exactly like
a missing execution, as_of reads bypass the cache, a small cache evicts and still answers right, and
http.cache.bytes=0 turns it off (no execlog_cache_* metrics, same answers).

List pages take their items from the same cache (byte for byte the lookups' answers), show a write at once,
keep fields= working, and apply the tenant rules to cached items on the call-tree index, which spans tenants.
Lineages are cached whole: a second read is a hit, and a new retry, a new child and a write to an attempt each
show in the next read; another tenant reads a cached lineage as a missing execution.

Usage: test_cache.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed check and "N passed, N failed"; exits 1 on any failure (and prints the logs then).
"""

import http.client
import json
import os
import re
import secrets
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402
from test_write_path import Checks, now_ms  # noqa: E402

TOKENS = {"admin": ("*", "admin"), "acme_w": ("acme", "writer"), "acme_r": ("acme", "reader"),
          "globex_r": ("globex", "reader")}
NEXEC = 4  # executions written to concurrently
WRITES = 60  # progress events per execution
NREADERS = 3
READ_SECONDS = 30  # bound on the concurrent phase, whatever the machine's load


def metric(text, name):
    m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


class Conn:
    """One keep-alive HTTP/1.1 connection with a bearer token."""

    def __init__(self, srv, token):
        self.port = srv.port
        self.token = token
        self.h = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)

    def req(self, method, path, body=None):
        hdrs = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["content-type"] = "application/json"
        for attempt in (0, 1):
            try:
                self.h.request(method, path, body=data, headers=hdrs)
                r = self.h.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, OSError):
                self.h.close()  # the server closed an idle connection: once more on a new one
                self.h = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                if attempt:
                    raise

    def close(self):
        self.h.close()


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()
        self.t_start = time.monotonic()
        self.workdir = tempfile.mkdtemp(prefix="xl-cache-")
        self.tok = {name: secrets.token_hex(20) for name in TOKENS}
        self.servers = []
        self.srv = None

    def get(self, path, who="admin", http="h2c"):
        return self.srv.curl("GET", path, http=http, token=self.tok[who])

    def metrics(self):
        r = self.get("/metrics")
        self.c.status(r, 200, "GET /metrics")
        return r.raw.decode()

    def create(self, who="acme_w", flow="cache", **extra):
        r = self.srv.curl("POST", "/v1/executions", dict(flow_id=flow, **extra), http="h2c", token=self.tok[who])
        if not self.c.json_answer(r, 201, "create"):
            raise X.HarnessError("create failed")
        return r.json["audit_id"]

    def hits(self):
        return metric(self.metrics(), "execlog_cache_hits_total") or 0

    # ---- sections -------------------------------------------------------------------

    def t_hits(self):
        a = self.create()
        before = self.metrics()
        first = self.get("/v1/executions/%d" % a)
        self.c.json_answer(first, 200, "first read")
        for http in ("1.1", "h2c", "1.1", "h2c"):
            r = self.get("/v1/executions/%d" % a, http=http)
            if self.c.json_answer(r, 200, "read again over %s" % http):
                self.c.eq(r.raw, first.raw, "read again over %s: the same bytes" % http)
        after = self.metrics()
        hits = (metric(after, "execlog_cache_hits_total") or 0) - (metric(before, "execlog_cache_hits_total") or 0)
        misses = (metric(after, "execlog_cache_misses_total") or 0) - \
            (metric(before, "execlog_cache_misses_total") or 0)
        self.c.ok(hits >= 4, "repeated reads are cache hits", "hits +%d, misses +%d" % (hits, misses))
        self.c.ok(misses >= 1, "the first read missed", "misses +%d" % misses)
        for name in ("execlog_cache_evictions_total", "execlog_cache_invalidations_total", "execlog_cache_bytes",
                     "execlog_cache_entries"):
            self.c.ok(metric(after, name) is not None, "/metrics has %s" % name)
        self.c.ok((metric(after, "execlog_cache_entries") or 0) >= 1, "an entry is cached")
        print("  hits: +%d hits, +%d misses over 5 reads of one execution" % (hits, misses))

        # a write invalidates: the next read shows it, without min_position (acknowledged once projected)
        w = self.srv.curl("POST", "/v1/executions/%d/events" % a, {"type": "started"}, http="h2c",
                          token=self.tok["acme_w"])
        self.c.json_answer(w, 202, "append")
        r = self.get("/v1/executions/%d" % a)
        if self.c.json_answer(r, 200, "read after the append"):
            self.c.eq((r.json.get("status"), r.json.get("events")), ("running", 2), "read after the append: fresh")
        inv = metric(self.metrics(), "execlog_cache_invalidations_total") or 0
        self.c.ok(inv >= 1, "the projector invalidated the cached answer", "invalidations %d" % inv)

    def t_tenants(self):
        a = self.create()
        r = self.get("/v1/executions/%d" % a, who="acme_r")
        self.c.json_answer(r, 200, "acme reads its execution (fills the cache)")
        self.c.json_answer(self.get("/v1/executions/%d" % a, who="acme_r"), 200, "acme reads it again (a hit)")
        hits0 = metric(self.metrics(), "execlog_cache_hits_total") or 0
        missing = self.get("/v1/executions/%d" % (a + 1000000), who="globex_r")
        for http in ("1.1", "h2c"):
            r = self.get("/v1/executions/%d" % a, who="globex_r", http=http)
            self.c.problem(r, 404, "not-found", "another tenant reads a cached answer (%s)" % http)
            if r.json and missing.json:
                self.c.eq(r.json.get("title"), missing.json.get("title"),
                          "another tenant's cached execution reads like a missing one")
        hits1 = metric(self.metrics(), "execlog_cache_hits_total") or 0
        self.c.ok(hits1 - hits0 >= 2, "the other tenant's reads were answered from the cache (and refused)",
                  "hits +%d" % (hits1 - hits0))
        r = self.get("/v1/executions/%d" % a, who="admin")
        self.c.json_answer(r, 200, "an all-tenant token reads the cached answer")

    def t_as_of(self):
        a = self.create()
        t_created = now_ms()
        time.sleep(0.05)
        w = self.srv.curl("POST", "/v1/executions/%d/events" % a, {"type": "started"}, http="h2c",
                          token=self.tok["acme_w"])
        self.c.json_answer(w, 202, "append")
        self.get("/v1/executions/%d" % a)  # fills the cache with the current state
        r = self.get("/v1/executions/%d?as_of=%d" % (a, t_created))
        if self.c.json_answer(r, 200, "as_of before the append"):
            self.c.eq((r.json.get("as_of"), r.json.get("status"), r.json.get("events")), (t_created, "queued", 1),
                      "as_of is replayed, never the cached current answer")
        r = self.get("/v1/executions/%d" % a)
        if self.c.json_answer(r, 200, "current read after as_of"):
            self.c.eq(("as_of" in r.json, r.json.get("status")), (False, "running"), "the current answer is intact")

    def t_lists(self):
        ids = [self.create(flow="cache-list") for _ in range(3)]
        path = "/v1/executions?flow_id=cache-list&limit=10"
        first = self.get(path, who="acme_r")
        if not self.c.json_answer(first, 200, "list (fills the cache)"):
            return
        self.c.eq([i.get("audit_id") for i in first.json.get("items", [])], ids[::-1], "list: newest first")
        h0 = self.hits()
        for http in ("1.1", "h2c"):
            r = self.get(path, who="acme_r", http=http)
            if self.c.json_answer(r, 200, "list again (%s)" % http):
                self.c.eq(r.raw, first.raw, "list again (%s): the same bytes" % http)
        self.c.ok(self.hits() - h0 >= 6, "the items came from the cache", "hits +%d" % (self.hits() - h0))
        for a in ids:
            r = self.get("/v1/executions/%d" % a, who="acme_r")
            if self.c.json_answer(r, 200, "lookup of a listed execution"):
                self.c.ok(r.raw in first.raw, "a list item is the lookup's answer, byte for byte", str(a))

        newer = self.create(flow="cache-list")
        r = self.get(path, who="acme_r")
        if self.c.json_answer(r, 200, "list after a create"):
            self.c.eq([i.get("audit_id") for i in r.json.get("items", [])], [newer] + ids[::-1],
                      "a new execution shows in the next page (the cached walk is dropped)")
        r = self.get(path.replace("limit=10", "limit=2"), who="acme_r")
        if self.c.json_answer(r, 200, "a page of 2"):
            self.c.eq([i.get("audit_id") for i in r.json.get("items", [])], [newer, ids[2]], "a page of 2")
            nxt = r.json.get("next_page_token")
            for _ in range(2):  # the second is a cached walk
                r2 = self.get(path.replace("limit=10", "limit=2") + "&page_token=" + str(nxt), who="acme_r")
                if self.c.json_answer(r2, 200, "the next page of 2"):
                    self.c.eq([i.get("audit_id") for i in r2.json.get("items", [])], [ids[1], ids[0]],
                              "the next page of 2")
        w = self.srv.curl("POST", "/v1/executions/%d/events" % ids[0], {"type": "started"}, http="h2c",
                          token=self.tok["acme_w"])
        self.c.json_answer(w, 202, "append to a listed execution")
        r = self.get(path, who="acme_r")
        if self.c.json_answer(r, 200, "list after the append"):
            got = {i.get("audit_id"): (i.get("status"), i.get("events")) for i in r.json.get("items", [])}
            self.c.eq(got.get(ids[0]), ("running", 2), "list after the append: the item is fresh")
            self.c.eq(got.get(ids[1]), ("queued", 1), "list after the append: the others as they were")
        r = self.get(path + "&fields=audit_id,status", who="acme_r")
        if self.c.json_answer(r, 200, "list with fields="):
            self.c.eq([sorted(i) for i in r.json.get("items", [])], [["audit_id", "status"]] * 4,
                      "fields= selects, cache or not")

        # the call-tree index spans tenants: the cached items' tenant is checked like a stored one's
        child = self.create(flow="cache-list-child", parent_execution_id=ids[1])
        tree = "/v1/executions?parent_execution_id=%d" % ids[1]
        for who in ("admin", "admin", "acme_r"):
            r = self.get(tree, who=who)
            if self.c.json_answer(r, 200, "children of %d for %s" % (ids[1], who)):
                self.c.eq([i.get("audit_id") for i in r.json.get("items", [])], [child], "children for " + who)
        h0 = self.hits()
        for who, q in (("globex_r", ""), ("admin", "&tenant_id=globex")):
            r = self.get(tree + q, who=who)
            if self.c.json_answer(r, 200, "children of %d for %s%s" % (ids[1], who, q)):
                self.c.eq(r.json.get("items"), [], "another tenant's cached children are not listed (%s%s)" % (who, q))
        self.c.ok(self.hits() - h0 >= 2, "those were refused from the cache", "hits +%d" % (self.hits() - h0))

    def lineage(self, a, who="acme_r"):
        r = self.get("/v1/executions/%d/lineage" % a, who=who)
        self.c.json_answer(r, 200, "lineage of %d" % a)
        j = r.json or {}
        return r, [(i.get("audit_id"), i.get("status")) for i in j.get("attempts", [])], \
            [i.get("audit_id") for i in j.get("children", [])]

    def t_lineage(self):
        root = self.create(flow="cache-lineage")
        first, attempts, children = self.lineage(root)
        self.c.eq((attempts, children), ([(root, "queued")], []), "lineage of a new execution")
        h0 = self.hits()
        again, _, _ = self.lineage(root)
        self.c.eq(again.raw, first.raw, "lineage again: the same bytes")
        self.c.ok(self.hits() - h0 >= 1, "the lineage came from the cache", "hits +%d" % (self.hits() - h0))

        r = self.srv.curl("POST", "/v1/executions/%d/retry" % root, {}, http="h2c", token=self.tok["acme_w"])
        if not self.c.json_answer(r, 201, "retry"):
            return
        retry = r.json["audit_id"]
        _, attempts, children = self.lineage(root)
        self.c.eq(attempts, [(root, "queued"), (retry, "queued")], "a new retry shows in the cached lineage")
        self.lineage(root)  # cached again
        child = self.create(flow="cache-lineage-child", parent_execution_id=retry)
        _, attempts, children = self.lineage(root)
        self.c.eq(children, [child], "a new child of an attempt shows in the cached lineage")
        _, _, _ = self.lineage(retry)
        w = self.srv.curl("POST", "/v1/executions/%d/events" % retry, {"type": "started"}, http="h2c",
                          token=self.tok["acme_w"])
        self.c.json_answer(w, 202, "append to an attempt")
        for a in (root, retry):
            _, attempts, _ = self.lineage(a)
            self.c.eq(attempts, [(root, "queued"), (retry, "running")], "a write to an attempt shows (%d)" % a)
        # a lineage of two tenants (an all-tenant writer made a globex child): each caller sees its part
        other = self.create(who="admin", flow="cache-lineage-globex", tenant_id="globex", parent_execution_id=root)
        for _ in range(2):
            _, _, children = self.lineage(root, who="admin")
            self.c.eq(children, [other, child], "an all-tenant reader sees every child (the root's first)")
        for _ in range(2):
            _, _, children = self.lineage(root)
            self.c.eq(children, [child], "acme never gets the globex child from an all-tenant reader's lineage")
        missing = self.get("/v1/executions/%d/lineage" % (root + 1000000), who="globex_r")
        for http in ("1.1", "h2c"):
            r = self.get("/v1/executions/%d/lineage" % root, who="globex_r", http=http)
            self.c.problem(r, 404, "not-found", "another tenant reads a cached lineage (%s)" % http)
            if r.json and missing.json:
                self.c.eq(r.json.get("title"), missing.json.get("title"), "it reads like a missing execution")

    def t_concurrent(self):
        """Writers append; readers never get an answer older than the write whose position they ask for."""
        ids = [self.create(flow="cache-race") for _ in range(NEXEC)]
        latest = {a: (1, None) for a in ids}  # audit ID -> (events acknowledged, position "p:o")
        lock = threading.Lock()
        stop = threading.Event()
        stale, reads, errors = [], [0], []
        deadline = time.monotonic() + READ_SECONDS

        def writer(a):
            conn = Conn(self.srv, self.tok["acme_w"])
            try:
                for n in range(2, WRITES + 2):
                    if stop.is_set() or time.monotonic() > deadline:
                        return
                    ev = {"type": "progress", "metrics": {"rows": n}} if n > 2 else {"type": "started"}
                    status, j = conn.req("POST", "/v1/executions/%d/events" % a, ev)
                    if status != 202:
                        errors.append("append %d to %d: %s %r" % (n, a, status, j))
                        return
                    pos = j["position"]
                    with lock:
                        latest[a] = (n, "%d:%d" % (pos["partition"], pos["offset"]))
            except Exception as e:  # noqa: BLE001 - reported as a failed check
                errors.append("writer %d: %s" % (a, e))
            finally:
                conn.close()

        def reader(k):
            conn = Conn(self.srv, self.tok["acme_r"])
            i = k
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    a = ids[i % NEXEC]
                    i += 1
                    with lock:
                        want, pos = latest[a]
                    path = "/v1/executions/%d" % a
                    for q in ([path + "?min_position=" + pos] if pos else []) + [path]:
                        status, j = conn.req("GET", q)
                        reads[0] += 1
                        if status != 200:
                            errors.append("GET %s: %s %r" % (q, status, j))
                            return
                        rows = (j.get("metrics") or {}).get("rows", 2 if j.get("events", 0) >= 2 else 1)
                        if j.get("events", 0) < want or (want > 2 and rows < want):
                            stale.append("GET %s: events %s rows %s, the write acknowledged before had %d" %
                                         (q, j.get("events"), rows, want))
            except Exception as e:  # noqa: BLE001
                errors.append("reader %d: %s" % (k, e))
            finally:
                conn.close()

        h0 = metric(self.metrics(), "execlog_cache_hits_total") or 0
        threads = [threading.Thread(target=writer, args=(a,), daemon=True) for a in ids]
        threads += [threading.Thread(target=reader, args=(k,), daemon=True) for k in range(NREADERS)]
        for t in threads[:NEXEC]:
            t.start()
        for t in threads[NEXEC:]:
            t.start()
        for t in threads[:NEXEC]:
            t.join(READ_SECONDS + 20)
        stop.set()
        for t in threads[NEXEC:]:
            t.join(20)
        h1 = metric(self.metrics(), "execlog_cache_hits_total") or 0
        written = sum(latest[a][0] - 1 for a in ids)
        print("  concurrent: %d writes, %d reads by %d readers, %d cache hits, %d stale" %
              (written, reads[0], NREADERS, h1 - h0, len(stale)))
        self.c.eq(errors[:3], [], "concurrent phase: no error")
        self.c.eq(stale[:3], [], "no read is older than the write it follows")
        self.c.ok(written >= NEXEC * 10, "enough writes raced the readers", "%d writes" % written)
        self.c.ok(h1 - h0 > 0, "the cache answered during the race", "hits +%d" % (h1 - h0))
        for a in ids:  # and at rest every execution reads as its last write, from the cache or not
            n, pos = latest[a]
            for http in ("1.1", "h2c"):
                r = self.get("/v1/executions/%d" % a, http=http)
                if self.c.json_answer(r, 200, "final read of %d (%s)" % (a, http)):
                    self.c.eq(r.json.get("events"), n, "final read of %d (%s): every event" % (a, http))

    def t_small(self, srv):
        """A cache of 64 KiB over 150 executions (~100 KiB of answers): evictions, answers still right."""
        conn = Conn(srv, self.tok["admin"])
        ids = []
        try:
            for i in range(150):
                status, j = conn.req("POST", "/v1/executions", {"flow_id": "small", "message_id": "m-%d" % i})
                if not self.c.ok(status == 201, "small cache: create", "%s %r" % (status, j)):
                    return
                ids.append(j["audit_id"])
            bad = []
            for rnd in range(3):
                for a in ids:
                    status, j = conn.req("GET", "/v1/executions/%d" % a)
                    if status != 200 or j.get("audit_id") != a or j.get("message_id") != "m-%d" % ids.index(a):
                        bad.append("%d: %s %r" % (a, status, j))
            self.c.eq(bad[:3], [], "small cache: every read answers its own execution")
        finally:
            conn.close()
        m = srv.curl("GET", "/metrics", http="h2c", token=self.tok["admin"]).raw.decode()
        ev, nbytes = metric(m, "execlog_cache_evictions_total"), metric(m, "execlog_cache_bytes")
        print("  small cache: %s evictions, %s bytes held" % (ev, nbytes))
        self.c.ok(ev is not None and ev > 0, "a 64 KiB cache evicts", "evictions %r" % ev)
        self.c.ok(nbytes is not None and 0 < nbytes <= 65536, "the cache stays within http.cache.bytes",
                  repr(nbytes))

    def t_off(self, srv):
        r = srv.curl("POST", "/v1/executions", {"flow_id": "off"}, http="h2c", token=self.tok["admin"])
        self.c.json_answer(r, 201, "create (no cache)")
        a = r.json["audit_id"]
        for http in ("1.1", "h2c"):
            r = srv.curl("GET", "/v1/executions/%d" % a, http=http, token=self.tok["admin"])
            if self.c.json_answer(r, 200, "read without a cache (%s)" % http):
                self.c.eq(r.json.get("audit_id"), a, "read without a cache")
        m = srv.curl("GET", "/metrics", http="h2c", token=self.tok["admin"]).raw.decode()
        self.c.ok("execlog_cache_" not in m, "http.cache.bytes=0: no cache metrics")

    # ---- driver -----------------------------------------------------------------------

    def server(self, name, extra):
        srv = X.Execlogd(self.args.execlogd, name=name, args=["--auth.tokens=" + self.tokens] + extra)
        self.servers.append(srv)
        self.c.phase = "start " + name
        srv.start()
        return srv

    def run(self):
        self.tokens = os.path.join(self.workdir, "tokens")
        with open(self.tokens, "w") as fp:
            for name, (tenant, role) in TOKENS.items():
                fp.write("%s %s %s\n" % (X.token_hash(self.tok[name]), tenant, role))
        def body():
            self.srv = self.server("execlogd", [])
            self.section("hits", self.t_hits)
            self.section("tenants", self.t_tenants)
            self.section("as_of", self.t_as_of)
            self.section("lists", self.t_lists)
            self.section("lineage", self.t_lineage)
            self.section("concurrent", self.t_concurrent)
            small = self.server("small", ["--http.cache.bytes=65536"])
            self.section("small", self.t_small, small)
            off = self.server("off", ["--http.cache.bytes=0"])
            self.section("off", self.t_off, off)

        return self.conclude(self.servers, body)


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
