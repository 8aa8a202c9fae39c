"""How every long operation reports progress: a plain callable, nothing else.

`progress(n)` adds `n` items just done; `progress(0, total)` says how many to expect once it is
known (Redis: INFO keyspace). Stores and analyses call it and never look behind it (no
reaching into a progress bar's attributes); the CLI decides whether it draws anything.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def __call__(self, n: int, total: int | None = None) -> None: ...
