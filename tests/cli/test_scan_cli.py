"""The scan command as users run it: JSON contract, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

from sessdiag.fixtures import FixtureSpec, make_tree

NOW = 1_790_000_000
SPEC = dict(profile="beego-file", sessions=300, seed=2, now=NOW, max_lifetime=30 * 86400,
            expired_fraction=0.4, age_max=90 * 86400, empty_fraction=0.7, zero_byte=2,
            undecodable=3, symlinks=1, foreign=2, misplaced=1)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tmp"
    exp = make_tree(str(root), FixtureSpec.from_mapping(SPEC))
    return root, exp


def _one_line_error(res, code: int) -> None:
    assert res.code == code, (res.code, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert lines[0].startswith("sessdiag: error: ")
    assert "Traceback" not in res.err
    assert res.out == ""


def test_json_is_the_contract(cli, tree):
    root, exp = tree
    res = cli("scan", root, "--json", "--max-lifetime", "30d", "--now", NOW, "--deep")
    assert res.code == 0, res.err
    r = res.json()
    assert r["schema"] == "sessdiag.scan/1"
    assert r["target"] == {"kind": "files", "location": str(root), "profile": "beego-file",
                           "layout": r["target"]["layout"], "host": socket.gethostname()}
    assert r["generated_at"].endswith("Z")
    assert r["max_lifetime_s"] == 2592000
    for key in ("sessions", "bytes", "allocated_bytes", "expired", "empty"):
        assert r[key] == exp[key], key
    assert r["anomalies"] == {"symlinks": 1, "foreign": 2, "misplaced": 1, "zero_byte": 2,
                              "undecodable": 3, "unreadable": 0}
    assert set(r["gc_estimate"]) >= {"seconds", "files", "dirs"}
    assert r["clients"] == [] and isinstance(r["warnings"], list)
    assert res.err == ""  # no progress or logs when stderr is not a terminal


def test_output_file_and_human_view(cli, tree, tmp_path):
    root, exp = tree
    out = tmp_path / "report.json"
    res = cli("scan", root, "--output", out, "--max-lifetime", "30d", "--now", NOW)
    assert res.code == 0, res.err
    assert "sessions" in res.out and "age since last access" in res.out
    assert json.loads(out.read_text())["sessions"] == exp["sessions"]


def test_app_conf_sets_lifetime(cli, tree, tmp_path):
    root, exp = tree
    conf = tmp_path / "app.conf"
    conf.write_text("appname = casdoor\n# comment\nsessiongcmaxlifetime = 2592000\n")
    r = cli("scan", root, "--json", "--app-conf", conf, "--now", NOW).json()
    assert r["max_lifetime_s"] == 2592000
    assert r["expired"] == exp["expired"]
    conf.write_text("appname = x\n")
    r = cli("scan", root, "--json", "--app-conf", conf, "--now", NOW).json()
    assert r["max_lifetime_s"] == 3600
    assert any("sessiongcmaxlifetime" in w for w in r["warnings"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["scan", "/nonexistent/sessdiag"], "no such file"),
        (["scan", "{tree}", "--max-lifetime", "forever"], "not a duration"),
        (["scan", "{tree}", "--profile", "django"], "unknown file-store profile"),
        (["scan", "{tree}", "--buckets", "1d,1h"], "ascending"),
        (["scan", "{tree}", "--bogus-flag"], "bogus"),
        (["scan"], "Missing argument"),
        (["scan", "{file}"], "not a directory"),
        (["scan", "{empty}"], "empty directory"),
        (["scan", "{other}"], "neither a beego nor a PHP nor a Laravel session tree"),
        (["scan", "redis://127.0.0.1:notaport/0"], "port"),
        (["inspect", "{tree}"], "give a session id"),
        (["inspect", "{tree}", "../../etc/passwd"], "not a session id"),
        (["inspect", "{file}"], "not a valid"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, tree, tmp_path, args, needle):
    root, _ = tree
    f = tmp_path / "file.txt"
    f.write_text("hello")
    (tmp_path / "empty").mkdir()
    other = tmp_path / "other"
    (other / "docs").mkdir(parents=True)
    (other / "index.html").write_text("<html>")
    subst = {"{tree}": str(root), "{file}": str(f), "{empty}": str(tmp_path / "empty"),
             "{other}": str(other)}
    res = cli(*[subst.get(a, a) for a in args])
    _one_line_error(res, 2)
    assert needle.lower() in res.err.lower()


def test_unreachable_redis_is_exit_3(cli):
    res = cli("scan", "redis://user:s3cret@127.0.0.1:1/0", "--json")
    _one_line_error(res, 3)
    assert "s3cret" not in res.err


def test_root_symlink_is_resolved_once_and_warned(cli, tree, tmp_path):
    root, exp = tree
    link = tmp_path / "link"
    link.symlink_to(root)
    r = cli("scan", link, "--json", "--max-lifetime", "30d", "--now", NOW).json()
    assert r["sessions"] == exp["sessions"]
    assert any("symlink" in w and "GC walks nothing" in w for w in r["warnings"])
    gc = r["gc_estimate"]
    assert gc["walks_nothing"] is True and gc["seconds"] == 0.0
    assert gc["if_walked"]["seconds"] > 0 and gc["files"] >= exp["sessions"]


def test_root_symlink_with_trailing_slash_is_walked_like_beego_does(cli, tree, tmp_path):
    root, exp = tree
    link = tmp_path / "link"
    link.symlink_to(root)
    res = cli("scan", f"{link}/", "--json", "--max-lifetime", "30d", "--now", NOW)
    assert res.code == 0, res.err
    r = res.json()
    assert r["sessions"] == exp["sessions"]
    assert not any("GC walks nothing" in w for w in r["warnings"])
    assert r["gc_estimate"]["seconds"] > 0 and "walks_nothing" not in r["gc_estimate"]
    assert cli("prune", f"{link}/", "--max-age", "30d").code == 0


def test_fifo_and_huge_payload_do_not_hang_or_crash(cli, tree):
    root, exp = tree
    os.mkfifo(root / "a" / "b" / "pipe")
    sid = "ab" + "0" * 30
    huge = root / "a" / "b" / sid
    with open(huge, "wb") as fh:
        fh.truncate(1 << 30)  # sparse: 1 GiB of declared payload, no blocks
    os.utime(huge, (NOW - 10, NOW - 10))
    res = cli("scan", root, "--json", "--deep", "--max-lifetime", "30d", "--now", NOW)
    assert res.code == 0, res.err
    r = res.json()
    assert r["sessions"] == exp["sessions"] + 1
    assert r["bytes"] == exp["bytes"] + (1 << 30)
    assert r["anomalies"]["foreign"] == 3  # two from the fixture, plus the FIFO
    assert r["anomalies"]["undecodable"] == 3 + 1
    assert r["payload_check"]["oversized"] == 1


def _without_dac_override(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI as root minus the capabilities that bypass file permissions."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    return subprocess.run([*prefix, sys.executable, "-m", "sessdiag", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None,
                    reason="as root, needs setpriv to give up permission overrides")
def test_unreadable_root_and_shard():
    base = tempfile.mkdtemp(prefix="sessdiag-perm-")
    try:
        os.chmod(base, 0o755)
        root = os.path.join(base, "tmp")
        make_tree(root, FixtureSpec.from_mapping(dict(SPEC, undecodable=0)))
        for d, _dirs, files in os.walk(root):
            os.chmod(d, 0o755)
            for f in files:
                if not os.path.islink(os.path.join(d, f)):
                    os.chmod(os.path.join(d, f), 0o644)
        os.chmod(os.path.join(root, "7", "3"), 0o000)
        res = _without_dac_override(["scan", root, "--json", "--max-lifetime", "30d"])
        assert res.returncode == 0, res.stderr
        r = json.loads(res.stdout)
        assert r["anomalies"]["unreadable"] == 1
        assert any("permission denied" in f for f in r["findings"])
        os.chmod(root, 0o000)
        res = _without_dac_override(["scan", root, "--json"])
        assert res.returncode == 3, res.stderr
        assert res.stderr.count("\n") == 1 and "permission denied" in res.stderr
        assert res.stdout == ""
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", base], check=False)
        subprocess.run(["rm", "-rf", base], check=False)


def test_python_dash_m_works(tree):
    root, exp = tree
    res = subprocess.run([sys.executable, "-m", "sessdiag", "scan", str(root), "--json",
                          "--max-lifetime", "30d"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["sessions"] == exp["sessions"]


def test_profile_php_files_without_depth_takes_the_depth_from_the_tree(cli, tmp_path):
    root = tmp_path / "php"
    spec = dict(profile="php-files", sessions=120, seed=3, now=NOW, max_lifetime=1440,
                expired_fraction=0.5, age_max=7200, php_depth=2)
    exp = make_tree(str(root), FixtureSpec.from_mapping(spec))
    res = cli("scan", root, "--profile", "php-files", "--max-lifetime", "24m", "--json",
              "--now", NOW)
    assert res.code == 0, res.err
    r = res.json()
    assert r["target"]["layout"].startswith("PHP files handler, save_path '2;")
    assert (r["sessions"], r["expired"], r["anomalies"]["misplaced"]) == (
        exp["sessions"], exp["expired"], 0)
    # an explicit depth still wins: read flat, every file is in the wrong place
    flat = cli("scan", root, "--profile", "php-files", "--php-depth", "0", "--json",
               "--now", NOW).json()
    assert flat["sessions"] == 0
    # prune pins the profile in cron lines: it must find the same sessions
    pr = cli("prune", root, "--profile", "php-files", "--max-age", "1s", "--json")
    assert pr.code == 0, pr.err
    assert pr.json()["sessions"] == exp["sessions"] == pr.json()["candidates"]


def test_sample_zero_decodes_nothing_and_still_counts(cli, tree):
    root, exp = tree
    res = cli("scan", root, "--json", "--sample", "0", "--max-lifetime", "30d", "--now", NOW)
    assert res.code == 0, res.err
    r = res.json()
    assert r["sessions"] == exp["sessions"] and r["expired"] == exp["expired"]
    assert r["payload_check"]["decoded"] == 0


def test_a_default_lifetime_is_said_in_json_and_terminal(cli, tree):
    root, _ = tree
    res = cli("scan", root, "--json", "--now", NOW)
    r = res.json()
    assert r["max_lifetime_s"] == 3600 and r["max_lifetime_source"] == "default"
    warning = [w for w in r["warnings"] if "no --max-lifetime given" in w]
    assert warning and "--app-conf" in warning[0] and "sessiongcmaxlifetime" in warning[0]
    term = " ".join(cli("scan", root, "--now", NOW, "--no-progress").out.replace("│", " ").split())
    assert "a default: pass --max-lifetime" in term
    assert "no --max-lifetime given" in term
    given = cli("scan", root, "--json", "--now", NOW, "--max-lifetime", "30d").json()
    assert given["max_lifetime_source"] == "--max-lifetime"
    assert not [w for w in given["warnings"] if "no --max-lifetime" in w]
    assert "a default" not in cli("scan", root, "--now", NOW, "--max-lifetime", "30d").out


@pytest.mark.parametrize(("flags", "flag"), [
    (("--max-lifetime", "30x"), "--max-lifetime"),
    (("--buckets", "1h,2q"), "--buckets"),
    (("--race-window", "soon"), "--race-window"),
])
def test_duration_errors_name_the_flag(cli, tree, flags, flag):
    root, _ = tree
    res = cli("scan", root, *flags)
    _one_line_error(res, 2)
    assert f"sessdiag: error: {flag}: not a duration: '" in res.err


def _odd_names(root) -> None:
    """A non-UTF-8 name (legacy NFS trees) and one carrying a terminal escape, in a shard."""
    shard = next(p for p in root.glob("*/*") if p.is_dir())
    (shard / os.fsdecode(b"\xff\xfebad")).write_bytes(b"x")
    (shard / "esc\x1b[2Jred").write_bytes(b"x")


def test_json_stays_utf8_with_undecodable_names(cli, tree):
    root, _ = tree
    _odd_names(root)
    res = cli("scan", root, "--json", "--now", NOW)
    assert res.code == 0, res.err
    res.out.encode("utf-8")  # no lone surrogates: the report is valid UTF-8
    examples = " ".join(res.json()["anomaly_examples"]["foreign"])
    assert "\\xff\\xfebad" in examples


def test_terminal_shows_undecodable_and_control_bytes_escaped(cli, tmp_path):
    for name in (b"\xff\xfebad", b"esc\x1b[2Jred"):
        root = tmp_path / name.hex()
        make_tree(str(root), FixtureSpec.from_mapping(dict(sessions=30, seed=1, now=NOW)))
        shard = next(p for p in root.glob("*/*") if p.is_dir())
        (shard / os.fsdecode(name)).write_bytes(b"x")
        res = cli("scan", root, "--now", NOW, "--no-progress")
        assert res.code == 0, res.err
        res.out.encode("utf-8")
        assert "\x1b" not in res.out
        assert ("\\xff\\xfebad" if name[0] == 0xFF else "esc\\x1b[2Jred") in res.out


def test_output_alone_keeps_the_human_report_on_the_terminal(cli, tree, tmp_path):
    root, _ = tree
    out = tmp_path / "report.json"
    res = cli("scan", root, "--now", NOW, "--no-progress", "--output", out)
    assert res.code == 0, res.err
    assert "sessdiag scan" in res.out and not res.out.lstrip().startswith("{")
    assert json.loads(out.read_text())["schema"] == "sessdiag.scan/1"
