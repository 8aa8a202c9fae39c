"""The fixture materialiser: deterministic for a seed, validating its spec."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sessdiag.core.errors import UsageError
from sessdiag.fixtures import FixtureSpec, make_tree

NOW = 1_790_000_000
REPO = Path(__file__).resolve().parents[1]


def _listing(root) -> list[tuple[str, int, int, bytes]]:
    out = []
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            st = os.lstat(p)
            regular = os.path.isfile(p) and not os.path.islink(p)
            data = Path(p).read_bytes() if regular else b""
            out.append((os.path.relpath(p, root), st.st_mtime_ns, st.st_size, data))
    return sorted(out)


def test_same_seed_same_tree(tmp_path):
    spec = dict(sessions=300, seed=9, now=NOW, max_lifetime="1d", expired_fraction=0.5,
                foreign=2, symlinks=2, misplaced=1, zero_byte=3, undecodable=2)
    a = make_tree(str(tmp_path / "a"), FixtureSpec.from_mapping(spec))
    b = make_tree(str(tmp_path / "b"), FixtureSpec.from_mapping(spec))
    assert a == b
    assert _listing(tmp_path / "a") == _listing(tmp_path / "b")
    c = make_tree(str(tmp_path / "c"), FixtureSpec.from_mapping(dict(spec, seed=10)))
    assert _listing(tmp_path / "c") != _listing(tmp_path / "a")
    assert c["sessions"] == a["sessions"]


def test_counts_follow_the_spec(tmp_path):
    exp = make_tree(str(tmp_path / "t"), FixtureSpec.from_mapping(dict(
        sessions=1000, seed=1, now=NOW, max_lifetime="30d", expired_fraction=0.25,
        empty_fraction=0.6, zero_byte=5)))
    assert exp["sessions"] == 1000
    assert exp["expired"] == 250
    assert exp["empty"] == 600 + 5 or exp["empty"] == 600
    assert exp["zero_byte"] == 5
    assert sum(b["count"] for b in exp["age_histogram"]) == 1000


def test_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("precious")
    with pytest.raises(UsageError, match="not empty"):
        make_tree(str(tmp_path / "x"), FixtureSpec())
    assert (tmp_path / "x" / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize(
    ("data", "needle"),
    [({"sessions": -1}, "non-negative"), ({"empty_fraction": 2}, "between 0 and 1"),
     ({"colour": "red"}, "unknown fixture key"), ({"profile": "django"}, "profile"),
     ({"payloads": ["nope"]}, "unknown payload"), ({"max_lifetime": "soon"}, "not a duration")],
)
def test_bad_specs(data, needle):
    with pytest.raises(UsageError, match=needle):
        FixtureSpec.from_mapping(data)


def test_cli_spec_and_flag_override(cli, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("profile: beego-file\nsessions: 50\nseed: 3\nmax_lifetime: 1h\n")
    res = cli("fixtures", "make", tmp_path / "t", "--spec", spec, "--sessions", "80", "--json",
              "--now", NOW)
    assert res.code == 0, res.err
    assert res.json()["sessions"] == 80
    res = cli("fixtures", "make", tmp_path / "t", "--spec", spec)
    assert res.code == 2 and "not empty" in res.err
    bad = tmp_path / "bad.yaml"
    bad.write_text("sessions: [1, 2\n")
    res = cli("fixtures", "make", tmp_path / "u", "--spec", bad)
    assert res.code == 2 and "not valid YAML" in res.err


@pytest.mark.parametrize("name", ["casdoor-incident", "healthy-app", "php-sessions"])
def test_shipped_specs_materialise_and_scan_exactly(cli, tmp_path, name):
    res = cli("fixtures", "make", tmp_path / "t", "--spec", REPO / "fixtures" / f"{name}.yaml",
              "--json", "--now", NOW)
    assert res.code == 0, res.err
    exp = res.json()
    r = cli("scan", tmp_path / "t", "--json", "--now", NOW, "--max-lifetime",
            exp["max_lifetime_s"]).json()
    for key in ("sessions", "bytes", "expired", "empty", "age_histogram"):
        assert r[key] == exp[key], key


def test_a_spec_that_is_not_utf8_is_bad_input_naming_the_file(cli, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(b"sessions: 10\n# caf\xe9\n")
    res = cli("fixtures", "make", tmp_path / "out", "--spec", spec)
    assert res.code == 2 and f"{spec}:2: not UTF-8 text" in res.err
