"""One classifier: scan and a prune dry run of the same tree agree on every shared count.

As gdu's analyzer parity test, so that what sessdiag reports cannot depend on which
command looked. The tree holds every kind of entry classify.py knows.
"""

from __future__ import annotations

import json
import os
import stat

from sessdiag.fixtures import BEEGO_EMPTY
from sessdiag.stores.files.classify import SESSION, SHARD, WALK, Classifier
from sessdiag.stores.files.layout import beego_layout

SHARED_KINDS = ("symlinks", "foreign", "misplaced", "unreadable")
DETAILS = {"nfs_silly": "nfs_silly", "stage_leftovers": "stage_leftovers",
           "other_filesystem": "other_fs"}


def _only_sessions(root: str, shard: str) -> int | None:
    """Number of entries of ROOT/shard when all are sessions of it, else None."""
    d = os.path.join(root, shard)
    names = os.listdir(d)
    key = shard.replace("/", "")
    for n in names:
        st = os.lstat(os.path.join(d, n))
        if not stat.S_ISREG(st.st_mode) or not n.startswith(key) or len(n) != 32:
            return None
    return len(names)


def _write(path: str | bytes, data: bytes = b"x") -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, data)
    os.close(fd)


def test_scan_and_prune_dry_run_agree_on_every_kind(store, sessdiag_denied, deny):
    root, _expired, _fresh = store(sessions=300, foreign=4, symlinks=2, fifos=1, misplaced=2,
                                   zero_byte=2, undecodable=2)
    # A directory inside a shard: walked by beego's GC, so by both; nothing in it a session.
    zz = os.path.join(root, "c", "d", "zz")
    os.makedirs(os.path.join(zz, "deeper"))
    _write(os.path.join(zz, "cd" + "7" * 30), BEEGO_EMPTY)  # an id, misplaced
    _write(os.path.join(zz, "notes.txt"))
    os.symlink("/", os.path.join(zz, "l"))
    os.mkfifo(os.path.join(zz, "deeper", "fifo"))
    # A stray directory above the shards, with an unreadable directory in it.
    os.makedirs(os.path.join(root, "xy", "locked"))
    _write(os.path.join(root, "xy", "readme"))
    # A name that is not UTF-8, an NFS silly-rename, a killed prune's staged session.
    _write(os.fsencode(root) + b"/a/b/\xff\xfebad")
    _write(os.path.join(root, "a", "b", ".nfs00000000deadbeef00000001"))
    _write(os.path.join(root, "a", "b", ".sessdiag-0123abcd-ab" + "5" * 30), BEEGO_EMPTY)
    # An unreadable shard (holding sessions only, so the expected counts are known).
    shard = next(s for s in (f"{a}/{b}" for a in "fedcba" for b in "fedcba")
                 if _only_sessions(root, s) is not None)
    hidden = _only_sessions(root, shard)
    assert hidden is not None
    deny(os.path.join(root, shard))
    deny(os.path.join(root, "xy", "locked"))

    scan = sessdiag_denied("scan", root, "--json", "--deep", "--max-lifetime", "1h",
                           "--no-progress", "--jobs", "2", "--workers", "processes")
    prune = sessdiag_denied("prune", root, "--json", "--max-age", "1h", "--grace", "0",
                            "--no-process-check", "--jobs", "3", "--workers", "threads")
    assert scan.returncode == 0, scan.stderr
    assert prune.returncode == 1, prune.stderr  # unreadable parts: exit 1, as a warning says
    s, p = json.loads(scan.stdout), json.loads(prune.stdout)

    assert s["sessions"] == p["sessions"] == 300 - hidden
    assert s["expired"] == p["expired"]
    assert s["bytes"] == p["session_bytes"]
    assert s["gc_estimate"]["dirs"] == p["dirs"]
    for kind in SHARED_KINDS:
        assert s["anomalies"][kind] == p["anomalies"][kind], kind
    for s_key, p_key in DETAILS.items():
        assert s["other_anomalies"][s_key] == p["anomalies"][p_key], s_key
    # The same classification, entry by entry, wherever the examples hold them all.
    for kind in (*SHARED_KINDS, "nfs_silly", "stage_leftovers"):
        n = p["anomalies"][kind]
        if n <= 5:
            assert sorted(s["anomaly_examples"].get(kind, [])) == \
                sorted(p["anomaly_examples"].get(kind, [])), kind

    # And the counts are the tree's, not two equal mistakes.
    assert s["anomalies"]["symlinks"] == 2 + 1
    assert s["anomalies"]["misplaced"] == 2 + 1
    assert s["anomalies"]["unreadable"] == 2
    # fixture: 4 stray files + 1 FIFO; zz, notes.txt, deeper, its FIFO; xy, readme, locked;
    # the non-UTF-8 name, the .nfs file, the staged session
    assert s["anomalies"]["foreign"] == 5 + 4 + 3 + 3
    assert s["other_anomalies"]["nfs_silly"] == 1 + 1 and s["other_anomalies"][
        "stage_leftovers"] == 1
    assert s["anomalies"]["zero_byte"] + s["anomalies"]["undecodable"] >= 1  # sessions too


def test_classifier_outcomes():
    st_dir = os.stat("/")
    clf = Classifier(beego_layout(), st_dir.st_dev)
    assert clf.shard_key("a/b") == "ab" and clf.shard_key("a") is None
    assert clf.shard_key("a/bc") is None and clf.shard_key("a/b/c") is None
    assert clf.entry("a", st_dir, "", None) == (SHARD, None)
    assert clf.entry("b", st_dir, "a", None) == (SHARD, None)
    assert clf.entry("zz", st_dir, "a", None) == (WALK, None)
    assert clf.entry("c", st_dir, "a/b", "ab") == (WALK, None)  # below the sessions
    other = os.stat_result((stat.S_IFDIR | 0o755, 1, st_dir.st_dev + 1, 2, 0, 0, 0, 0, 0, 0))
    assert clf.entry("c", other, "a", None) == ("foreign", "other_fs")


def test_classifier_files(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"")
    reg = os.lstat(f)
    os.symlink("/", tmp_path / "l")
    lnk = os.lstat(tmp_path / "l")
    os.mkfifo(tmp_path / "p")
    fifo = os.lstat(tmp_path / "p")
    clf = Classifier(beego_layout(), reg.st_dev)
    sid = "ab" + "0" * 30
    assert clf.entry(sid, reg, "a/b", "ab") == (SESSION, None)
    assert clf.entry(sid, reg, "a/c", "ac") == ("misplaced", None)
    assert clf.entry(sid, reg, "a", None) == ("misplaced", None)
    assert clf.entry(sid, lnk, "a/b", "ab") == ("symlinks", None)
    assert clf.entry(sid, fifo, "a/b", "ab") == ("foreign", None)
    assert clf.example("foreign", "a/b/p", fifo) == "a/b/p (fifo)"
    assert clf.entry(".nfs123", reg, "a/b", "ab") == ("foreign", "nfs_silly")
    assert clf.entry(".sessdiag-0123abcd-" + sid, reg, "a/b", "ab") == \
        ("foreign", "stage_leftovers")
    assert clf.entry(".sessdiag-0123abcd-" + sid, reg, "a/c", "ac") == ("foreign", None)
    assert clf.entry("README", reg, "", None) == ("foreign", None)
    mounted = Classifier(beego_layout(), reg.st_dev, frozenset({"a/b/" + sid}))
    assert mounted.entry(sid, reg, "a/b", "ab") == ("foreign", "other_fs")
