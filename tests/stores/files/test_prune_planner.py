"""The plan pass's expiry boundary, to the nanosecond: a session whose mtime is exactly the
cutoff (now - max age - grace) has not expired; one nanosecond older has."""

from __future__ import annotations

import os

from sessdiag.stores.files import fsops
from sessdiag.stores.files.layout import layout_for
from sessdiag.stores.files.prune.control import StopControl
from sessdiag.stores.files.prune.planner import Plan, PlanWorker, plan_units

NOW_NS = 1_790_000_000 * 10**9
MAX_AGE_NS = 3600 * 10**9
GRACE_NS = 60 * 10**9


def test_a_session_exactly_at_the_cutoff_is_kept_one_ns_older_is_expired(tmp_path) -> None:
    cut = NOW_NS - MAX_AGE_NS - GRACE_NS
    ages = {"sess_" + "a" * 26: cut, "sess_" + "b" * 26: cut - 1, "sess_" + "c" * 26: cut + 1}
    for name, mt in ages.items():
        p = tmp_path / name
        p.write_bytes(b"k|i:1;")
        os.utime(p, ns=(mt, mt))
    root = str(tmp_path)
    plan = Plan(root=root, layout=layout_for(root, "php-files"),
                root_dev=os.stat(root).st_dev, max_age_ns=MAX_AGE_NS, grace_ns=GRACE_NS,
                clock_adj_ns=0, plan_now_ns=NOW_NS, apply=False, action="stage", run_id="t",
                spill_dir=None, journal=None, quarantine_run=None, mounts=frozenset(),
                batch=256, sample_k=10, seed=1, deadline=None)
    assert plan.plan_cutoff_ns == cut
    root_fd = fsops.open_root(root)
    try:
        _top, units = plan_units(plan, root_fd, 1)
        worker = PlanWorker(plan, StopControl(), root_fd, 0)
        for u in units:
            worker.run(u)
        t, _walk = worker.finish()
    finally:
        os.close(root_fd)
    assert (t.sessions, t.expired, t.candidates) == (3, 1, 1)
