"""Every human view: numbers in one form, nothing cut at 80 columns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

RENDER = Path(__file__).resolve().parents[2] / "sessdiag" / "render"


@pytest.mark.parametrize("module", sorted(p.name for p in RENDER.glob("*.py")))
def test_views_format_shares_and_counts_through_core_units(module):
    """A bare '{x:.1%}' shows 19,999 of 20,000 as 100.0%; '{n / 1e3:.1f} k' a third form."""
    text = (RENDER / module).read_text()
    assert not re.search(r"\{[^{}]+:\.\d%\}", text), module
    assert not re.search(r"\d f?\} ?k\b|:\.\df\} k", text), module


# --- every view at 80 columns (the width of a pipe, a cron mail, an 80x24 terminal) ------

WIDTH = 80
NOW = 1_790_000_000


def _render(view, width: int = WIDTH) -> str:  # type: ignore[no-untyped-def]
    import io

    from rich.console import Console

    con = Console(file=io.StringIO(), width=width, highlight=False, color_system=None)
    con.print(view)
    return con.file.getvalue()  # type: ignore[attr-defined]


def _assert_nothing_cut(view, text: str) -> None:  # type: ignore[no-untyped-def]
    # rich marks every cell it cuts with "…"; views abbreviate some values on purpose
    # (session ids), which a 400-column rendering shows as well.
    wide = _render(view, 400)
    assert text.count("…") <= wide.count("…"), text
    assert all(len(line) <= WIDTH for line in text.splitlines())


@pytest.fixture
def file_store(tmp_path):  # type: ignore[no-untyped-def]
    from sessdiag.fixtures import FixtureSpec, make_tree

    root = tmp_path / "srv" / "casdoor" / "tmp"
    make_tree(str(root), FixtureSpec.from_mapping(dict(
        sessions=400, seed=5, now=NOW, max_lifetime="30d", expired_fraction=0.3,
        age_max="90d", zero_byte=2, undecodable=2, symlinks=1, foreign=2, misplaced=1)))
    return root


def test_redis_scan_view_fits_80_columns():
    from test_terminal_redis import _report  # the report with every Redis section

    from sessdiag.render.terminal import scan_view

    report = _report()
    text = _render(scan_view(report))
    _assert_nothing_cut(scan_view(report), text)
    for header in ("sessions", "memory", "expired", "never reused", "no TTL", "undecodable",
                   "lifetime", "shadow keys", "dead index entries"):
        assert header in text, header


def test_file_scan_view_fits_80_columns(cli, file_store):
    from sessdiag.render.terminal import scan_view

    report = cli("scan", file_store, "--json", "--now", NOW, "--max-lifetime", "30d").json()
    _assert_nothing_cut(scan_view(report), _render(scan_view(report)))


def test_clients_view_fits_80_columns(cli):
    from sessdiag.render.terminal_clients import clients_view

    log = Path(__file__).resolve().parents[2] / "fixtures" / "logs" / "php" / "access.log"
    report = cli("clients", "--access-log", log, "--json").json()
    _assert_nothing_cut(clients_view(report), _render(clients_view(report)))


def test_gc_and_prune_and_inspect_views_fit_80_columns(cli, file_store):
    from sessdiag.render.gc_view import gc_view
    from sessdiag.render.prune_view import prune_view
    from sessdiag.render.terminal import inspect_view

    gc = cli("gc-estimate", file_store, "--json", "--no-probe", "--max-lifetime", "30d").json()
    _assert_nothing_cut(gc_view(gc), _render(gc_view(gc)))
    pr = cli("prune", file_store, "--json", "--max-age", "30d").json()
    _assert_nothing_cut(prune_view(pr), _render(prune_view(pr)))
    tree = Path(__file__).resolve().parents[2] / "fixtures" / "beego-real" / "tree"
    ins = cli("inspect", tree, "2853d5c5fbe53ea4c9729910ca7755b0", "--json").json()
    _assert_nothing_cut(inspect_view(ins), _render(inspect_view(ins)))
