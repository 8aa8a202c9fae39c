"""What a Redis prune is asked to do (RedisPruneOptions)."""

from __future__ import annotations

from dataclasses import dataclass

from sessdiag.core.errors import UsageError
from sessdiag.core.prune_contract import check_limits
from sessdiag.frameworks import REDIS_PROFILES

LOCK_KEY = b"sessdiag:prune:lock"


@dataclass(frozen=True)
class RedisPruneOptions:
    target: str
    password_env: str | None = None
    apply: bool = False
    profile: str | None = None  # --profile: only sessions (and companions) of this one
    max_lifetime: int | None = None  # the lifetime of `idle`-ruled frameworks (else theirs)
    namespaces: tuple[str, ...] = ()  # --namespace: only these
    drop_namespaces: tuple[str, ...] = ()  # --drop-namespace: every key of these
    fix_ttl: bool = False
    backup: str | None = None
    rate: float | None = None  # changes (deletions, SREMs, PEXPIREs) per second
    max_delete: int | None = None
    max_runtime: float | None = None
    max_fraction: float = 0.95
    force: bool = False
    lock_ttl: float = 60.0
    sample_k: int = 10
    now: float | None = None  # tests: judge ages as of this time

    def validate(self) -> None:
        check_limits(self.rate, self.max_delete, self.max_runtime, self.max_fraction,
                     per_second="changes")
        if self.max_lifetime is not None and self.max_lifetime <= 0:
            raise UsageError("--max-lifetime must be a positive duration")
        if self.lock_ttl < 5:
            raise UsageError("--lock-ttl must be at least 5 s")
        if self.profile is not None and self.profile not in REDIS_PROFILES:
            raise UsageError(f"--profile {self.profile} is not a Redis profile (one of "
                             f"{', '.join(REDIS_PROFILES)})")
        both = set(self.namespaces) & set(self.drop_namespaces)
        if both:
            raise UsageError(f"--namespace and --drop-namespace both name {sorted(both)[0]!r}")
