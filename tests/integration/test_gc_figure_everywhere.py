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
