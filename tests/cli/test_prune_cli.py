"""`sessdiag prune` as cron and operators run it: flags, JSON contract, exit codes."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import subprocess
import sys
import time

import pytest

from sessdiag.fixtures import FixtureSpec, make_tree
from sessdiag.stores.files.lock import default_lock_path

CONTRACT_KEYS = {"schema", "dry_run", "candidates", "deleted", "skipped_fresh", "errors",
                 "bytes_freed"}


@pytest.fixture
def tree(tmp_path):
    def make(n: int = 300, expired: float = 0.5, name: str = "store") -> str:
        root = tmp_path / name
        make_tree(str(root), FixtureSpec.from_mapping({
            "sessions": n, "expired_fraction": expired, "max_lifetime": 3600, "seed": 5,
            "foreign": 2, "symlinks": 1}))
        return str(root)
    return make


def _count(root: str) -> int:
    return sum(len(f) for _d, _s, f in os.walk(root))


def _lock(tmp_path) -> str:
    return str(tmp_path / "prune.lock")


def test_dry_run_json_contract(cli, tree, tmp_path):
    root = tree()
    n = _count(root)
    res = cli("prune", root, "--max-age", "1h", "--json", "--lock", _lock(tmp_path))
    assert res.code == 0, res.err
    r = res.json()
    assert set(r) >= CONTRACT_KEYS
    assert r["schema"] == "sessdiag.prune/1"
    assert r["dry_run"] is True and r["deleted"] == 0 and r["candidates"] == 150
    for key in ("skipped_other", "anomalies", "duration_s", "rate_per_s", "stopped_by",
                "age_spread", "sample", "clock", "warnings"):
        assert key in r
    assert res.err == ""  # no progress bar, no logs: stderr is not a terminal
    assert _count(root) == n


def test_apply_json_output_and_prom(cli, tree, tmp_path):
    root = tree()
    out, prom = tmp_path / "r.json", tmp_path / "prune.prom"
    res = cli("prune", root, "--max-age", "1h", "--apply", "--json", "--output", out,
              "--prom", prom, "--lock", _lock(tmp_path), "--jobs", "2")
    assert res.code == 0, res.err
    r = res.json()
    assert r["dry_run"] is False and r["deleted"] == 150 and r["bytes_freed"] > 0
    assert json.loads(out.read_text()) == r
    text = prom.read_text()
    assert "sessdiag_prune_deleted" in text and " 150" in text


def test_human_report_and_quiet(cli, tree, tmp_path):
    root = tree()
    res = cli("prune", root, "--max-age", "1h", "--lock", _lock(tmp_path))
    assert res.code == 0
    assert "DRY RUN" in res.out and "candidates" in res.out
    res = cli("prune", root, "--max-age", "1h", "--apply", "--quiet", "--lock", _lock(tmp_path))
    assert res.code == 0 and res.out == "" and res.err == ""


def test_max_age_from_app_conf(cli, tree, tmp_path):
    root = tree()
    conf = tmp_path / "app.conf"
    conf.write_text("appname = casdoor\nsessiongcmaxlifetime = 3600\n")
    res = cli("prune", root, "--app-conf", conf, "--json", "--lock", _lock(tmp_path))
    assert res.code == 0, res.err
    assert res.json()["max_age_s"] == 3600


@pytest.mark.parametrize(("args", "needle"), [
    ([], "--max-age is required"),
    (["--max-age", "soon"], "not a duration"),
    (["--max-age", "1h", "--jobs", "0"], "--jobs"),
    (["--max-age", "1h", "--workers", "fibers"], "--workers"),
    (["--max-age", "1h", "--ionice", "realtime"], "--ionice"),
    (["--max-age", "1h", "--bogus"], "No such option"),
    (["--max-age", "1h", "--partition", "3/2"], "--partition"),
    (["--max-age", "1h", "--partition", "half"], "--partition"),
])
def test_usage_errors_exit_2(cli, tree, tmp_path, args, needle):
    root = tree()
    res = cli("prune", root, *args, "--lock", _lock(tmp_path))
    assert res.code == 2, (res.code, res.err)
    assert needle in res.err and "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_missing_target_and_redis_exit_2(cli, tmp_path):
    assert cli("prune", tmp_path / "nope", "--max-age", "1h").code == 2
    # A flag of file stores given for Redis is refused before anything connects.
    assert cli("prune", "redis://localhost:6379/0", "--quarantine", str(tmp_path)).code == 2
    assert cli("prune", "redis://localhost:6379/0", "--partition", "1/2").code == 2


def test_partition_prunes_share_one_lock_file_and_delete_their_parts(cli, tree, tmp_path):
    """Two partitions through the CLI with one --lock: each deletes its part's expired
    sessions and names its partition; together they delete what one prune would."""
    root = tree()
    reports = []
    for k in (1, 2):
        res = cli("prune", root, "--max-age", "1h", "--apply", "--json", "--partition",
                  f"{k}/2", "--lock", _lock(tmp_path))
        assert res.code == 0, res.err
        reports.append(res.json())
    assert [r["target"]["partition"]["index"] for r in reports] == [1, 2]
    assert all(r["deleted"] > 0 for r in reports)
    assert sum(r["deleted"] for r in reports) == 150


def test_refusal_exit_4_nothing_deleted(cli, tree, tmp_path):
    root = tree(expired=1.0)
    n = _count(root)
    res = cli("prune", root, "--max-age", "1h", "--apply", "--json", "--lock", _lock(tmp_path))
    assert res.code == 4
    assert "refusing to apply, nothing deleted" in res.err and "max-fraction" in res.err
    r = res.json()  # the report still says what would have gone
    assert r["applied"] is False and r["deleted"] == 0 and r["safety"]["refusals"]
    assert _count(root) == n
    res = cli("prune", root, "--max-age", "1h", "--apply", "--force", "--quiet",
              "--lock", _lock(tmp_path))
    assert res.code == 0 and _count(root) == n - 300


def test_lock_held_exit_75_at_once(tree, tmp_path):
    """A second run against the same store (default lock) fails fast with 75."""
    root = tree()
    st = os.stat(root)
    path = default_lock_path(st.st_dev, st.st_ino)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, b"pid=4242 since=now\n", 0)
        t0 = time.monotonic()
        cp = subprocess.run([sys.executable, "-m", "sessdiag", "prune", root, "--max-age", "1h",
                             "--apply"], capture_output=True, text=True, timeout=60)
        assert cp.returncode == 75, cp.stderr
        assert time.monotonic() - t0 < 10
        assert "holds the lock" in cp.stderr and "pid 4242" in cp.stderr
        assert cp.stdout == ""
    finally:
        os.close(fd)
    assert _count(root) == 303  # nothing deleted


def test_unreadable_root_exit_3(tree, tmp_path):
    """Run the CLI in a forked child that dropped root: the store is 0700 root's."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    root = tree()
    os.chmod(root, 0o700)
    import sessdiag.cli as cli_mod  # imported here, before the child loses access

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 70
        try:
            sys.stderr = os.fdopen(w, "w", buffering=1)
            os.setgid(65534)
            os.setuid(65534)
            cli_mod.main(["prune", root, "--max-age", "1h", "--profile", "beego-file"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as fh:
        err = fh.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3, err
    assert "permission denied" in err


def test_sigterm_stops_cleanly_with_a_summary(tree, tmp_path):
    root = tree(n=2000, expired=0.5)
    journal = tmp_path / "j.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sessdiag", "prune", root, "--max-age", "1h", "--apply",
         "--json", "--rate", "100", "--jobs", "2", "--journal", str(journal),
         "--lock", _lock(tmp_path), "--nice", "5", "--ionice", "idle"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while journal.read_text().count('"event":"deleted"') < 10 if journal.exists() else True:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    import psutil

    me = psutil.Process(proc.pid)
    assert me.nice() == 5  # --nice and --ionice were applied to the run itself
    assert me.ionice().ioclass == psutil.IOPRIO_CLASS_IDLE
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    r = json.loads(out)
    assert r["stopped_by"] == "SIGTERM"
    assert 10 <= r["deleted"] < 1000 and r["not_attempted"] > 0 and r["errors"] == 0
    assert "stopped by SIGTERM" in err
    from sessdiag.stores.files.prune import read_journal

    js = read_journal(str(journal))
    assert not js.pending and len(js.deleted) == r["deleted"]


def _stderr_on_a_terminal(args: list[str]) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "sessdiag", *args],
                                stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
    finally:
        os.close(master)
    return proc.returncode, b"".join(chunks)


def test_progress_only_on_a_terminal(tree, tmp_path):
    root = tree(n=3000)
    code, err = _stderr_on_a_terminal(["prune", root, "--max-age", "1h", "--lock",
                                       _lock(tmp_path)])
    assert code == 0 and b"entries checked" in err
    code, err = _stderr_on_a_terminal(["prune", root, "--max-age", "1h", "--lock",
                                       _lock(tmp_path), "--apply", "--force", "--quiet"])
    assert code == 0 and err.strip() == b""  # --quiet: nothing, even on a terminal


@pytest.mark.parametrize("flag", ["--max-age", "--grace", "--max-runtime", "--max-skew"])
def test_prune_duration_errors_name_the_flag(cli, tmp_path, flag):
    args = ["prune", tmp_path, "--max-age", "30d", flag, "30x"]
    res = cli(*args)
    assert res.code == 2, res.err
    assert f"sessdiag: error: {flag}: not a duration: '30x'" in res.err


def test_prune_json_stays_utf8_with_undecodable_names(cli, tmp_path):
    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping(dict(sessions=20, seed=1)))
    shard = next(p for p in root.glob("*/*") if p.is_dir())
    (shard / os.fsdecode(b"\xff\xfebad")).write_bytes(b"x")
    res = cli("prune", root, "--max-age", "30d", "--json")
    assert res.code == 0, res.err
    res.out.encode("utf-8")
    assert [e[4:] for e in res.json()["anomaly_examples"]["foreign"]] == ["\\xff\\xfebad"]
