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
