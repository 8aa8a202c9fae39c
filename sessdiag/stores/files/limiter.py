"""How many filesystem operations may be in flight: an adaptive limit, and a rate cap.

The control law is pure (no clock, no I/O): the engine (inflight.py) feeds it the latency of
each finished operation and reads `limit`. Every window of samples (at least two rounds of
the current limit) it compares the window's typical latency (the mean of its fastest 90 %)
with the baseline, the lowest such value seen:

* at most `tolerance` x baseline: the mount keeps up, so more operations in flight buy
  throughput: grow (x1.5 per window until the first back-off, then + sqrt(limit), as
  TCP's slow start and congestion avoidance do) -- as long as they do: when the window
  after a growth completed operations no faster (by `gain`) than the one before, the
  growth is undone (our own CPU, or a server's fixed thread pool, is the limit: more
  threads would only queue);
* above it, while the window also completed operations faster than any before (by
  `gain`): the queueing buys throughput; hold the limit;
* above it otherwise: operations queue somewhere (the NFS server's threads, its disk, our
  own CPU) for nothing: back off (x `backoff`), so a struggling server is not hammered;
* above it again right after a back-off that did not bring the latency down by a
  `relief` share: the mount itself got slower, not because of us (NFS server under other
  load, a longer network path): that latency becomes the new baseline, and the limit grows
  again from where it dropped.

Netflix's concurrency-limits (Gradient2, Vegas) and TCP Vegas judge the same signal; this
keeps the one rule that matters here and is easy to test step by step.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

GROW, BACK_OFF, REBASE, PLATEAU, HOLD = "grow", "back-off", "rebase", "plateau", "hold"


@dataclass(frozen=True)
class LimitSettings:
    initial: int = 16
    minimum: int = 1
    maximum: int = 256
    tolerance: float = 2.0  # window median over baseline that counts as queueing
    backoff: float = 0.7
    relief: float = 0.15  # a back-off must lower the median by this share to count
    gain: float = 0.05  # a growth must raise the throughput by this share to stay
    min_window: int = 64


@dataclass
class Limiter:
    settings: LimitSettings = field(default_factory=LimitSettings)
    limit: float = 0.0
    baseline: float | None = None
    last_median: float | None = None
    last_rate: float | None = None
    best_rate: float | None = None
    prev_limit: float = 0.0
    _window_start: float | None = None
    last_action: str = HOLD
    slow_start: bool = True
    _window: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = self.settings
        if not self.limit:
            self.limit = float(max(s.minimum, min(s.initial, s.maximum)))

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    def window_size(self) -> int:
        return max(self.settings.min_window, 2 * self.current)

    def absorb(self, latencies: Sequence[float], now: float) -> bool:
        """observe() of each latency at once, if none of them closes a window: True when
        done so (the engine's path for most chunks); False, with nothing taken, otherwise."""
        window = self._window
        if len(window) + len(latencies) >= self.window_size():
            return False
        if self._window_start is None:
            self._window_start = now
        window.extend(latencies)
        return True

    def observe(self, latency: float, now: float) -> str | None:
        """One finished operation's latency (seconds) at `now` (a monotonic clock); the
        action when a window closed."""
        if self._window_start is None:
            self._window_start = now
        self._window.append(latency)
        if len(self._window) < self.window_size():
            return None
        window, self._window = self._window, []
        span = now - self._window_start
        self._window_start = now
        window.sort()
        # The mean of the fastest 90 %: a pass mixes operations of one and two round trips
        # (lstat, rename), whose median jumps between them with the mix; the slowest tenth
        # is GIL and scheduler noise.
        kept = window[:max(1, len(window) * 9 // 10)]
        return self.decide(sum(kept) / len(kept), len(window) / span if span > 0 else None)

    def new_phase(self) -> None:
        """Another kind of work starts (prune's apply pass after its plan pass): its
        operations have their own baseline; the limit stays where it got."""
        self.baseline = None
        self.last_median = self.last_rate = self.best_rate = None
        self.last_action = HOLD
        self._window = []
        self._window_start = None

    def decide(self, median: float, rate: float | None = None) -> str:
        """One step of the control law on a window's median latency and its throughput
        (operations per second; None: unknown)."""
        s = self.settings
        prev, self.last_median = self.last_median, median
        prev_rate, self.last_rate = self.last_rate, rate
        best = self.best_rate
        if rate is not None and (best is None or rate > best):
            self.best_rate = rate
        if self.baseline is None or median < self.baseline:
            self.baseline = median
        if median <= self.baseline * s.tolerance:
            if self.last_action == GROW and rate is not None and prev_rate is not None \
                    and rate < prev_rate * (1 + s.gain) and self.prev_limit < self.limit:
                self.limit = self.prev_limit
                self.slow_start = False
                self.last_action = PLATEAU
                return PLATEAU
            self.prev_limit = self.limit
            if self.slow_start:
                self.limit = min(s.maximum, self.limit * 1.5)
            else:
                self.limit = min(s.maximum, self.limit + max(1.0, math.sqrt(self.limit)))
            self.last_action = GROW
        elif rate is not None and best is not None and rate > best * (1 + s.gain):
            self.last_action = HOLD
        elif self.last_action == BACK_OFF and prev is not None \
                and median > prev * (1 - s.relief):
            self.baseline = median
            self.best_rate = rate
            self.slow_start = True  # win back what the back-off gave away, quickly
            self.last_action = REBASE
        else:
            self.limit = max(float(s.minimum), self.limit * s.backoff)
            self.slow_start = False
            self.last_action = BACK_OFF
        return self.last_action


class RateCap:
    """At most `rate` operations per second over every thread (GCRA); None: no cap."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._tat = 0.0  # theoretical arrival time, CLOCK_MONOTONIC

    def take(self, n: int = 1) -> None:
        if self.rate is None:
            return
        with self._lock:
            now = time.monotonic()
            start = max(self._tat, now)
            self._tat = start + n / self.rate
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)
