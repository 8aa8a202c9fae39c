"""Build and run the gcoracle (beego's GC, reproduced in Go) from Python.

    from oracle import build_oracle, run_oracle
    exe = build_oracle("/tmp/bin")          # needs `go` (Debian golang-go), offline
    r = run_oracle(exe, "/srv/sessions", 2592000)
    r["gc_wall_s"], r["first_request_wait_s"], r["files_walked"], r["deleted"]

The oracle DELETES every non-directory older than the max lifetime, like beego
(pass dry_run=True to only count).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def go_available() -> str | None:
    """Path of the go tool, or None."""
    return shutil.which("go")


def build_oracle(dest_dir: str) -> str:
    """Compile tools/gcoracle into dest_dir/gcoracle (standard library only, no network)."""
    go = go_available()
    if go is None:
        raise RuntimeError("go is not installed (Debian: apt-get install golang-go)")
    os.makedirs(dest_dir, exist_ok=True)
    exe = os.path.join(dest_dir, "gcoracle")
    env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GO111MODULE="on",
               CGO_ENABLED="0")
    if not os.environ.get("GOCACHE") and not os.access(os.path.expanduser("~"), os.W_OK):
        env["GOCACHE"] = tempfile.mkdtemp(prefix="gcoracle-gocache-")
    out = subprocess.run([go, "build", "-o", exe, "."], cwd=HERE, env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"go build failed: {out.stderr.strip()}")
    return exe


def run_oracle(exe: str, root: str, max_lifetime: int, *, sid: str | None = None,
               requests: int = 2, dry_run: bool = False, timeout: float | None = None) -> dict:
    cmd = [exe, "-root", root, "-maxlifetime", str(max_lifetime), "-requests", str(requests)]
    if sid:
        cmd += ["-sid", sid]
    if dry_run:
        cmd.append("-dry-run")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"gcoracle failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout)
