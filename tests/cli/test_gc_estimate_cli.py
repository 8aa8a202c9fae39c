"""`sessdiag gc-estimate` as users run it: contract fields, exact counts, findings, errors."""

from __future__ import annotations

import os
import time

import pytest

from sessdiag.analysis import gcprobe
from sessdiag.fixtures import FixtureSpec, make_tree

LIFE = 30 * 86400
SPEC = dict(profile="beego-file", sessions=600, seed=3, max_lifetime=LIFE,
            expired_fraction=0.5, age_max=90 * 86400, empty_fraction=1.0, symlinks=2,
            foreign=4, misplaced=1)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("gcest") / "tmp"
    now = int(time.time())
    exp = make_tree(str(root), FixtureSpec.from_mapping({**SPEC, "now": now}))
    # Ground truth for beego's walk, computed from the tree itself.
    files = dirs = old_other = 0
    for d, subdirs, names in os.walk(root):
        dirs += 1
        # os.walk lists a symlink to a directory among the subdirectories (and skips it).
        for n in names + [s for s in subdirs if os.path.islink(os.path.join(d, s))]:
            files += 1
            p = os.path.join(d, n)
            st = os.lstat(p)
            is_session = len(n) == 32 and d.endswith(f"/{n[0]}/{n[1]}") and not os.path.islink(p)
            if not is_session and int(st.st_mtime) < now - LIFE:
                old_other += 1
    return root, exp, {"files": files, "dirs": dirs, "old_other": old_other, "now": now}


def _one_line_error(res, code: int) -> None:
    assert res.code == code, (res.code, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sessdiag: error: "), res.err
    assert res.out == ""


def test_json_carries_the_contract_fields(cli, tree):
    root, exp, truth = tree
    res = cli("gc-estimate", root, "--json", "--max-lifetime", "30d", "--now", truth["now"],
              "--seed", "1", "--request-rate", "3", "--what-if-age", "7d",
              "--assume-latency", "5ms", "--gc-interval", "30d")
    assert res.code == 0, res.err
    r = res.json()
    assert set(r) >= {"seconds", "files", "dirs", "expired", "stat_latency_us", "model"}
    assert r["schema"] == "sessdiag.gc-estimate/1"
    assert r["files"] == truth["files"]
    assert r["dirs"] == truth["dirs"]
    assert r["expired_sessions"] == exp["expired"]
    assert r["old_non_sessions"] == truth["old_other"]
    assert r["expired"] == exp["expired"] + truth["old_other"]
    assert r["model"] == "beego-walk/probed"
    assert r["stat_latency_us"] == r["probe"]["lstat"]["median_us"]
    assert r["probe"]["operations"] <= 2000 and r["probe"]["seconds"] < 4.5
    assert r["quiet"] == r["probe"]["quiet"] and r["quiet"]["state"]
    lo, hi = r["range_s"]
    assert 0 < lo <= r["seconds"] <= hi
    assert r["seconds"] == pytest.approx(sum(r["breakdown"].values()), abs=0.01)
    assert r["requests"]["queued"] == pytest.approx(3 * r["seconds"], abs=0.1)
    assert r["recurrence"]["gc_interval_s"] == LIFE
    kinds = [(w["kind"], w.get("age_s"), w.get("latency_s")) for w in r["what_if"]]
    assert ("prune", 7 * 86400, None) in kinds and ("prune", LIFE, None) in kinds
    assert ("latency", None, 0.005) in kinds
    pruned = next(w for w in r["what_if"] if w.get("age_s") == LIFE)
    # Pruned to the lifetime: the expired sessions are gone, old foreign files remain.
    assert pruned["files"] == truth["files"] - exp["expired"]
    assert pruned["deletions"] == truth["old_other"]
    assert pruned["seconds"] < r["seconds"]
    nfs = next(w for w in r["what_if"] if w["kind"] == "latency")
    assert nfs["seconds"] > (truth["files"] + truth["dirs"]) * 0.005
    assert any("non-session entries older" in f for f in r["findings"])


def test_static_model_without_probe(cli, tree):
    root, _, truth = tree
    res = cli("gc-estimate", root, "--json", "--max-lifetime", "30d", "--no-probe")
    assert res.code == 0, res.err
    r = res.json()
    assert r["model"] == "beego-walk/static-ext4-warm"
    assert r["probe"] is None
    assert r["files"] == truth["files"]


def test_human_view(cli, tree):
    root, _, _ = tree
    res = cli("gc-estimate", root, "--max-lifetime", "30d", "--no-unlink-probe",
              "--request-rate", "2")
    assert res.code == 0, res.err
    assert "GC stall" in res.out and "what if" in res.out
    assert "requests queue" in res.out


def test_symlinked_root_walks_nothing(cli, tree, tmp_path):
    root, _, truth = tree
    link = tmp_path / "link"
    os.symlink(root, link)
    old = truth["now"] - LIFE - 86400
    os.utime(link, (old, old), follow_symlinks=False)
    res = cli("gc-estimate", link, "--json", "--max-lifetime", "30d", "--no-unlink-probe")
    assert res.code == 0, res.err
    r = res.json()
    assert r["walks_nothing"] is True
    assert r["seconds"] < 0.01
    assert r["if_walked"]["seconds"] > r["seconds"]
    text = " ".join(r["findings"])
    assert "walks nothing" in text and "deletes the link itself" in text
    # With a trailing slash beego's Walk goes through the link.
    r2 = cli("gc-estimate", f"{link}/", "--json", "--max-lifetime", "30d",
             "--no-unlink-probe").json()
    assert r2["walks_nothing"] is False and r2["files"] == truth["files"]


def test_cold_without_dropping_caches_gives_the_bound(cli, tree, monkeypatch):
    root, _, _ = tree
    monkeypatch.setattr(gcprobe, "drop_caches", lambda: "cannot drop caches: needs root")
    r = cli("gc-estimate", root, "--json", "--max-lifetime", "30d", "--cold",
            "--no-unlink-probe").json()
    assert r["cache"] == "warm"
    lo, hi = r["cold_bound_s"]
    assert lo == pytest.approx(1.4 * r["seconds"], rel=0.01) and hi > lo
    assert any("needs root" in n for n in r["notes"])


def test_app_conf_sets_the_lifetime(cli, tree, tmp_path):
    root, _, _ = tree
    conf = tmp_path / "app.conf"
    conf.write_text("appname = casdoor\nsessionGCMaxLifetime = 2592000\n")
    r = cli("gc-estimate", root, "--json", "--app-conf", conf, "--no-probe").json()
    assert r["max_lifetime_s"] == LIFE


@pytest.mark.parametrize("args", [
    ("--assume-latency", "fast"),
    ("--assume-latency", "0ms"),
    ("--gc-interval", "soon"),
    ("--probe-budget", "0"),
    ("--request-rate", "-1"),
])
def test_bad_flags_exit_2(cli, tree, args):
    root, _, _ = tree
    _one_line_error(cli("gc-estimate", root, "--json", *args), 2)


def test_missing_tree_and_php_tree_exit_2(cli, tmp_path):
    _one_line_error(cli("gc-estimate", tmp_path / "nope", "--json"), 2)
    php = tmp_path / "php"
    make_tree(str(php), FixtureSpec.from_mapping(dict(profile="php-files", sessions=20)))
    res = cli("gc-estimate", php, "--json")
    _one_line_error(res, 2)
    assert "php-files" in res.err


@pytest.mark.parametrize(("flag", "what"), [("--gc-interval", "duration"),
                                            ("--what-if-age", "duration"),
                                            ("--assume-latency", "latency")])
def test_gc_estimate_value_errors_name_the_flag(cli, tmp_path, flag, what):
    res = cli("gc-estimate", tmp_path, flag, "30x")
    assert res.code == 2, res.err
    assert f"sessdiag: error: {flag}: not a {what}: '30x'" in res.err


def test_old_non_session_finding_names_only_entries_past_the_lifetime(cli, tmp_path):
    """The demo store named README.txt0 (27 days old) among what a 30-day GC deletes."""
    root = tmp_path / "tmp"
    now = 1_790_000_000
    make_tree(str(root), FixtureSpec.from_mapping(dict(
        profile="beego-file", sessions=50, seed=4, max_lifetime=LIFE, now=now,
        expired_fraction=0.0, empty_fraction=1.0)))
    for name, days in (("README.txt0", 27), ("notes-29d.txt", 29), ("stale-40d.txt", 40)):
        (root / name).write_text("x")
        os.utime(root / name, (now - days * 86400, now - days * 86400))
    (root / "a" / "b").mkdir(parents=True, exist_ok=True)
    (root / "a" / "b" / "old.bin").write_text("x")
    os.utime(root / "a" / "b" / "old.bin", (now - 31 * 86400, now - 31 * 86400))
    r = cli("gc-estimate", root, "--json", "--max-lifetime", "30d", "--now", now,
            "--no-probe").json()
    assert r["old_non_sessions"] == 2
    finding = next(f for f in r["findings"] if "non-session entries older" in f)
    assert "stale-40d.txt" in finding and "old.bin" in finding
    assert "README.txt0" not in finding and "notes-29d.txt" not in finding
    scan = cli("scan", root, "--json", "--max-lifetime", "30d", "--now", now).json()
    assert sorted(scan["anomaly_examples"]["old_non_sessions"]) == ["a/b/old.bin",
                                                                    "stale-40d.txt"]
    text = next(f for f in scan["findings"] if "non-session entries" in f)
    assert "README.txt0" not in text and "stale-40d.txt" in text


def test_a_busy_disk_gives_a_finding_and_a_wide_range_not_a_bare_figure(cli, tree,
                                                                        monkeypatch):
    from sessdiag.analysis.diskquiet import settle
    from sessdiag.analysis.gcprobe import Latency, ProbeResult

    def busy_probe(*_a, **_kw):
        p = ProbeResult(seconds=3.9, ops=1200)
        p.lstat = Latency(n=600, median_us=4.0, p95_us=6.0, mean_us=4.4, min_us=2.9)
        p.readdir_dirs, p.readdir_entries, p.readdir_s = 6, 1200, 0.0012
        p.unlink = Latency(n=240, median_us=300.0, p95_us=600.0, mean_us=330.0, min_us=120.0)
        p.unlink_status = "measured"
        # The probe: half the bursts 3.7x slow, the kernel writing back meanwhile.
        p.unlink_burst_means_us = p.unlink_burst_work_us = [520, 540, 510, 530] + [140] * 4
        p.unlink_burst_busy = [["kernel writeback 300 MiB"]] * 4 + [[]] * 4
        p.unlink_settled = settle(p.unlink_burst_work_us, p.unlink_burst_busy)
        return p

    root, _, truth = tree
    monkeypatch.setattr(gcprobe, "run_probe", busy_probe)
    r = cli("gc-estimate", root, "--json", "--max-lifetime", "30d", "--now", truth["now"]).json()
    # The point figure rests on the quiet bursts; the busy ones are the range's top.
    assert r["unlink_latency_us"] == 140.0
    assert r["range_s"][1] > 2 * r["seconds"]
    assert r["quiet"]["busy_bursts"] == [0, 1, 2, 3]
    text = " ".join(r["findings"])
    assert "could not time removals on a quiet machine" not in text  # 4 quiet bursts: quiet
    assert r["quiet"]["state"] == "quiet"

    # Every burst busy: a finding names it, with the range.
    def all_busy(*a, **kw):
        p = busy_probe()
        p.unlink_burst_busy = [["kernel writeback 300 MiB"]] * 8
        p.unlink_settled = settle(p.unlink_burst_work_us, p.unlink_burst_busy)
        return p

    monkeypatch.setattr(gcprobe, "run_probe", all_busy)
    r = cli("gc-estimate", root, "--json", "--max-lifetime", "30d", "--now", truth["now"]).json()
    assert r["quiet"]["state"] == "busy"
    f = next(x for x in r["findings"] if "could not time removals on a quiet machine" in x)
    assert "kernel writeback 300 MiB" in f and "re-run" in f
    assert r["range_s"][1] >= r["expired"] * 540e-6
