"""Mutation testing of sessdiag's safety-critical code: does the suite notice a change?

    .venv/bin/python tools/mutation/run.py                 # every target, default budget
    .venv/bin/python tools/mutation/run.py --target walker --budget 600 --json out.json
    .venv/bin/python tools/mutation/run.py --list           # the mutants, without running

Each mutant is one small change to one line of a target module (a comparison flipped or
made strict, an `os.O_*` flag dropped from a set of open flags, `bisect_left` for
`bisect_right`, `find` for `rfind`, an integer moved by one, a `not` removed). For each, the
target's test files run (`pytest -x`) against a scratch copy of the repository holding the
mutated module, with PYTHONPATH pointing at the copy, so subprocesses (`python -m sessdiag`),
forked workers and the audit-hook drivers run the mutant too. A mutant is *killed* when the
tests fail (or time out), *survives* when they pass. The kill rate is killed / run.

Why our own mutator and not mutmut or cosmic-ray: the tests that guard these modules run
sessdiag in subprocesses and forked workers (CLI runs, two-process lock tests, symlink swaps
at audit-hook points). mutmut 3 swaps functions in-process through trampolines selected by an
environment variable in its own `mutants/` copy, and cosmic-ray needs a session database and
a worker setup per run; both would mutate the test process but not the subprocesses, which
import the installed package. A scratch copy on PYTHONPATH mutates every process, and an AST
mutator with a fixed operator list keeps the run bounded and reproducible (mutants are
enumerated in source order, sampled with a fixed seed when a budget cuts the list).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PRUNE_TESTS = ["tests/stores/files/test_prune.py", "tests/stores/files/test_prune_hostile.py",
               "tests/stores/files/test_hostile_swaps.py",
               "tests/stores/files/test_prune_hardlink_race.py",
               "tests/stores/files/test_prune_planner.py"]

# module -> the tests that guard it (kept small: every mutant runs them).
TARGETS: dict[str, tuple[str, list[str]]] = {
    "fsops": ("sessdiag/stores/files/fsops.py",
              ["tests/stores/files/test_hostile_swaps.py", "tests/stores/files/test_scan.py"]),
    "walker": ("sessdiag/stores/files/walker.py",
               ["tests/stores/files/test_scan_boundaries.py", "tests/stores/files/test_scan.py",
                "tests/stores/files/test_walker.py"]),
    "lock": ("sessdiag/stores/files/lock.py", ["tests/stores/files/test_lock.py"]),
    "topology": ("sessdiag/stores/redis/topology.py",
                 ["tests/stores/redis/test_topology.py",
                  "tests/integration/test_redis_keyslot.py"]),
    "races": ("sessdiag/analysis/races.py", ["tests/analysis/test_races.py"]),
    # prune is a package: the worker acts (the act-time re-checks), the planner decides.
    "prune-worker": ("sessdiag/stores/files/prune/worker.py", PRUNE_TESTS),
    "prune-planner": ("sessdiag/stores/files/prune/planner.py", PRUNE_TESTS),
}

FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
        ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
SWAP_NAMES = {"bisect_left": "bisect_right", "bisect_right": "bisect_left",
              "find": "rfind", "rfind": "find"}


@dataclass
class Mutant:
    target: str
    index: int
    line: int
    kind: str
    before: str
    after: str
    outcome: str = "not run"  # killed | survived | timeout | not run
    seconds: float = 0.0


class _Enumerate(ast.NodeTransformer):
    """Walks the tree; mutates only the `want`-th mutation site (or none, to count them)."""

    def __init__(self, want: int = -1) -> None:
        self.want = want
        self.seen = 0
        self.sites: list[tuple[int, str]] = []

    def _site(self, node: ast.AST, kind: str) -> bool:
        self.sites.append((getattr(node, "lineno", 0), kind))
        hit = self.seen == self.want
        self.seen += 1
        return hit

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            flip = FLIP.get(type(op))
            if flip is not None and self._site(node, f"{type(op).__name__}->{flip.__name__}"):
                node.ops[i] = flip()
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.BitOr):
            for side in ("left", "right"):
                operand = getattr(node, side)
                if isinstance(operand, ast.Attribute) and operand.attr.startswith("O_") \
                        and self._site(node, f"drop {operand.attr}"):
                    return node.right if side == "left" else node.left
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if type(node.value) is int and node.value != 0 and abs(node.value) < 10**7 \
                and self._site(node, f"{node.value}->{node.value + 1}"):
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        other = SWAP_NAMES.get(node.id)
        if other and isinstance(node.ctx, ast.Load) and self._site(node, f"{node.id}->{other}"):
            return ast.copy_location(ast.Name(other, node.ctx), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        other = SWAP_NAMES.get(node.attr)
        if other and self._site(node, f".{node.attr}->.{other}"):
            node.attr = other
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._site(node, "drop not"):
            return node.operand
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        return node  # `from bisect import bisect_left` stays: the swapped name must resolve

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return node  # message texts are not behaviour


def mutants_of(target: str, path: Path) -> tuple[str, list[Mutant]]:
    source = path.read_text()
    counter = _Enumerate()
    counter.visit(ast.parse(source))
    original = ast.unparse(ast.parse(source))
    src_lines = source.splitlines()
    out = []
    for i, (line, kind) in enumerate(counter.sites):
        mutated = ast.unparse(_Enumerate(i).visit(ast.parse(source)))
        if mutated == original:
            continue
        before = src_lines[line - 1].strip() if 0 < line <= len(src_lines) else ""
        out.append(Mutant(target, i, line, kind, before, ""))
    return source, out


def mutated_source(source: str, index: int) -> str:
    tree = _Enumerate(index).visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def scratch_copy() -> Path:
    """The repository's files (tracked and untracked, not ignored) in a temporary directory."""
    dst = Path(tempfile.mkdtemp(prefix="sessdiag-mutation-"))
    names = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, names):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


def run_tests(copy: Path, tests: list[str], timeout: float,
              show_failure: bool = False) -> tuple[str, float]:
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    env.pop("CI", None)  # skips are not the question here
    t0 = time.monotonic()
    try:
        cp = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                             *tests], cwd=copy, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - t0
    if cp.returncode != 0 and show_failure:  # the unmutated run: say what failed
        sys.stderr.write(cp.stdout.decode(errors="replace")[-4000:])
    return ("survived" if cp.returncode == 0 else "killed"), time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", action="append", choices=sorted(TARGETS),
                    help="module to mutate (repeatable; default: all)")
    ap.add_argument("--budget", type=float, default=1800,
                    help="seconds for the whole run; mutants are sampled to fit (default 1800)")
    ap.add_argument("--max-per-target", type=int, default=None,
                    help="at most this many mutants per target (seeded sample)")
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--json", metavar="FILE", help="write every mutant and its outcome here")
    a = ap.parse_args(argv)
    targets = a.target or list(TARGETS)

    plans: list[tuple[str, str, list[Mutant]]] = []
    for name in targets:
        rel, tests = TARGETS[name]
        missing = [f for f in (rel, *tests) if not (REPO / f).is_file()]
        if missing:  # a module moved: say so rather than mutate nothing quietly
            print(f"{name}: not found: {', '.join(missing)}; update TARGETS", file=sys.stderr)
            continue
        source, ms = mutants_of(name, REPO / rel)
        if a.max_per_target is not None and len(ms) > a.max_per_target:
            ms = sorted(random.Random(a.seed).sample(ms, a.max_per_target),
                        key=lambda m: m.index)
        plans.append((name, source, ms))
    if a.list:
        for name, _src, ms in plans:
            for m in ms:
                print(f"{name}:{m.line}: {m.kind}: {m.before}")
        return 0

    def stop(_sig: int, _frame: object) -> None:  # SIGTERM, and SIGINT from a background job
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    copy = scratch_copy()
    results: list[Mutant] = []
    deadline = time.monotonic() + a.budget
    try:
        for name, source, ms in plans:
            rel, tests = TARGETS[name]
            outcome, base = run_tests(copy, tests, timeout=a.budget, show_failure=True)
            if outcome != "survived":
                print(f"{name}: the tests fail without any mutation; skipping", file=sys.stderr)
                continue
            per = max(120.0, 5 * base)  # a loaded machine: slow is not killed
            for m in ms:
                if time.monotonic() + base > deadline:
                    break
                (copy / rel).write_text(mutated_source(source, m.index))
                m.outcome, m.seconds = run_tests(copy, tests, per)
                results.append(m)
                mark = {"killed": "K", "timeout": "T", "survived": "S"}[m.outcome]
                print(f"{mark} {name}:{m.line} {m.kind}: {m.before}", flush=True)
            (copy / rel).write_text(source)
    except KeyboardInterrupt:
        print("stopped: the summary counts the mutants that ran", file=sys.stderr)
    finally:
        shutil.rmtree(copy, ignore_errors=True)

    print()
    total_run = total_dead = 0
    for name, _src, ms in plans:
        ran = [m for m in ms if m.outcome != "not run"]
        dead = sum(m.outcome in ("killed", "timeout") for m in ran)
        total_run += len(ran)
        total_dead += dead
        rate = f"{100 * dead / len(ran):.0f} %" if ran else "-"
        slow = sum(m.outcome == "timeout" for m in ran)
        print(f"{name:10} {dead:4}/{len(ran):<4} killed ({rate}; {slow} by timeout); "
              f"{len(ms) - len(ran)} not run")
    if total_run:
        print(f"{'all':10} {total_dead:4}/{total_run:<4} killed "
              f"({100 * total_dead / total_run:.1f} %)")
    if a.json:
        Path(a.json).write_text(json.dumps([asdict(m) for m in results], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
