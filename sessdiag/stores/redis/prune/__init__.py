"""Remediate a Redis session store: leaks per framework, live-safe, reversible (docs/prune.md).

Modules: options (what is asked), plan (decisions and the tally), planner (the read-only
pass over every primary, rules from sessdiag.frameworks.leaks), scripts (the server-side
compare-and-act scripts), backup (the write-ahead file and its reader), executor (the apply
pass), lock (one prune per database), engine (the run and its refusals), report
(sessdiag.prune/1), restore (`sessdiag restore`).
"""

from sessdiag.stores.redis.prune.engine import prune_redis
from sessdiag.stores.redis.prune.options import RedisPruneOptions

__all__ = ["RedisPruneOptions", "prune_redis"]
