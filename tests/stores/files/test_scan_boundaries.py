"""The exact second of expiry and the exact edge of an age bucket, in a real file store.

beego's GC deletes a session when `mtime.Unix() + maxlifetime < now.Unix()`: a file exactly
`maxlifetime` old is still alive, one a second (or half a second, truncated) older is not.
An age histogram bucket holds ages up to and including its upper edge. Each case here sits
on the boundary or one step off it, so moving either rule by one second or one edge shows.
"""

from __future__ import annotations

import os
from pathlib import Path

from sessdiag.stores.files.scan import scan_file_store

NOW = 1_750_000_000  # a whole second, as the scan's own clock is read
EMPTY = bytes.fromhex("0eff81040102ff820001100110000004ff820000")  # beego's empty session


def write_sessions(root: Path, mtimes_ns: list[int]) -> None:
    for i, mt in enumerate(mtimes_ns):
        sid = f"{i:02x}" + "a" * 30
        d = root / sid[0] / sid[1]
        d.mkdir(parents=True, exist_ok=True)
        p = d / sid
        p.write_bytes(EMPTY)
        os.utime(p, ns=(mt, mt))


def scan(root: Path, life: int, edges: tuple[int, ...]):  # type: ignore[no-untyped-def]
    return scan_file_store(str(root), profile="beego-file", max_lifetime=life,
                           age_edges=edges, now=float(NOW), jobs=1, worker_model="threads")


def test_expiry_is_exact_to_the_second(tmp_path: Path) -> None:
    life = 3600
    cut = NOW - life
    s = 10**9
    write_sessions(tmp_path, [
        (cut - 1) * s,  # expired: mtime + life < now
        cut * s - s // 2,  # expired: Unix() truncates it to cut - 1
        cut * s,  # mtime + life == now: alive
        cut * s + s // 2,  # alive
        (cut + 1) * s,  # alive
    ])
    c = scan(tmp_path, life, (60, 86400)).census
    assert c.sessions == 5
    assert c.expired == 2


def test_an_age_on_a_bucket_edge_is_in_that_bucket(tmp_path: Path) -> None:
    s = 10**9
    ages = [0, 3600, 3601, 86400, 86401]
    write_sessions(tmp_path, [(NOW - a) * s for a in ages])
    c = scan(tmp_path, 10 * 86400, (3600, 86400)).census
    # (.., 3600] holds 0 and 3600; (3600, 86400] holds 3601 and 86400; the rest 86401.
    assert list(c.hist) == [2, 2, 1]
    assert c.future == 0  # an mtime equal to now is not in the future
