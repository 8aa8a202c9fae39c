"""One GC stall figure: scan, gc-estimate, check and the Prometheus textfiles of all three
report the same number for the same tree and options (gcstall.gc_figure computes it once;
everything else renders it). The static model makes the figure independent of timing."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from sessdiag.fixtures import FixtureSpec, make_tree

NOW = 1_790_000_000
LIFE = "30d"


def _gauge(path, name: str) -> dict[str, float]:
    out = {}
    for fam in text_string_to_metric_families(path.read_text()):
        for s in fam.samples:
            if s.name == name:
                out[s.labels.get("bound", "")] = s.value
    return out


def test_scan_gc_estimate_check_and_prometheus_give_one_figure(cli, tmp_path):
    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping(dict(
        sessions=3000, seed=16, now=NOW, max_lifetime=LIFE, expired_fraction=0.5,
        empty_fraction=1.0, foreign=3, symlinks=1, misplaced=1)))
    common = ("--max-lifetime", LIFE, "--now", NOW)

    scan = cli("scan", root, "--json", *common, "--prom", tmp_path / "scan.prom")
    assert scan.code == 0, scan.err
    fig = scan.json()["gc_estimate"]
    assert fig["measured"] is False and fig["basis"].startswith("static fallback")

    est = cli("gc-estimate", root, "--json", "--no-probe", *common,
              "--prom", tmp_path / "est.prom")
    assert est.code == 0, est.err
    e = est.json()

    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  max_gc_stall_seconds: 0.001\n")
    chk = cli("check", root, "--policy", policy, "--json", *common,
              "--prom", tmp_path / "check.prom")
    assert chk.code == 1, chk.err
    rule = next(r for r in chk.json()["targets"][0]["results"]
                if r["rule"] == "max_gc_stall_seconds")

    assert fig["seconds"] > 0.1  # a figure worth comparing: ~1,500 removals
    for key in ("seconds", "range_s", "files", "dirs", "expired", "model", "breakdown"):
        assert e[key] == fig[key], key
    assert rule["measured"] == fig["seconds"]
    assert "static fallback" in rule["message"]
    for prom in ("scan.prom", "est.prom", "check.prom"):
        assert _gauge(tmp_path / prom, "sessdiag_gc_estimate_seconds") == {"": fig["seconds"]}
        assert _gauge(tmp_path / prom, "sessdiag_gc_estimate_range_seconds") == dict(
            zip(("low", "high"), fig["range_s"], strict=True))
        assert _gauge(tmp_path / prom, "sessdiag_gc_estimate_measured") == {"": 0.0}
    # The human views say which model it is, and that it was not measured.
    text = cli("scan", root, *common).out
    assert "static fallback" in text


def _recorded_probe(*_args, **_kwargs):
    """A probe result as gc-estimate recorded it on some disk: the same for every command."""
    from sessdiag.analysis.diskquiet import settle
    from sessdiag.analysis.gcprobe import Latency, ProbeResult

    p = ProbeResult(seconds=1.2, ops=900)
    p.lstat = Latency(n=600, median_us=4.0, p95_us=6.0, mean_us=4.4, min_us=2.9)
    p.readdir_dirs, p.readdir_entries, p.readdir_s = 6, 1200, 0.0012
    p.unlink = Latency(n=160, median_us=170.0, p95_us=260.0, mean_us=180.0, min_us=120.0)
    p.unlink_status = "measured"
    p.unlink_burst_means_us = p.unlink_burst_work_us = [170, 175, 180, 172, 168, 190, 178, 171]
    p.unlink_burst_busy = [[] for _ in range(8)]
    p.unlink_settled = settle(p.unlink_burst_work_us, p.unlink_burst_busy)
    p.disk_device = "vda"
    return p


def test_with_the_probe_every_command_renders_the_same_measured_figure(cli, tmp_path,
                                                                       monkeypatch):
    from sessdiag.analysis import gcprobe

    monkeypatch.setattr(gcprobe, "run_probe", _recorded_probe)
    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping(dict(
        sessions=2000, seed=17, now=NOW, max_lifetime=LIFE, expired_fraction=0.3,
        empty_fraction=1.0)))
    common = ("--max-lifetime", LIFE, "--now", NOW)
    scan = cli("scan", root, "--json", "--gc-probe", *common, "--prom", tmp_path / "s.prom")
    assert scan.code == 0, scan.err
    fig = scan.json()["gc_estimate"]
    assert fig["measured"] is True and fig["model"] == "beego-walk/probed"
    assert fig["quiet"]["state"] == "quiet"
    est = cli("gc-estimate", root, "--json", *common, "--prom", tmp_path / "e.prom").json()
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  max_gc_stall_seconds: 1000\n")
    chk = cli("check", root, "--policy", policy, "--json", "--gc-probe", *common,
              "--prom", tmp_path / "c.prom")
    assert chk.code == 0, chk.err
    rule = chk.json()["targets"][0]["results"][0]
    for key in ("seconds", "range_s", "files", "dirs", "expired", "model", "breakdown"):
        assert est[key] == fig[key], key
    assert rule["measured"] == fig["seconds"] and "static" not in rule["message"]
    for prom in ("s.prom", "e.prom", "c.prom"):
        assert _gauge(tmp_path / prom, "sessdiag_gc_estimate_seconds") == {"": fig["seconds"]}
        assert _gauge(tmp_path / prom, "sessdiag_gc_estimate_measured") == {"": 1.0}
    # Without --gc-probe the scan stays read-only: the static fallback, and it says so.
    assert cli("scan", root, "--json", *common).json()["gc_estimate"]["measured"] is False


def _recorded_busy_probe(*_args, **_kwargs):
    """A probe that caught half its unlink bursts on a busy disk (the issue's 53 s runs)."""
    from sessdiag.analysis.diskquiet import settle

    p = _recorded_probe()
    p.unlink_burst_means_us = p.unlink_burst_work_us = [520, 540, 510, 530, 140, 145, 138, 150]
    p.unlink_settled = settle(p.unlink_burst_work_us, p.unlink_burst_busy)
    p.cpu_slowdown = 3.0  # and its thread waited twice as long for a CPU as it ran
    return p


def test_a_probe_on_a_busy_disk_gives_the_range_and_why_in_every_command(cli, tmp_path,
                                                                        monkeypatch):
    from sessdiag.analysis import gcprobe

    monkeypatch.setattr(gcprobe, "run_probe", _recorded_busy_probe)
    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping(dict(
        sessions=2000, seed=18, now=NOW, max_lifetime=LIFE, expired_fraction=0.5,
        empty_fraction=1.0)))
    common = ("--max-lifetime", LIFE, "--now", NOW)
    fig = cli("scan", root, "--json", "--gc-probe", *common).json()["gc_estimate"]
    assert fig["quiet"]["state"] == "unsettled"
    est = cli("gc-estimate", root, "--json", *common).json()
    assert est["seconds"] == fig["seconds"] and est["range_s"] == fig["range_s"]
    assert any("could not time removals on a quiet machine" in f for f in est["findings"])
    assert est["cpu_slowdown"] == fig["cpu_slowdown"] == 3.0
    assert any("CPUs were saturated" in f for f in est["findings"])
    scan_text = cli("scan", root, "--gc-probe", *common).out
    assert "could not time removals on a quiet machine (unsettled)" in scan_text
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  max_gc_stall_seconds: 1000\n")
    chk = cli("check", root, "--policy", policy, "--json", "--gc-probe", *common).json()
    rule = chk["targets"][0]["results"][0]
    assert rule["measured"] == fig["seconds"]
    lo, hi = fig["range_s"]
    assert f"probe unsettled: range {lo:.4g}-{hi:.4g} s" in rule["message"]
