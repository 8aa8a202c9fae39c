"""Delete expired sessions from a file store without harming a live app (docs/prune.md).

Two passes over the tree, both parallel over units on the file store's pool (pool.py):

1. **Plan** (every run; planner.py): list and lstat everything through directory fds opened
   with O_NOFOLLOW; classify each entry with the classifier scan uses; count sessions,
   candidates and anomalies. With --apply, candidates are spilled to small temp files and
   the safety checks (engine.py) run on the totals: nothing is deleted if one refuses.
2. **Apply** (worker.py): re-check each candidate immediately before acting, then the
   verified rename-and-unlink (or quarantine), journaled write-ahead (journal.py).

Modules: options (what is asked, what comes back), control (stop flag, rate, budget),
tally (per-worker counts), journal (+ its parser), reconcile (a killed run's intents), env
(clock, processes, priority), planner, worker, runners (passes on the pool), engine (the
run and its refusals), report (sessdiag.prune/1).
"""

from sessdiag.stores.files.prune.control import Shared, StopControl
from sessdiag.stores.files.prune.engine import prune_file_store
from sessdiag.stores.files.prune.env import ClockProbe, apply_priority, probe_clock
from sessdiag.stores.files.prune.journal import Journal, JournalState, read_journal
from sessdiag.stores.files.prune.options import SCHEMA, PruneOptions, PruneResult
from sessdiag.stores.files.prune.reconcile import reconcile_journal

__all__ = ["SCHEMA", "ClockProbe", "Journal", "JournalState", "PruneOptions", "PruneResult",
           "Shared", "StopControl", "apply_priority", "probe_clock", "prune_file_store",
           "read_journal", "reconcile_journal"]
