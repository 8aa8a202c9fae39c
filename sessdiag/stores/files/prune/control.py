"""State every worker shares, threads or forked processes: the stop flag and the rate."""

from __future__ import annotations

import time

STOP_REASONS = ("", "SIGINT", "SIGTERM", "max-delete", "max-runtime", "error")


class StopControl:
    """A stop request any worker or signal handler can raise; the first reason wins.

    A flag in shared memory, polled: not a multiprocessing.Event, whose set() waits for every
    process sleeping in wait() to wake up and hangs forever if one of them was killed.
    """

    POLL_S = 0.05

    def __init__(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        self._code = ctx.RawValue("i", 0)
        self._lock = ctx.Lock()

    def request(self, reason: str) -> None:
        # Called from signal handlers too: never block forever on the lock.
        if self._lock.acquire(timeout=1.0):
            try:
                if self._code.value == 0:
                    self._code.value = STOP_REASONS.index(reason)
            finally:
                self._lock.release()
        elif self._code.value == 0:
            self._code.value = STOP_REASONS.index(reason)

    @property
    def requested(self) -> bool:
        return self._code.value != 0

    @property
    def reason(self) -> str | None:
        return STOP_REASONS[self._code.value] or None

    def wait(self, timeout: float) -> bool:
        """Sleep up to timeout; True as soon as a stop is requested."""
        end = time.monotonic() + timeout
        while self._code.value == 0:
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, self.POLL_S))
        return True


class Shared:
    """Token bucket (GCRA) and deletion budget shared by every worker."""

    def __init__(self, rate: float | None, budget: int | None) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        self.rate = rate
        self.lock = ctx.Lock()
        self.tat = ctx.RawValue("d", 0.0)  # theoretical arrival time, CLOCK_MONOTONIC
        self.budget = ctx.RawValue("q", -1 if budget is None else budget)
        self.limited_budget = budget is not None

    def _locked(self) -> bool:
        # A worker killed while holding the lock (microseconds) must not hang the others.
        return bool(self.lock.acquire(timeout=10))

    def acquire(self, n: int, stop: StopControl, deadline: float | None = None) -> bool:
        """Wait for n tokens; False when a stop was requested (or the deadline passed)."""
        if self.rate is None or n <= 0:
            return not stop.requested
        if not self._locked():
            stop.request("error")
            return False
        try:
            now = time.monotonic()
            start = max(self.tat.value, now)
            self.tat.value = start + n / self.rate
        finally:
            self.lock.release()
        if deadline is not None and start > deadline:
            stop.request("max-runtime")
            return False
        delay = start - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return False
        return not stop.requested

    def take(self) -> bool:
        if not self.limited_budget:
            return True
        if not self._locked():
            return False
        try:
            if self.budget.value <= 0:
                return False
            self.budget.value -= 1
            return True
        finally:
            self.lock.release()

    def give_back(self) -> None:
        if self.limited_budget and self._locked():
            try:
                self.budget.value += 1
            finally:
                self.lock.release()
