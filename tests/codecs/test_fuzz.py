"""The decoders' fuzz invariants (tools/fuzz/targets.py), in the default suite.

Every committed reproducer (tests/codecs/regressions/<codec>/) must give a result or a
DecodeError within the time, memory and output bounds; and mutations of the real vectors in
fixtures/ must too. Derandomized in CI (the `ci` hypothesis profile: a red run replays), new
random inputs under SESSDIAG_FUZZ=1; the long coverage-guided run is tools/fuzz/run.py
(docs/fuzzing.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "fuzz"))
import targets
from strategies import mutated

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REGRESSIONS = [(name, fn, data) for name in targets.TARGETS
               for fn, data in targets.regressions(name)]


def test_every_decoder_has_regressions_or_seeds() -> None:
    for name in targets.TARGETS:
        assert len(targets.seeds(name)) >= 3, name
    assert {n for n, _, _ in REGRESSIONS} >= {"phpser", "javaser", "pickleinspect",
                                              "rubymarshal", "msgpack"}


@pytest.mark.parametrize(("name", "fn", "data"), REGRESSIONS,
                         ids=[f"{n}/{fn}" for n, fn, _ in REGRESSIONS])
def test_regression_inputs_keep_their_bounds(name: str, fn: str, data: bytes) -> None:
    # Memory is traced on the small ones only: tracemalloc slows a 400 KB pickle tenfold.
    targets.check(name, data, memory=len(data) <= 64 * 1024)


def test_a_broken_invariant_is_reported() -> None:
    # The checker itself: an entry point that leaks another exception, or returns a cycle.
    def leaks(_: bytes) -> None:
        raise IndexError("x")

    def cyclic(_: bytes) -> list:
        out: list = []
        out.append(out)
        return out

    for entry in (leaks, cyclic):
        targets.TARGETS["_probe"] = targets.Target("_probe", (entry,), "", 1, 1 << 20)
        try:
            with pytest.raises(targets.Finding):
                targets.check("_probe", b"abc")
        finally:
            del targets.TARGETS["_probe"]


# ~400 inputs per decoder, ~50 s for all of them; the `fuzz` profile's larger count wins.
_fuzz = settings(max_examples=max(400, settings.default.max_examples),
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.filter_too_much])


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_mutated_real_vectors_keep_the_invariants(name: str) -> None:
    @_fuzz
    @given(mutated(name))
    def run(data: bytes) -> None:
        targets.check(name, data)

    run()


def _depth(v: object) -> int:
    """Levels of typed containers (a value inside n lists/maps is at depth n)."""
    deepest, stack = 0, [(v, 0)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, dict):
            stack.extend((y, d + ("type" in x and isinstance(x.get("value"), list | dict)))
                         for y in x.values())
        elif isinstance(x, list):
            stack.extend((y, d) for y in x)
        deepest = max(deepest, d)
    return deepest


NESTED_128 = {
    "gob": FIXTURES / "gob" / "deep_130.gob",
    "javaser": FIXTURES / "java" / "nested_130.ser",
    "phpser": b"x|" + b"a:1:{i:0;" * 128 + b"N;" + b"}" * 128,
    "pickleinspect": b"\x80\x02" + b"]" * 128 + b"a" * 127 + b".",
    "rubymarshal": b"\x04\x08" + b"[\x06" * 128 + b"0",
    "msgpack": b"\x91" * 128 + b"\xc0",
    "jsonsafe": b"[" * 128 + b"]" * 128,
}


@pytest.mark.parametrize("name", sorted(NESTED_128))
def test_contract_nesting_of_128_levels_is_accepted(name: str) -> None:
    raw = NESTED_128[name]
    data = raw.read_bytes() if isinstance(raw, Path) else raw
    out = targets.TARGETS[name].entries[0](data)
    assert _depth(out) >= 127, name


_N = 20_000
# The densest shapes measured per decoder (most Python objects per input byte): the stated
# bounds of each module's docstring (k in TARGETS) must hold on them.
WORST_SHAPES = {
    "javaser": b"\xac\xed\x00\x05ur\x00\x13[Ljava.lang.Object;" + bytes(8) + b"\x02\x00\x00xp"
               + _N.to_bytes(4, "big") + b"p" * _N,
    "phpser": b"x|a:%d:{" % _N + b"i:0;N;" * _N + b"}",
    "pickleinspect": b"\x80\x04}(" + b"NN" * _N + b"u.",
    "rubymarshal": b"\x04\x08{\x03" + _N.to_bytes(3, "little") + b"00" * _N,
    "msgpack": b"\xdf" + _N.to_bytes(4, "big") + b"\x00\xc0" * _N,
    "jsonsafe": b"[" + b"[]," * (_N - 1) + b"[]]",
}


@pytest.mark.parametrize("name", sorted(WORST_SHAPES))
def test_densest_inputs_within_the_stated_memory_bound(name: str) -> None:
    targets.check(name, WORST_SHAPES[name])
