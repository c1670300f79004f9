"""
schemathesis hooks for test_openapi.py (loaded through SCHEMATHESIS_HOOKS).

- application/x-ndjson: the document models a batch body as an array of
  lines; each goes out as one compact JSON text on its own line.
- Held answers are bounded so that the run stays short: a long poll's wait
  (GET /v1/executions/{audit_id}/events) and an SSE stream's timeout
  (GET /v1/stream, which without one never ends) are at most 1 s. Values
  that are not integers are sent as generated (they get 400 at once).
- One ast.parse at a time: CPython 3.11 (Debian 12's 3.11.2) keeps the
  AST constructor's recursion depth in shared state (see CPython gh-106905),
  so two threads parsing at once may fail with SystemError "AST constructor
  recursion depth mismatch". schemathesis' two workers do that when
  hypothesis first describes a filter lambda (it parses the lambda's whole
  module), which made the run end with a Runtime Error now and then.
"""

import ast
import json
import threading

import schemathesis

_PARSE_LOCK = threading.Lock()
_ast_parse = ast.parse


def _parse_one_at_a_time(*args, **kwargs):
    with _PARSE_LOCK:
        return _ast_parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time

HELD = {("GET", "/v1/executions/{audit_id}/events"): "wait", ("GET", "/v1/stream"): "timeout"}


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, list):
        return b"".join(json.dumps(v, separators=(",", ":")).encode() + b"\n" for v in value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return json.dumps(value).encode()


def _as_int(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit() and v.isascii():
        return int(v)
    return None


@schemathesis.hook
def before_call(context, case, kwargs):
    name = HELD.get((case.operation.method.upper(), case.operation.path))
    if name is None:
        return
    query = case.query if isinstance(case.query, dict) else {}
    v = query.get(name)
    n = _as_int(v)
    if name == "timeout" and (v is None or n == 0 or (n is not None and n > 1)):
        query[name] = 1  # no timeout (or 0) would hold the stream forever
    elif name == "wait" and n is not None and n > 1:
        query[name] = 1
    case.query = query
