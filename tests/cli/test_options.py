"""cli.options: the lifetime every command resolves the same way (once, not three times)."""

from __future__ import annotations

import pytest

from sessdiag.cli.options import resolve_lifetime
from sessdiag.core.errors import UsageError


def test_flag_wins_over_app_conf(tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("sessiongcmaxlifetime = 7200\n")
    life = resolve_lifetime("30d", str(conf))
    assert (life.seconds, life.given, life.notes) == (2592000, True, [])
    life = resolve_lifetime(None, str(conf))
    assert (life.seconds, life.given) == (7200, True)


def test_default_is_beegos_hour_and_not_given():
    life = resolve_lifetime(None, None)
    assert (life.seconds, life.given, life.notes) == (3600, False, [])


def test_app_conf_without_the_key_notes_the_default(tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("appname = casdoor\n")
    life = resolve_lifetime(None, str(conf))
    assert life.seconds == 3600 and "sets no sessiongcmaxlifetime" in life.notes[0]


def test_required_lifetime_has_no_default(tmp_path):
    """prune deletes by it: a guessed lifetime is not safe."""
    with pytest.raises(UsageError, match="--max-age is required"):
        resolve_lifetime(None, None, required_flag="--max-age")
    conf = tmp_path / "app.conf"
    conf.write_text("appname = casdoor\n")
    with pytest.raises(UsageError, match="pass --max-age"):
        resolve_lifetime(None, str(conf), required_flag="--max-age")
