#!/usr/bin/python3
"""Cross-implementation test: the execlog C codec against python3-avro.

(a) Frames written by the C codec (codec_tool encode-samples) are checked for
    the single-object header (C3 01 + CRC-64-AVRO fingerprint, little-endian)
    and their bodies decoded with avro.io.DatumReader against the .avsc files;
    the values must equal the JSON the tool wrote next to them.
(b) Bodies written by avro.io.DatumWriter, framed here, are decoded by the C
    codec (codec_tool decode / decode-state) and compared the same way.
(c) Frames the C codec must refuse (unknown fingerprint, truncated, trailing
    bytes) make codec_tool fail.

The fingerprint oracle is our own CRC-64-AVRO over python3-avro's canonical
form of the schema with logicalType attributes removed first: python3-avro
1.11.1 keeps {"type":"long"} for logical types where the spec says "long",
so its canonical form of the raw schema is not the spec's.

Run with /usr/bin/python3 (Debian's python3-avro). Prints "N passed, N failed"
and exits non-zero on any failure.
"""
import argparse
import datetime
import io
import json
import os
import subprocess
import sys
import tempfile

import avro.io
import avro.schema

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
CRC64_EMPTY = 0xC15D213AA4D7A795

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what, file=sys.stderr)
    return cond


def crc64_avro(data):
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    fp = CRC64_EMPTY
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def strip_logical(node):
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical(v) for v in node]
    return node


def spec_fingerprint(schema_text):
    stripped = avro.schema.parse(json.dumps(strip_logical(json.loads(schema_text))))
    return crc64_avro(stripped.canonical_form.encode("utf-8"))


def ms_to_dt(ms):
    return EPOCH + datetime.timedelta(milliseconds=ms)


def dt_to_ms(dt):
    return (dt - EPOCH) // datetime.timedelta(milliseconds=1)


def to_repr(datum):
    """A decoded datum in codec_tool's JSON shape."""
    out = {}
    for key, value in datum.items():
        if isinstance(value, datetime.datetime):
            value = dt_to_ms(value)
        elif key in ("tasks", "steps", "file_metrics", "runs"):
            value = [to_repr(item) for item in value]
        elif key in ("metrics", "attributes"):
            value = [[k, v] for k, v in value.items()]
        elif key in ("parent_audit_id", "parent_execution_id", "error_location", "schedule_event_id",
                     "top_execution_id") and value == 0:
            value = None  # the C struct uses 0 for null
        out[key] = value
    return out


def frame(fingerprint, body):
    return b"\xc3\x01" + fingerprint.to_bytes(8, "little") + body


def decode_body(schema, body):
    bio = io.BytesIO(body)
    datum = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(bio))
    return datum, bio.tell()


def encode_body(schema, datum):
    bio = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(bio))
    return bio.getvalue()


def short(value, limit=160):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


def first_diff(a, b):
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<missing>") != b.get(key, "<missing>"):
            return "%s: %s != %s" % (key, short(a.get(key, "<missing>")), short(b.get(key, "<missing>")))
    return None


def python_events():
    """Datums python writes; times are datetimes (the schema's logical type)."""
    base = {
        "event_id": "py-1", "audit_id": 42, "parent_audit_id": None, "root_audit_id": 40,
        "parent_execution_id": None, "retries": 0, "flow_id": "py-flow", "flow_name": None,
        "tenant_id": None, "message_id": None, "type": "created", "status": None,
        "time": ms_to_dt(1700000000001), "ingest_time": ms_to_dt(1700000000002),
        "trigger_type": None, "started_by": None, "task": None, "message": None, "error": None,
        "warnings": [], "metrics": {}, "attributes": {},
        "input": None, "output": None, "log": None, "steps": [], "code": None, "error_location": None,
        "schedule_event_id": None, "schedule_event_name": None, "file_metrics": [], "traceparent": None,
        "top_execution_id": None,
    }
    types = ["created", "started", "progress", "paused", "resumed", "warning", "succeeded", "failed",
             "cancel_requested", "cancelled", "task_started", "task_progress", "task_finished",
             "task_failed", "metrics", "log", "task_waiting", "task_skipped", "task_cancelled",
             "pause_requested", "resume_requested", "force_cancel_requested", "retry_requested"]
    statuses = ["queued", "running", "paused", "cancelling", "succeeded", "warning", "failed", "cancelled",
                "waiting", "skipped"]
    events = []
    for i, t in enumerate(types):
        ev = dict(base, type=t, audit_id=100 + i, event_id="py-%d" % i)
        if i % 2 == 0:
            ev.update({
                "parent_audit_id": 2**53 - 1, "parent_execution_id": 7, "retries": i,
                "flow_name": "Py \u00e9\u00e8 \U0001F600", "tenant_id": "", "message_id": "mid-%d" % i,
                "status": statuses[i % len(statuses)], "trigger_type": "webhook", "started_by": "py",
                "task": "t\u0000nul", "message": "x" * (i * 50),
                "error": {"class": "KeyError", "message": "'k'", "stack": None if i % 4 else "Traceback"},
                "warnings": ["w%d" % k for k in range(i)],
                "metrics": {"m%02d" % (30 - k): k * 1000 - 7 for k in range(i + 1)},
                "attributes": {"a": "1", "\u00fc": "", "z": "last"},
                "input": '{"x": [1, 2]}', "output": "null", "log": "line 1\nline 2",
                "steps": [{"name": "s%d" % k, "type": None if k else "sql", "depends_on": ["s0"] * k}
                          for k in range(i % 3)],
                "code": "select 1", "error_location": 12, "schedule_event_id": 2**53 + i,
                "schedule_event_name": "nightly", "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
                "file_metrics": [{"name": "f.csv", "metrics": {"records": i, "bytes": -1}}],
                "top_execution_id": 5,
            })
        events.append(ev)
    events.append(dict(base, audit_id=-(2**63), root_audit_id=2**63 - 1, retries=-(2**31),
                       time=ms_to_dt(-62135596800000), ingest_time=ms_to_dt(253402300799999),
                       metrics={"min": -(2**63), "max": 2**63 - 1}))
    events.append(dict(base, attributes={"k%03d" % k: "v" * k for k in range(300, 0, -1)},
                       warnings=[""] * 50))
    return events


def python_states():
    base = {
        "audit_id": 7, "parent_audit_id": None, "root_audit_id": 7, "parent_execution_id": None,
        "retries": 0, "flow_id": "f", "flow_name": None, "tenant_id": None, "message_id": None,
        "trigger_type": None, "started_by": None, "status": "queued",
        "created_ms": ms_to_dt(1500000000000), "started_ms": None, "ended_ms": None,
        "updated_ms": ms_to_dt(1500000000000), "last_seq": 0, "anomalies": 0, "message": None,
        "error": None, "warnings": [], "metrics": {}, "attributes": {}, "log_partition": 0,
        "log_offset": 0, "tasks": [], "anomaly_list": [], "warnings_total": 0,
        "top_execution_id": None, "input": None, "output": None, "code": None, "error_location": None,
        "schedule_event_id": None, "schedule_event_name": None, "file_metrics": [], "control_type": 0,
        "control_seq": 0, "control_event_id": None,
    }
    task = {"type": None, "depends_on": [], "error": None, "input": None, "output": None,
            "metrics": {}, "attributes": {}, "runs": []}
    full = dict(base, parent_audit_id=6, parent_execution_id=3, retries=1, flow_name="F",
                tenant_id="T", message_id="M", trigger_type="api", started_by="dave",
                status="failed", started_ms=ms_to_dt(1500000000100),
                ended_ms=ms_to_dt(1500000000200), updated_ms=ms_to_dt(1500000000200),
                last_seq=2**32 - 1, anomalies=3, message="boom",
                error={"class": "C", "message": "M", "stack": "S"}, warnings=["w"],
                metrics={"b": 2, "a": 1}, attributes={"y": "1", "x": "2"}, log_partition=5,
                log_offset=2**63 - 1,
                tasks=[dict(task, name="", status="running", started_ms=None, ended_ms=None,
                            attempts=0, message=None),
                       dict(task, name="load", status="failed", started_ms=ms_to_dt(1500000000110),
                            ended_ms=ms_to_dt(1500000000190), attempts=2**32 - 1,
                            message="t\u00e4sk", type="sql", depends_on=["extract"],
                            error={"class": "E", "message": "m", "stack": None}, input='{"a":1}',
                            output="[]", metrics={"rows": 3}, attributes={"k": "v"},
                            runs=[{"attempt": 1, "status": "failed", "started_ms": ms_to_dt(1500000000110),
                                   "ended_ms": ms_to_dt(1500000000150),
                                   "error": {"class": "E", "message": "m", "stack": "s"}},
                                  {"attempt": 2, "status": "waiting", "started_ms": None,
                                   "ended_ms": None, "error": None}])],
                anomaly_list=[{"seq": 1, "type": "created", "status": "queued"},
                              {"seq": 2**32 - 1, "type": "log", "status": "cancelled"}],
                warnings_total=2**32 - 1, top_execution_id=3, input="{}", output='"done"',
                code="x", error_location=4, schedule_event_id=9, schedule_event_name="n",
                file_metrics=[{"name": "a", "metrics": {"r": 1}}], control_type=20, control_seq=5,
                control_event_id="c-1")
    return [base, full]


def run_tool(tool, *args):
    try:
        return subprocess.run([tool] + list(args), capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess([tool] + list(args), 127, b"", str(e).encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--schemas", required=True)
    opts = ap.parse_args()

    with open(os.path.join(opts.schemas, "execution_event.avsc")) as f:
        event_text = f.read()
    with open(os.path.join(opts.schemas, "execution_state.avsc")) as f:
        state_text = f.read()
    event_schema = avro.schema.parse(event_text)
    state_schema = avro.schema.parse(state_text)
    event_fp = spec_fingerprint(event_text)
    state_fp = spec_fingerprint(state_text)

    # the fingerprint oracle itself, on the spec's own vectors
    check(crc64_avro(b"") == CRC64_EMPTY, "CRC-64-AVRO of the empty string")
    check(crc64_avro(b'"int"') == 8247732601305521295, "CRC-64-AVRO of \"int\"")
    check(spec_fingerprint('{"type":"long","logicalType":"timestamp-millis"}')
          == (-3434872931120570953) % 2**64, "logical type collapses to long")

    res = run_tool(opts.tool, "fingerprint")
    check(res.returncode == 0, "codec_tool fingerprint: %r" % res.stderr)
    if res.returncode == 0:
        c_event_fp, c_state_fp = (int(x, 16) for x in res.stdout.split())
        check(c_event_fp == event_fp, "event fingerprint: C %016x, python %016x" % (c_event_fp, event_fp))
        check(c_state_fp == state_fp, "state fingerprint: C %016x, python %016x" % (c_state_fp, state_fp))

    with tempfile.TemporaryDirectory(prefix="xl-cross-avro-") as tmp:
        # (a) C writes, python reads
        res = run_tool(opts.tool, "encode-samples", tmp)
        check(res.returncode == 0, "codec_tool encode-samples: %r" % res.stderr)
        names = sorted(os.listdir(tmp))
        nevents = sum(1 for n in names if n.startswith("event-") and n.endswith(".bin"))
        nstates = sum(1 for n in names if n.startswith("state-") and n.endswith(".bin"))
        check(nevents >= 32 and nstates >= 2, "samples written: %d events, %d states" % (nevents, nstates))
        for name in names:
            if not name.endswith(".bin"):
                continue
            with open(os.path.join(tmp, name), "rb") as f:
                data = f.read()
            with open(os.path.join(tmp, name[:-4] + ".json"), encoding="utf-8") as f:
                expected = json.load(f)
            if name.startswith("event-"):
                if not check(data[:2] == b"\xc3\x01", "%s: magic %r" % (name, data[:2])):
                    continue
                fp = int.from_bytes(data[2:10], "little")
                check(fp == event_fp, "%s: fingerprint %016x, expected %016x" % (name, fp, event_fp))
                schema, body = event_schema, data[10:]
            else:
                schema, body = state_schema, data
            try:
                datum, used = decode_body(schema, body)
            except Exception as e:  # any python-side failure is a mismatch
                check(False, "%s: python cannot decode: %r" % (name, e))
                continue
            check(used == len(body), "%s: python read %d of %d body bytes" % (name, used, len(body)))
            diff = first_diff(to_repr(datum), expected)
            check(diff is None, "%s: C wrote, python read: %s" % (name, diff))

        # (b) python writes, C reads
        cases = [("event", i, ev) for i, ev in enumerate(python_events())]
        cases += [("state", i, st) for i, st in enumerate(python_states())]
        for kind, i, datum in cases:
            schema = event_schema if kind == "event" else state_schema
            body = encode_body(schema, datum)
            data = frame(event_fp, body) if kind == "event" else body
            path = os.path.join(tmp, "py-%s-%02d.bin" % (kind, i))
            with open(path, "wb") as f:
                f.write(data)
            res = run_tool(opts.tool, "decode" if kind == "event" else "decode-state", path)
            if not check(res.returncode == 0, "py %s %d: C cannot decode: %r" % (kind, i, res.stderr)):
                continue
            got = json.loads(res.stdout.decode("utf-8"))
            diff = first_diff(got, to_repr(datum))
            check(diff is None, "py %s %d: python wrote, C read: %s" % (kind, i, diff))

        # (c) what the C codec must refuse
        body = encode_body(event_schema, python_events()[0])
        bad = {
            "unknown-fingerprint": frame(event_fp ^ 1, body),
            "big-endian-fingerprint": b"\xc3\x01" + event_fp.to_bytes(8, "big") + body,
            "truncated": frame(event_fp, body[:-1]),
            "trailing": frame(event_fp, body + b"\x00"),
            "bad-magic": b"\xc3\x02" + frame(event_fp, body)[2:],
            "header-only": frame(event_fp, b""),
        }
        for name, data in bad.items():
            path = os.path.join(tmp, "bad-%s.bin" % name)
            with open(path, "wb") as f:
                f.write(data)
            res = run_tool(opts.tool, "decode", path)
            check(res.returncode == 1 and res.stdout == b"" and b"decode" in res.stderr,
                  "bad frame %s: exit %d, stderr %r" % (name, res.returncode, res.stderr))

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
