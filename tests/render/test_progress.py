"""Progress on stderr: a share and an ETA once the total is known."""

from __future__ import annotations

from sessdiag.render.progress import share_eta


def test_share_and_eta_once_the_total_is_known():
    assert share_eta(5_000, 20_000, 45.0) == "25% of 20,000, ETA 45s"
    assert share_eta(20_000, 20_000, 0.0) == "100% of 20,000"
    assert share_eta(19_999, 20_000, None) == ">99% of 20,000"
    assert share_eta(1_234, None, None) == ""  # an open-ended count: nothing to promise


def test_prune_tells_the_progress_its_apply_total(tmp_path):
    """The engine reports the candidate count before the apply pass (the bar's total)."""
    from sessdiag.fixtures import FixtureSpec, make_tree
    from sessdiag.stores.files.prune import PruneOptions, StopControl, prune_file_store

    root = tmp_path / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping(dict(sessions=200, seed=3, max_lifetime="1d",
                                                       expired_fraction=0.5)))
    calls: list[tuple[str, int]] = []
    opts = PruneOptions(target=str(root), max_age=86400, apply=True,
                        lock_path=str(tmp_path / "lock"), check_processes=False)
    opts.validate()
    res = prune_file_store(opts, stop=StopControl(),
                           progress=lambda phase, n: calls.append((phase, n)))
    totals = [n for phase, n in calls if phase == "apply:total"]
    assert totals == [res.report["candidates"]] and totals[0] > 0
    assert sum(n for phase, n in calls if phase == "apply") == res.report["deleted"]
