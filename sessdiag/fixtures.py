"""Materialise realistic session trees from a spec, with their ground truth.

Git keeps no mtimes, so tests and demos build trees at run time. Every age is a whole
number of seconds plus one half, measured from an integer `now`: no session sits exactly
on the lifetime or on a histogram edge, so the expected counts are exact for that `now`.
The expected values are computed here from what was written, independently of the scanner.
"""

from __future__ import annotations

import os
import random
import time
from bisect import bisect_left
from dataclasses import dataclass, field, fields

import yaml

from sessdiag.census import DEFAULT_AGE_EDGES
from sessdiag.core.errors import UsageError
from sessdiag.core.units import parse_duration
from sessdiag.fixture_payloads import BEEGO_REAL_PAYLOADS, PHP_PAYLOADS

BEEGO_EMPTY = bytes.fromhex("0eff81040102ff820001100110000004ff820000")
HEX = "0123456789abcdef"
PHP_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # sid_bits_per_character=5 (Debian)


@dataclass
class FixtureSpec:
    profile: str = "beego-file"
    sessions: int = 1000
    seed: int = 0
    now: int | None = None
    max_lifetime: int = 3600
    expired_fraction: float = 0.0
    age_max: int | None = None
    empty_fraction: float = 0.9
    zero_byte: int = 0
    undecodable: int = 0
    payloads: list[str] = field(default_factory=lambda: sorted(BEEGO_REAL_PAYLOADS))
    symlinks: int = 0
    foreign: int = 0
    misplaced: int = 0
    fifos: int = 0
    php_depth: int = 0
    age_edges: list[int] = field(default_factory=lambda: list(DEFAULT_AGE_EDGES))

    @classmethod
    def from_mapping(cls, data: dict, source: str = "spec") -> FixtureSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"{source}: unknown fixture key(s): {', '.join(unknown)}")
        spec = cls(**{k: v for k, v in data.items() if k not in ("max_lifetime", "age_max")})
        if "max_lifetime" in data:
            spec.max_lifetime = parse_duration(data["max_lifetime"], flag="max_lifetime")
        if data.get("age_max") is not None:
            spec.age_max = parse_duration(data["age_max"], flag="age_max")
        spec.validate(source)
        return spec

    @classmethod
    def from_yaml(cls, path: str) -> FixtureSpec:
        return cls.from_node(compose_spec(path), path)

    @classmethod
    def from_node(cls, root: yaml.Node | None, path: str) -> FixtureSpec:
        """A composed YAML document -> spec; an unknown key is named with its line."""
        if root is None:
            return cls.from_mapping({}, path)
        if not isinstance(root, yaml.MappingNode):
            raise UsageError(f"{path}: a fixture spec is a mapping of keys to values")
        known = [f.name for f in fields(cls)]
        for knode, _ in root.value:
            if knode.value not in known:
                raise UsageError(f"{path}:{knode.start_mark.line + 1}: unknown fixture key "
                                 f"{knode.value!r} (known: {', '.join(known)})")
        return cls.from_mapping(yaml.safe_load(yaml.serialize(root)), path)

    def validate(self, source: str = "spec") -> None:
        if self.profile not in ("beego-file", "php-files"):
            raise UsageError(f"{source}: profile must be beego-file or php-files")
        for name in ("sessions", "zero_byte", "undecodable", "symlinks", "foreign", "misplaced",
                     "fifos", "php_depth"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise UsageError(f"{source}: {name} must be a non-negative integer")
        for name in ("expired_fraction", "empty_fraction"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0 <= v <= 1:
                raise UsageError(f"{source}: {name} must be between 0 and 1")
        if self.zero_byte + self.undecodable > self.sessions:
            raise UsageError(f"{source}: zero_byte + undecodable exceed sessions")
        if self.max_lifetime < 120:
            raise UsageError(f"{source}: max_lifetime must be at least 120 s")
        if self.profile == "beego-file":
            bad = [p for p in self.payloads if p not in BEEGO_REAL_PAYLOADS]
        else:
            bad = [p for p in self.payloads if p not in PHP_PAYLOADS]
            if self.payloads == sorted(BEEGO_REAL_PAYLOADS):
                self.payloads = sorted(PHP_PAYLOADS)
                bad = []
        if bad:
            raise UsageError(f"{source}: unknown payload(s) {', '.join(bad)}")


def compose_spec(path: str) -> yaml.Node | None:
    """The YAML document of a spec file, with line marks; errors name the file and line."""
    from sessdiag.core.textfile import read_text

    text = read_text(path)
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{path}{where}: not valid YAML ({problem})") from exc


def _sid(rnd: random.Random, profile: str) -> str:
    if profile == "beego-file":
        return f"{rnd.getrandbits(128):032x}"
    return "".join(rnd.choice(PHP_ALPHABET) for _ in range(26))


def _session_path(root: str, spec: FixtureSpec, sid: str) -> tuple[str, str]:
    if spec.profile == "beego-file":
        d = os.path.join(root, sid[0], sid[1])
        return d, os.path.join(d, sid)
    d = os.path.join(root, *sid[: spec.php_depth])
    return d, os.path.join(d, "sess_" + sid)


def _write(path: str, data: bytes, mtime: float) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if data:
            os.write(fd, data)
    finally:
        os.close(fd)
    os.utime(path, (mtime, mtime))


def make_tree(root: str, spec: FixtureSpec) -> dict:
    """Write the tree under root (created; must be empty) and return the expected report."""
    os.makedirs(root, exist_ok=True)
    if os.listdir(root):
        raise UsageError(f"{root} is not empty; fixtures are only written into an empty directory")
    rnd = random.Random(spec.seed)
    now = int(time.time()) if spec.now is None else int(spec.now)
    life = spec.max_lifetime
    age_max = spec.age_max or 2 * life
    if age_max <= life + 120:
        age_max = life + 3600
    edges = list(spec.age_edges)
    hist = [0] * (len(edges) + 1)
    exp = {"sessions": 0, "bytes": 0, "allocated_bytes": 0, "expired": 0, "empty": 0,
           "zero_byte": 0, "undecodable": 0}
    beego = spec.profile == "beego-file"
    if beego:
        for a in HEX:
            for b in HEX:
                os.makedirs(os.path.join(root, a, b), exist_ok=True)
    made_dirs: set[str] = set()

    n = spec.sessions
    n_expired = round(n * spec.expired_fraction)
    special = ["zero"] * spec.zero_byte + ["bad"] * spec.undecodable
    n_plain = n - len(special)
    n_empty = min(round(n * spec.empty_fraction), n_plain)
    kinds = special + ["empty"] * n_empty + ["data"] * (n_plain - n_empty)
    rnd.shuffle(kinds)
    expired_flags = [True] * n_expired + [False] * (n - n_expired)
    rnd.shuffle(expired_flags)
    if beego:
        payloads = [bytes.fromhex(BEEGO_REAL_PAYLOADS[p]) for p in spec.payloads]
        empty_payload = BEEGO_EMPTY
    else:
        payloads = [PHP_PAYLOADS[p] for p in spec.payloads]
        empty_payload = b""
    seen: set[str] = set()
    for i in range(n):
        sid = _sid(rnd, spec.profile)
        while sid in seen:
            sid = _sid(rnd, spec.profile)
        seen.add(sid)
        if expired_flags[i]:
            age = rnd.randrange(life + 60, age_max) + 0.5
        else:
            age = rnd.randrange(0, life - 60) + 0.5
        kind = kinds[i]
        if kind == "zero":
            data = b""
        elif kind == "empty":
            data = empty_payload
        elif kind == "bad":
            base = payloads[i % len(payloads)] if payloads else b"x|i:1;"
            data = base[: max(len(base) // 2, 21)] if beego else b"broken|s:99:\"x\";"
        else:
            data = payloads[i % len(payloads)]
        d, path = _session_path(root, spec, sid)
        if d not in made_dirs:
            os.makedirs(d, exist_ok=True)
            made_dirs.add(d)
        _write(path, data, now - age)
        exp["sessions"] += 1
        exp["bytes"] += len(data)
        exp["allocated_bytes"] += os.lstat(path).st_blocks * 512
        if age > life:
            exp["expired"] += 1
        if kind in ("zero", "empty"):
            exp["empty"] += 1
        if not data:
            exp["zero_byte"] += 1
        if kind == "bad":
            exp["undecodable"] += 1
        hist[bisect_left(edges, age)] += 1

    anomalies = {"symlinks": 0, "foreign": 0, "misplaced": 0}
    shard_dirs = sorted(made_dirs) or [root]
    for i in range(spec.symlinks):
        d = shard_dirs[i % len(shard_dirs)]
        target = "/" if i % 2 else f"/nonexistent-sessdiag-target/{i}"
        name = _sid(rnd, spec.profile)
        link = os.path.join(d, name if beego else "sess_" + name)
        os.symlink(target, link)
        # A link's own mtime is what beego's GC judges; set it like any other entry.
        t = now - rnd.randrange(0, age_max) - 0.5
        os.utime(link, (t, t), follow_symlinks=False)
        anomalies["symlinks"] += 1
    for i in range(spec.foreign):
        d = shard_dirs[i % len(shard_dirs)] if i % 2 else root
        name = ("README.txt", f".nfs{i:020x}", "notes.bak", "sess-old.tmp")[i % 4] + str(i)
        _write(os.path.join(d, name), b"not a session\n", now - rnd.randrange(0, age_max))
        anomalies["foreign"] += 1
    for i in range(spec.fifos):
        os.mkfifo(os.path.join(shard_dirs[i % len(shard_dirs)], f"fifo{i}"))
        anomalies["foreign"] += 1
    for _ in range(spec.misplaced):
        sid = _sid(rnd, spec.profile)
        wrong = sid
        if beego:
            # Same name, a shard that does not match its first characters.
            a = HEX[(HEX.index(sid[0]) + 1) % 16]
            d = os.path.join(root, a, sid[1])
        else:
            d = root if spec.php_depth else os.path.join(root, "misplaced")
            if not os.path.isdir(d):
                os.makedirs(d)
                anomalies["foreign"] += 1  # a directory off the layout is a foreign entry
            wrong = "sess_" + sid
        _write(os.path.join(d, wrong), empty_payload, now - 10.5)
        anomalies["misplaced"] += 1

    exp["now"] = now
    exp["max_lifetime_s"] = life
    exp["expired_fraction"] = round(exp["expired"] / n, 6) if n else 0.0
    exp["age_histogram"] = [{"upper_s": e, "count": c} for e, c in zip(edges, hist, strict=False)]
    exp["age_histogram"].append({"upper_s": None, "count": hist[-1]})
    exp["anomalies"] = anomalies
    exp["profile"] = spec.profile
    return exp
