"""A token bucket on commands per second, shared by every connection of one scan process.

The bucket starts empty and a pipeline *borrows* its commands up front, then waits until the
debt is paid back, so the commands sent by any moment t never exceed ``rate * t`` plus the one
pipeline in flight: over a scan the observed rate stays at or under the cap, and close to it
whenever the server is faster than the cap. Pipelines are sized to ~50 ms of budget so the
pauses stay short.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, rate: float | None) -> None:
        if rate is not None and rate <= 0:
            rate = None
        self.rate = rate
        self._debt_until = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, n: int) -> None:
        if not self.rate or n <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._debt_until)
            self._debt_until = start + n / self.rate
            wait = start - now
        if wait > 0:
            time.sleep(wait)  # pacing the server's load, not synchronisation

    def batch_cap(self, floor: int = 4) -> int | None:
        """Most commands one pipeline may carry: ~50 ms of the budget."""
        if not self.rate:
            return None
        return max(floor, int(self.rate * 0.05))
