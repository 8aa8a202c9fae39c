"""gc-estimate's payload sample reads through directory fds and never follows a symlink."""

from __future__ import annotations

import os
import shutil
import time

from sessdiag.analysis import gcprobe
from sessdiag.fixtures import FixtureSpec, make_tree


def test_sample_never_follows_a_shard_swapped_for_a_symlink(cli, tmp_path, monkeypatch):
    root = tmp_path / "store"
    now = int(time.time())
    make_tree(str(root), FixtureSpec.from_mapping({
        "profile": "beego-file", "sessions": 80, "seed": 5, "max_lifetime": 3600,
        "expired_fraction": 0.5, "empty_fraction": 1.0, "now": now}))
    outside = tmp_path / "outside"
    outside.mkdir()
    swapped: list[str] = []
    sampled: list[list[str]] = []
    real = gcprobe.run_probe

    def probe_then_swap(*args, **kw):
        # The census is done and its sample drawn; before the sample is decoded, every
        # shard directory is replaced by a symlink to a copy outside the store whose
        # "sessions" are garbage. Following a link would decode (and count) them.
        sampled.append(list(kw.get("sample_paths") or []))
        out = real(*args, **kw)
        for a in sorted(os.listdir(root)):
            for b in sorted(os.listdir(root / a)):
                shard = root / a / b
                copy = outside / f"{a}{b}"
                shutil.move(str(shard), str(copy))
                for name in os.listdir(copy):
                    (copy / name).write_bytes(b"\xde\xad not a gob")
                os.symlink(copy, shard)
                swapped.append(f"{a}/{b}")
        return out

    monkeypatch.setattr(gcprobe, "run_probe", probe_then_swap)
    res = cli("gc-estimate", str(root), "--json", "--max-lifetime", "1h", "--seed", "2",
              "--probe-ops", "50", "--no-unlink-probe")
    assert res.code == 0, res.err
    r = res.json()
    assert swapped and sampled and sampled[0], "the swap must happen after a sample was drawn"
    assert r["census"]["payloads_decoded"] == 0
    assert r["census"]["undecodable"] == 0
    assert not any("do not decode" in f for f in r["findings"])
