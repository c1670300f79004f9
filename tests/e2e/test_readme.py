#!/usr/bin/python3
"""
The README runs: every ```sh block of README.md, in order, against a live execlogd.

The blocks run in one bash session (variables set by one block are seen by the next, as a reader typing them
would have them), in a scratch directory that has the repository's ops/ and the built binaries on PATH, with
`set -o pipefail` and curl made to fail on an HTTP error (--fail-with-body), so an example that answers 4xx or
5xx fails its block. 127.0.0.1:8080, the address the README uses, is rewritten to the live execlogd's. Blocks
fenced as ```sh skip (make targets, long-running commands, installation) are shown to readers but not run.

A comment line before a block may direct the test (not rendered by Markdown):
  <!-- readme-test: restart ARGS... -->   restart execlogd on its data directory with these extra flags
                                           (paths relative to the scratch directory; no ARGS: the defaults)

Usage: test_readme.py --execlogd PATH --src REPO_ROOT [-v] [--keep]
Prints one line per failed block (its line in README.md, the failing command and what it printed) and
"N passed, N failed"; exits 1 on any failure.
"""

import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execlogd as X  # noqa: E402
from test_write_path import Checks  # noqa: E402

README_ADDR = "127.0.0.1:8080"
BLOCK_TIMEOUT = 60.0  # seconds for one block
DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->\s*$")


def blocks_of(path):
    """[(line, kind, text)] in order: kind 'run' for ```sh, 'skip' for ```sh skip, 'directive' for a
    readme-test comment (text: what it says)."""
    out = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = DIRECTIVE.match(lines[i])
        if m:
            out.append((i + 1, "directive", m.group(1)))
        elif lines[i].startswith("```") and lines[i][3:].strip():
            info = lines[i][3:].split()
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if info[0] == "sh":
                out.append((start, "skip" if info[1:2] == ["skip"] else "run", "\n".join(body)))
        i += 1
    return out


class Shell:
    """One bash session fed block after block; each block's output goes to files of its own."""

    def __init__(self, cwd, env):
        self.cwd = cwd
        self.proc = subprocess.Popen(["bash", "--norc", "--noprofile"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                     text=True, preexec_fn=X._die_with_parent)
        self.n = 0
        self._send("set -E -o pipefail\n"
                   "curl() { command curl --fail-with-body --max-time 30 \"$@\"; }\n"
                   "trap 'echo \"__FAIL__ line $LINENO: $BASH_COMMAND (exit $?)\" >&2' ERR\n")

    def _send(self, text):
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def run(self, text, timeout=BLOCK_TIMEOUT):
        """@return (ok, output) of one block, sourced in the session."""
        self.n += 1
        script = os.path.join(self.cwd, ".block%d.sh" % self.n)
        out = os.path.join(self.cwd, ".block%d.out" % self.n)
        with open(script, "w") as fp:
            fp.write(text + "\n")
        self._send("source %s > %s 2>&1 < /dev/null; echo __DONE__ %d\n" % (script, out, self.n))
        deadline = time.monotonic() + timeout
        done = False
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.strip() == "__DONE__ %d" % self.n:
                done = True
                break
        text_out = open(out, errors="replace").read() if os.path.exists(out) else ""
        if not done:
            return False, text_out + "\n(block did not finish within %.0f s)" % timeout
        return "__FAIL__" not in text_out, text_out

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Suite(X.SuiteBase):
    def __init__(self, args):
        self.args = args
        self.c = Checks()

    def run(self):
        blocks = blocks_of(os.path.join(self.args.src, "README.md"))
        work = tempfile.mkdtemp(prefix="xl-readme-")
        os.symlink(os.path.join(os.path.abspath(self.args.src), "ops"), os.path.join(work, "ops"))
        bindir = os.path.dirname(os.path.abspath(self.args.execlogd))
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([bindir, os.path.join(bindir, "cli"), env.get("PATH", "")])
        srv = X.Execlogd(self.args.execlogd, workdir=work, name="readme")
        shell = None
        try:
            srv.start()
            shell = Shell(work, env)
            ran = 0
            for line, kind, text in blocks:
                self.c.phase = "README.md:%d" % line
                if kind == "directive":
                    self.direct(srv, text)
                if kind != "run":
                    continue
                ran += 1
                ok, out = shell.run(text.replace(README_ADDR, "127.0.0.1:%d" % srv.port))
                if self.args.verbose or not ok:
                    print("---- README.md:%d\n%s" % (line, out.rstrip()), flush=True)
                self.c.ok(ok, "block runs", out.strip().splitlines()[-1] if out.strip() else "")
            self.c.ok(ran >= 20, "the README has its examples", "%d blocks ran" % ran)
        except X.HarnessError as e:
            self.c.ok(False, "execlogd", str(e))
        finally:
            if shell is not None:
                shell.close()
            failed = self.c.failed
            if failed:
                srv.dump_logs()
            srv.stop()
            if not (failed and self.args.keep):
                srv.cleanup()
        print("%d passed, %d failed" % (self.c.passed, self.c.failed), flush=True)
        return 1 if self.c.failed else 0

    def direct(self, srv, directive):
        words = shlex.split(directive)
        if not words or words[0] != "restart":
            raise X.HarnessError("unknown readme-test directive: %r" % directive)
        srv.stop()
        srv.args = []
        srv.start(extra_args=[w if not w.startswith("--") or "=" not in w or os.path.isabs(w.split("=", 1)[1])
                              else "%s=%s" % (w.split("=", 1)[0], os.path.join(srv.workdir, w.split("=", 1)[1]))
                              for w in words[1:]])


if __name__ == "__main__":
    sys.exit(X.run_suite(Suite, __doc__))
