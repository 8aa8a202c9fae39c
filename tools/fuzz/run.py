#!/usr/bin/env python3
"""Long fuzz run of one decoder: tools/fuzz/run.py --decoder NAME --minutes N.

Engines:
- `atheris` (default when installed: `pip install -e '.[fuzz]'`): coverage-guided (libFuzzer)
  over the decoder module, which is instrumented; the corpus starts from the real vectors and
  the committed reproducers (tools/fuzz/targets.py: seeds) and grows in --corpus.
- `hypothesis`: property-based, random mutations of the same seeds, new inputs on every run.

Every input is checked against the invariants of tools/fuzz/targets.py (only DecodeError,
JSON-serialisable output, time, memory and output size bounded). A broken invariant stops the
run and leaves the input in --artifacts (atheris: crash-<sha1>); commit it under
tests/codecs/regressions/<decoder>/ with the fix. The last line is a JSON summary: decoder,
engine, inputs tried, seconds, findings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

MODULES = {"gob": "gob", "javaser": "javaser", "phpser": "phpser",
           "pickleinspect": "pickleinspect", "rubymarshal": "rubymarshal",
           "msgpack": "msgpack", "jsonsafe": "jsonsafe"}


def _summary(**kw: object) -> None:
    print(json.dumps(kw), flush=True)


def run_atheris(name: str, minutes: float, corpus: Path, artifacts: Path, memcheck: int) -> int:
    import atheris

    with atheris.instrument_imports(include=["sessdiag.codecs"]):
        import importlib

        importlib.import_module(f"sessdiag.codecs.{MODULES[name]}")
        import targets
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        import hashlib

        for data in targets.seeds(name) + [d for _, d in targets.regressions(name)
                                           if len(d) <= 64 * 1024]:
            (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
    count = [0]

    def one(data: bytes) -> None:
        count[0] += 1
        # tracemalloc costs ~5x: every `memcheck`-th input, and every larger one, is traced.
        targets.check(name, data, memory=count[0] % memcheck == 0 or len(data) > 4096)

    start = time.monotonic()
    argv = [sys.argv[0], str(corpus), f"-max_total_time={int(minutes * 60)}",
            f"-artifact_prefix={artifacts}/", "-max_len=65536", "-rss_limit_mb=3072",
            "-timeout=60", "-print_final_stats=1"]
    atheris.Setup(argv, one)
    with contextlib.suppress(SystemExit):
        atheris.Fuzz()
    # libFuzzer normally ends the process itself after printing its final stats
    # (stat::number_of_executed_units = inputs tried); this line is for when it returns.
    _summary(decoder=name, engine="atheris", inputs=count[0],
             seconds=round(time.monotonic() - start, 1))
    return 0


def run_hypothesis(name: str, minutes: float, artifacts: Path) -> int:
    import targets
    from hypothesis import HealthCheck, given, settings
    from strategies import mutated

    deadline = time.monotonic() + minutes * 60
    count = [0]
    found: list[str] = []
    artifacts.mkdir(parents=True, exist_ok=True)

    @settings(max_examples=10**9, deadline=None, derandomize=False, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutated(name))
    def prop(data: bytes) -> None:
        if time.monotonic() > deadline:
            raise _Done
        count[0] += 1
        try:
            targets.check(name, data, memory=count[0] % 4 == 0 or len(data) > 4096)
        except targets.Finding:
            import hashlib

            p = artifacts / f"{name}-{hashlib.sha1(data).hexdigest()}.bin"
            p.write_bytes(data)
            found.append(str(p))
            raise

    start = time.monotonic()
    try:
        prop()
    except _Done:
        pass
    except Exception as exc:  # a finding, shrunk by hypothesis
        print(f"FINDING: {exc}", file=sys.stderr)
    _summary(decoder=name, engine="hypothesis", inputs=count[0],
             seconds=round(time.monotonic() - start, 1), findings=found)
    return 1 if found else 0


class _Done(Exception):
    pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--decoder", required=True, choices=sorted(MODULES))
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    ap.add_argument("--corpus", type=Path, default=None,
                    help="atheris corpus directory (default: .fuzz/corpus/<decoder>)")
    ap.add_argument("--artifacts", type=Path, default=Path(".fuzz/artifacts"))
    ap.add_argument("--memcheck-every", type=int, default=8,
                    help="atheris: trace memory on every Nth input (and every input > 4 KB)")
    a = ap.parse_args()
    engine = a.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
        except ImportError:
            engine = "hypothesis"
        else:
            engine = "atheris"
    os.environ.setdefault("SESSDIAG_FUZZ", "1")
    if engine == "atheris":
        corpus = a.corpus or Path(".fuzz/corpus") / a.decoder
        return run_atheris(a.decoder, a.minutes, corpus, a.artifacts, a.memcheck_every)
    return run_hypothesis(a.decoder, a.minutes, a.artifacts)


if __name__ == "__main__":
    sys.exit(main())
