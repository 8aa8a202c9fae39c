"""The live Redis analysis, fed from a dump: records answer the scanner's own commands.

`sessdiag.stores.redis.scanner.NodeScanner` classifies each key by name, plans the read-only
commands that key needs (PTTL, HGETALL, GETRANGE, SCARD, MEMORY USAGE…) and turns the replies
into group facts. `DumpScanner` is that same scanner with the medium swapped: it plans each
key as it comes out of the dump (the plan decides how much of the value the parser decodes),
answers every command from the record in hand — TTL from the absolute expiry and the dump's
`as_of`, sizes from the lengths, memory from an estimate — and hands the replies to the same
handlers. So classification, census, groups, samples and examples are the live scan's code.

Cross-key questions (does the session of this shadow key exist? is this index member's session
alive?) are answered when the dump has been read, from the session keys seen. To keep memory
flat they are tracked by a 64-bit hash, and past `TRACK_LIMIT` tracked keys by a hash sample
that halves as needed (the report says so): checks then cover that share of the keys. The
sample is drawn on the hash's low 32 bits, a CRC-32 of the key name, so the same dump gives
the same sampled counts in every run (Python's own hash of bytes is seeded per process); the
high 32 bits, from that hash, make a collision between two names a 1-in-2^64 event.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Callable
from typing import Any

from sessdiag.stores.rdb import fast, memory
from sessdiag.stores.rdb.errors import RdbCorrupt
from sessdiag.stores.rdb.parser import (
    _I64,
    COUNT,
    DONE,
    FULL,
    HEAD,
    HEAD_BYTES,
    OP_EXPIRETIME_MS,
    SKIP,
    SNIFF,
    SNIFF_BYTES,
    SOME,
    TYPES,
    Parser,
    Record,
)
from sessdiag.stores.rdb.reader import Reader
from sessdiag.stores.rdb.replies import WRONGTYPE, reply
from sessdiag.stores.redis import profiles as P
from sessdiag.stores.redis.census import GroupAgg
from sessdiag.stores.redis.ratelimit import RateLimiter
from sessdiag.stores.redis.scanner import (
    GENERIC,
    GETRANGE,
    SNIFF_1,
    VALUE_FACTS_BYTES,
    ZERO,
    NodeScanner,
    ScanParams,
    _example,
    _prefix,
    _sniff_profile,
)

TRACK_LIMIT = 1 << 18
crc32 = zlib.crc32


def track_hash(key: bytes) -> int:
    """A tracked key name's 64-bit hash: its sample bits (the low ones) are the same in every
    run."""
    return ((hash(key) & 0xFFFFFFFF) << 32) | crc32(key)
ENTRIES_CAP = 10_000  # classifications want() remembers (a hostile dump may name a namespace a key)
CORRUPT_REASONS = 100  # distinct reasons kept for the warning; the rest counted together
# How much of the value each key kind needs (by the commands its plan holds).
_WANT = {P.SPRING: FULL, P.STRING: HEAD, P.EXPIRATIONS: COUNT, P.INDEX: FULL,
         P.SPRING_ZSET: COUNT, P.SHADOW: SKIP, P.SPRING_OTHER: SKIP, GENERIC: HEAD,
         P.UNKNOWN: SNIFF}
# The fields of a Spring session hash the scan reads from every session; the other values
# count by their length only, except in the decoded sample (or with --deep).
SPRING_FIELDS = frozenset({b"creationTime", b"lastAccessedTime", b"maxInactiveInterval",
                           P.PRINCIPAL_ATTR})
_SESSION_KINDS = (P.SPRING, P.STRING, GENERIC, P.UNKNOWN)
# The kinds record() answers without a command plan (most keys of a dump are one of these).
_DIRECT = frozenset({P.SPRING, P.SHADOW, P.STRING, P.UNKNOWN})
_PLANNED = object()  # an _entry for the kinds that keep the command plan
_SPRING_KIND, _SHADOW_KIND, _UNKNOWN_KIND = P.SPRING, P.SHADOW, P.UNKNOWN  # (want(): per key)
spring_jdk, skip_string, head, skip_value, string = (
    fast.spring_jdk, fast.skip_string, fast.head, fast.skip_value, fast.string)


class _Medium:
    """What NodeScanner knows of its connection: where it is."""

    def __init__(self, location: str) -> None:
        self.location = location


class DumpScanner(NodeScanner):
    def __init__(self, location: str, params: ScanParams, as_of_ms: int,
                 idle_offset_s: int = 0, keep_index: bool = True) -> None:
        super().__init__(_Medium(location), params, RateLimiter(None))  # type: ignore[arg-type]
        self.inline_exists = False
        self.as_of_ms = as_of_ms
        self.idle_offset_s = idle_offset_s
        self.db: int | None = None
        self.other_dbs: dict[int, int] = {}
        self.expired_keys = 0
        self.corrupt: dict[str, int] = {}
        # hash<<24 | min(bytes, 2^24-1) of each session key: 8 bytes a session, kept only
        # when access-log lookups follow (None otherwise: memory flat as the dump grows)
        self.lookup_index: array | None = array("Q") if keep_index else None
        self._cmds: list[tuple] = []
        # The direct path (want/record without a plan) serves the plain scan; --profile and
        # --pattern change the classification, so they keep the command plan.
        self._direct_ok = not params.profile and not params.pattern
        self._entries: dict[tuple[int, str, str], Any] = {}  # classify() -> _entry()
        # a session (shadow) key's namespace -> _entry()
        self._session_ns: dict[bytes, Any] = {}
        self._shadow_ns: dict[bytes, Any] = {}
        self._e: list | None = None  # this key's entry; None: it goes through the plan
        self._mem = False  # this key takes a MEMORY USAGE estimate
        self._plan: list[tuple] = []
        self._rec: Record | None = None
        # The parser's reader and record (bind): want() reads the common values itself
        self._r: Reader | None = None
        self._prec: Record | None = None
        self._last: tuple[GroupAgg, int, int] | None = None  # group, sessions, expired
        self._jdk = True  # Spring hashes are tried with fast.spring_jdk (see _jdk_missed)
        self._jdk_misses = 0
        # cross-key checks: sampled hashes of session-key names seen, and checks waiting
        self.sample_shift = 0
        self._mask = 0  # (1 << sample_shift) - 1
        self._deep, self._sample = params.deep, params.sample
        self.seen: set[int] = set()
        # (hash, callback, None), or (hash, group, shadow key) for a shadow key's session
        self.pending: list[tuple[int, Any, bytes | None]] = []

    def bind(self, parser: Parser) -> None:
        """Read through this parser: want() then takes the common values (a Spring hash
        past the decoded sample, …) straight from its buffer and answers DONE."""
        self._r = parser.r
        self._prec = parser.rec

    def fast_reader(self) -> Callable[[int], int] | None:
        """run_fast, for the parser bound (bind) to a plain scan (no --profile, --pattern)."""
        return self.run_fast if self._r is not None and self._direct_ok else None

    def run_fast(self, db: int) -> int:
        """Parser.run's loop over a run of records that want() would read itself and answer
        DONE, from the bytes in the reader's buffer: no call to want() and no Record per key
        (the parser calls this before each record it reads, once the dump's clock is set).
        Stops before the first byte of a record it does not read that way (an opcode other
        than a millisecond expiry, a key name of 16 KB or more, a key of a kind that keeps
        the plan, one that takes a memory estimate or is in a decoded sample, a value that is
        not in the plain shape or runs past the buffer): the parser reads that one, through
        want(). Returns the keys read (test_fast holds the reports to the want() path's)."""
        if db != self.db:
            return 0
        r = self._r
        rec = self._prec
        assert r is not None and rec is not None
        buf = r.buf
        n = len(buf)
        pos = start = r.pos
        count = 0
        session_ns, shadow_ns, entries = self._session_ns, self._shadow_ns, self._entries
        mem_ok = self.mem_ok
        deep, sample, jdk = self._deep, self._sample, self._jdk
        while pos + 10 < n:
            # the parser's inline opcode, expiry, type and short key
            t = buf[pos]
            if t == OP_EXPIRETIME_MS:
                e = _I64(buf, pos + 1)[0]
                t = buf[pos + 9]
                pos += 10
            else:
                e = -1
                pos += 1
            kl = buf[pos]
            if kl < 0x40:
                ks = pos + 1
            elif kl < 0x80:  # (a 14-bit length: `<ns>:sessions:expires:<uuid>`, say)
                ks = pos + 2
                kl = ((kl & 0x3F) << 8) | buf[pos + 1]
            else:
                break
            end = ks + kl
            if t >= 26 or end > n:
                break
            key = buf[ks:end]
            pos = end
            # want()'s classification
            j = key.rfind(b":sessions:")
            ent = None
            if j > 0:
                rest = key[j + 10:]
                if rest and rest.find(b":") < 0:
                    if rest != b"expirations":
                        nsb = key[:j]
                        ent = session_ns.get(nsb)
                        if ent is None:
                            ent = self._by_ns(session_ns, nsb, key)
                elif rest.startswith(b"expires:") and len(rest) > 8 and rest.find(b":", 8) < 0:
                    # (key.rfind(b":sessions:expires:") is j: a later one would hold the
                    # ":sessions:" found last; an earlier one's id would hold a ':')
                    nsb = key[:j]
                    ent = shadow_ns.get(nsb)
                    if ent is None:
                        ent = self._by_ns(shadow_ns, nsb, key)
            if ent is None:
                c = P.classify(key)
                ent = entries.get(c)
                if ent is None:
                    ent = self._classified(c)
            if ent is _PLANNED or (mem_ok and not ent[3]):
                break  # the plan, or a memory estimate to take: want()'s
            kind = ent[0]
            # want()'s fast reads (a value they do not read: the parser's, through want()),
            # then its handlers (the record's expiry where they read it)
            if kind == _SPRING_KIND:
                g = ent[1]
                if t != 4 or not jdk or deep or g.decoded + g.undecodable < sample:
                    break
                try:
                    x = spring_jdk(buf, pos)
                except fast.SHORT:
                    break
                if x is None:
                    break
                end = x[0]
                rec.expire_ms = e
                h = ((hash(key) & 0xFFFFFFFF) << 32) | crc32(key)  # self._track(key), inline
                if not h & self._mask:
                    seen = self.seen
                    seen.add(h)
                    if len(seen) + len(self.pending) > TRACK_LIMIT:
                        self._bound()
                self._spring(key, g, x, True)
            elif kind == _SHADOW_KIND:
                if t != 0:
                    break
                try:
                    end = skip_string(buf, pos)
                except fast.SHORT:
                    break
                if not 0 <= end <= n:
                    break
                rec.expire_ms = e
                self._shadow(key, ent[1], ent[5], ent[6])
            elif kind == _UNKNOWN_KIND:
                try:
                    if t == 0:
                        x = head(buf, pos, SNIFF_BYTES)
                        if x is None or _sniff_profile(key, x[1]) is not None:
                            break
                        end = x[0]
                    else:
                        end = skip_value(buf, pos, t)
                        if end < 0:
                            break
                except fast.SHORT:
                    break
                rec.expire_ms = e
                self._unknown(key, t)
            else:  # STRING
                if t != 0:
                    break
                try:
                    x = string(buf, pos, HEAD_BYTES - 1)
                except fast.SHORT:
                    break
                if x is None:
                    break
                end = x[0]
                rec.expire_ms = e
                self._string(key, ent[1], x[1])
            count += 1
            pos = start = end
        rec.expire_ms = -1
        r.pos = start
        if count:
            self._seen(count)
        return count

    def _seen(self, n: int) -> None:
        """n more keys read by want() or run_fast (progress told every 10,000; the handlers
        they call leave the count to them)."""
        res = self.res
        before = res.keys_seen
        res.keys_seen = before + n
        if self.progress is not None:
            for _ in range((before + n) // 10000 - before // 10000):
                self.progress(10000)

    # -- the parser's two callbacks ----------------------------------------------------------
    def want(self, db: int, key: bytes, rtype: int) -> int:
        if db != self.db:
            if self.db is None:
                self.db = db  # the first database of the dump (Redis writes them in order)
            else:
                self.other_dbs[db] = self.other_dbs.get(db, 0) + 1
                return SKIP
        if not self._direct_ok:
            return self._want_planned(key, rtype)
        # The common kinds skip the command plan: record() hands their replies straight to
        # the live handlers (plan() as the reference; the parity tests hold them together).
        # A Spring session or shadow key named the common way (`<ns>:sessions:<id>`,
        # `<ns>:sessions:expires:<id>`, an id without ':': what classify() tests first) is
        # classified by its namespace alone, one lookup per namespace.
        j = key.rfind(b":sessions:")
        e = None
        if j > 0:
            rest = key[j + 10:]
            if rest and rest.find(b":") < 0:
                if rest != b"expirations":
                    nsb = key[:j]
                    e = self._session_ns.get(nsb)
                    if e is None:
                        e = self._by_ns(self._session_ns, nsb, key)
            elif rest.startswith(b"expires:") and len(rest) > 8 and rest.find(b":", 8) < 0:
                # (key.rfind(b":sessions:expires:") is j: a later one would hold the
                # ":sessions:" found last; an earlier one's id would hold a ':')
                nsb = key[:j]
                e = self._shadow_ns.get(nsb)
                if e is None:
                    e = self._by_ns(self._shadow_ns, nsb, key)
        if e is None:
            c = P.classify(key)
            e = self._entries.get(c)
            if e is None:
                e = self._classified(c)
        if e is _PLANNED:
            self._e = None
            return self._want_planned(key, rtype)
        self._e = e
        kind = e[0]
        if kind == _UNKNOWN_KIND:
            self._mem = False
            r = self._r
            if r is not None:
                try:
                    if rtype == 0:
                        x = fast.head(r.buf, r.pos, SNIFF_BYTES)
                        # a string no fingerprint names, from its head: the general path
                        # reads it when its value names a framework
                        if x is not None and _sniff_profile(key, x[1]) is None:
                            r.pos = x[0]
                            self._seen(1)
                            self._unknown(key, 0)
                            return DONE
                    else:
                        end = fast.skip_value(r.buf, r.pos, rtype)
                        if end >= 0:
                            r.pos = end
                            self._seen(1)
                            self._unknown(key, rtype)
                            return DONE
                except fast.SHORT:
                    pass
            return SNIFF if rtype == 0 else SKIP
        # plan()'s MEMORY USAGE quota per (profile, namespace, what); e[3]: known full
        self._mem = False
        if self.mem_ok and not e[3]:
            mk = e[2]
            taken = self.mem_taken.get(mk, 0)
            if self.p.deep or taken < max(self.p.sample, 1):
                self.mem_taken[mk] = taken + 1
                self._mem = True
            else:
                e[3] = True
        if kind == _SPRING_KIND:
            h = ((hash(key) & 0xFFFFFFFF) << 32) | crc32(key)  # self._track(key), inline
            if not h & self._mask:
                seen = self.seen
                seen.add(h)
                if len(seen) + len(self.pending) > TRACK_LIMIT:
                    self._bound()
            g = e[1]
            if not self._deep and g.decoded + g.undecodable >= self._sample:
                # past the decoded sample: only the fields every session needs
                r = self._r
                if rtype == 4 and not self._mem and r is not None:
                    jdk = self._jdk
                    try:
                        # the time fields' numbers when they hold the common JDK values
                        x = spring_jdk(r.buf, r.pos) if jdk else None
                        if x is None:
                            if jdk:
                                self._jdk_missed()
                            jdk = False
                            x = fast.spring_hash(r.buf, r.pos)
                    except fast.SHORT:  # it goes on past the buffer
                        x = None
                    if x is not None:
                        r.pos = x[0]
                        self._seen(1)
                        self._spring(key, g, x, jdk)
                        return DONE
                return SOME
            return FULL
        r = self._r
        if kind == _SHADOW_KIND:
            if rtype == 0 and not self._mem and r is not None:
                try:
                    end = fast.skip_string(r.buf, r.pos)
                except fast.SHORT:
                    end = -1
                if 0 <= end <= len(r.buf):
                    r.pos = end
                    self._seen(1)
                    self._shadow(key, e[1], e[5], e[6])
                    return DONE
            return SKIP
        if rtype != 0:
            return SKIP  # STRING: GETRANGE of a non-string is WRONGTYPE
        if not self._mem and r is not None:
            try:
                x = fast.string(r.buf, r.pos, HEAD_BYTES - 1)  # (not one to measure)
            except fast.SHORT:
                x = None
            if x is not None:
                r.pos = x[0]
                self._seen(1)
                self._string(key, e[1], x[1])
                return DONE
        return HEAD

    def _jdk_missed(self) -> None:
        """fast.spring_jdk did not read a Spring hash: past 1,000 such hashes, more than half
        of the sessions counted so far, the dump's sessions are not in the JDK form (JSON,
        say) and are read by fast.spring_hash alone."""
        self._jdk_misses += 1
        if self._jdk_misses % 1000 == 0:
            sessions = sum(g.sessions for g in self.res.groups.values())
            if 2 * self._jdk_misses > sessions:
                self._jdk = False

    def _shadow(self, key: bytes, g: GroupAgg, prefix: bytes, at: int) -> None:
        """record() and on_shadow for a shadow key whose value fast.skip_string walked (its
        session is prefix + key[at:]: `<ns>:sessions:`, the id after `:sessions:expires:`)."""
        rec = self._prec
        assert rec is not None
        e = rec.expire_ms
        if 0 <= e <= self.as_of_ms:
            self.expired_keys += 1
        g.shadow += 1
        if e < 0:
            g.shadow_no_ttl += 1
        sk = prefix + key[at:]
        h = ((hash(sk) & 0xFFFFFFFF) << 32) | crc32(sk)  # track_hash(sk), inline
        if h & self._mask:
            return  # outside the sample: not checked
        if h in self.seen:
            g.shadow_checked += 1
            return
        pending = self.pending
        pending.append((h, g, key))
        if len(self.seen) + len(pending) > TRACK_LIMIT:
            self._bound()

    def _string(self, key: bytes, g: GroupAgg, v: bytes) -> None:
        """record() for a string session whose value fast.string read (no memory estimate)."""
        rec = self._rec = self._prec
        assert rec is not None
        e = rec.expire_ms
        expired = 0 <= e <= self.as_of_ms
        if expired:
            self.expired_keys += 1
        expired_before = g.expired
        pttl = -1 if e < 0 else e - self.as_of_ms if e > self.as_of_ms else 0
        prof = g.profile
        facts = self.value_facts.get((prof, v)) if len(v) <= VALUE_FACTS_BYTES else None
        if facts is None or facts[1] is None or self._deep \
                or g.decoded + g.undecodable < self._sample \
                or (facts[0] == "json" and prof == "connect-redis"):
            # (nothing deferred: a value read here is shorter than one the scan would measure)
            NodeScanner.string_session(self, g, key, prof, pttl, v)
        else:
            # string_session for a short value whose format and emptiness it remembers, past
            # the decoded sample (no decode, no principal; test_fast holds it to the general
            # path)
            fmt, empty = facts
            g.sessions += 1
            g.bytes += len(v)
            formats = g.formats
            formats[fmt] = formats.get(fmt, 0) + 1
            if empty:
                g.empty += 1
                g.orphans += 1
            if pttl >= 0:  # (self.ttl_age -> infer_from_ttl)
                g.add_ttl_inferring(pttl, bool(empty))
            else:
                g.add_ttl(pttl)
                self.ttl_age(g, key, pttl, bool(empty))
        if expired and g.expired == expired_before:
            g.expired += 1
            _example(g, "expired", key)
        index = self.lookup_index
        if index is not None and len(index) < 100_000_000:
            index.append(((hash(key) & 0xFFFFFFFFFF) << 24) | len(v))  # (< HEAD_BYTES)

    def _unknown(self, key: bytes, rtype: int) -> None:
        """record() for a key no fingerprint names whose value want() walked (a string's
        head named no framework either)."""
        res = self.res
        rec = self._prec
        assert rec is not None
        e = rec.expire_ms
        if 0 <= e <= self.as_of_ms:
            self.expired_keys += 1
        # self.other(key, type), inline
        res.other_keys += 1
        by_type = res.other_by_type
        t = TYPES[rtype][0]
        by_type[t] = by_type.get(t, 0) + 1
        i = key.find(b":")
        pre = _prefix(key[:i]) if i > 0 else "(no prefix)"
        prefixes = res.other_prefixes
        if pre in prefixes or len(prefixes) < 1000:
            prefixes[pre] = prefixes.get(pre, 0) + 1

    def _spring(self, key: bytes, g: GroupAgg, x: fast.SpringFacts | fast.JdkFacts,
                jdk: bool) -> None:
        """record() for a Spring hash read by fast.spring_jdk (jdk: its time fields'
        numbers) or fast.spring_hash (their values) (no memory estimate, no decode: past
        both samples)."""
        rec = self._rec = self._prec
        assert rec is not None
        e = rec.expire_ms
        expired = 0 <= e <= self.as_of_ms
        if expired:
            self.expired_keys += 1
        _, cv, lv, mv, pv, nbytes, empty = x
        if cv is None and lv is None and mv is None:
            self.other(key, "hash")
            return
        expired_before = g.expired
        # (NodeScanner's: the override only notes the group for record(), which this key,
        # handled in want(), never reaches)
        ttl = -1 if e < 0 else e - self.as_of_ms if e > self.as_of_ms else 0
        if jdk:
            NodeScanner.spring_numbers(self, g, key, ttl, cv, lv, mv,  # type: ignore[arg-type]
                                       "json" if cv is None else "jdk", nbytes, empty, pv)
        else:
            NodeScanner.spring_session(self, g, key, ttl, cv, lv, mv, nbytes, empty, pv)
        if expired and g.expired == expired_before:
            g.expired += 1
            _example(g, "expired", key)
        index = self.lookup_index
        if index is not None and len(index) < 100_000_000:
            index.append(((hash(key) & 0xFFFFFFFFFF) << 24)
                         | (nbytes if nbytes < 0xFFFFFF else 0xFFFFFF))

    def _by_ns(self, memo: dict[bytes, Any], nsb: bytes, key: bytes) -> Any:
        e = memo.get(nsb)
        if e is None:
            e = self._classified(P.classify(key))
            if len(memo) < ENTRIES_CAP:
                memo[nsb] = e
        return e

    def _classified(self, c: tuple[int, str, str]) -> Any:
        e = self._entries.get(c)
        if e is None:
            e = self._entry(c)
            if len(self._entries) < ENTRIES_CAP:
                self._entries[c] = e
        return e

    def _entry(self, c: tuple[int, str, str]) -> list | object:
        """What want() keeps per classification: [kind, group, memory quota key, quota
        full, namespace bytes, its session keys' prefix, where a shadow key's session id
        starts], or _PLANNED for the kinds that go through the command plan."""
        kind, prof, ns = c
        if kind not in _DIRECT:
            return _PLANNED
        if kind == P.UNKNOWN:
            return [kind, None, None, True, b"", b"", 0]
        nsb = ns.encode()
        return [kind, self.group(prof, ns), (prof, ns, "shadow" if kind == P.SHADOW
                                             else "session"), False, nsb,
                nsb + b":sessions:", len(nsb) + 18]

    def _want_planned(self, key: bytes, rtype: int) -> int:
        cmds: list[tuple] = []
        plan: list[tuple] = []
        self.plan([key], cmds, plan)
        self._cmds, self._plan = cmds, plan
        kind = plan[0][1]
        if kind == P.SPRING:
            self._track(key)
            g = plan[0][2]
            if not self.p.deep and g.decoded + g.undecodable >= self.p.sample:
                return SOME  # past the decoded sample: only the fields every session needs
            return FULL
        w = _WANT.get(kind, HEAD)
        if w in (HEAD, SNIFF) and rtype != 0:
            return SKIP  # GETRANGE of a non-string: WRONGTYPE, nothing to read
        return w

    def record(self, rec: Record) -> None:
        if rec.db != self.db:
            return
        res = self.res
        res.keys_seen += 1
        if self.progress is not None and res.keys_seen % 10000 == 0:
            self.progress(10000)
        if rec.error is not None:
            self._count_corrupt(rec.error)
            self.other(rec.key, "corrupt")
            return
        self._rec = rec
        self._last = None
        e = rec.expire_ms
        expired = 0 <= e <= self.as_of_ms
        if expired:
            self.expired_keys += 1
        entry = self._e
        if entry is None:
            answer = self.answer
            self.handle(self._plan, [answer(c, rec) for c in self._cmds], 0)
        else:
            # handle() for a key of a _DIRECT kind: the replies its plan would get (PTTL,
            # HGETALL, GETRANGE, TYPE, MEMORY USAGE), computed as replies.reply does
            kind, g = entry[0], entry[1]
            k = rec.key
            t = rec.type_name
            if kind == P.UNKNOWN:  # TYPE, GETRANGE 0 255
                v = rec.value
                head = (v[:256] if rec.packed is None and v.__class__ is bytes
                        else self.answer((GETRANGE, k, ZERO, SNIFF_1), rec)) \
                    if t == "string" else WRONGTYPE
                self.on_unknown(k, t.encode(), head)
            else:
                pttl = -1 if e < 0 else max(0, e - self.as_of_ms)
                mem = memory.estimate(rec) if self._mem else None
                if kind == P.SPRING:
                    self._last = (g, g.sessions, g.expired)
                    NodeScanner.on_spring(self, k, g, pttl,
                                          rec.value if t == "hash" else WRONGTYPE, mem)
                elif kind == P.SHADOW:
                    self.on_shadow(k, g, [pttl] if mem is None else [pttl, mem])
                elif t != "string":
                    self.on_string(k, g, pttl, WRONGTYPE, mem)
                else:  # STRING: GETRANGE 0 65535 of a HEAD read (its first HEAD_BYTES)
                    v = rec.value
                    self.on_string(k, g, pttl, v if v.__class__ is bytes else b"", mem)
        if self.deferred:
            try:
                answer = self.answer
                while self.deferred:
                    d, self.deferred = self.deferred, []
                    for cmd, cb in d:
                        cb(answer(cmd, rec))
            except RdbCorrupt as exc:
                # A sniffed string was expanded only to its head; its tail, read now that
                # the head named a framework, does not expand as declared: counted, not a
                # crash.
                self.deferred = []
                self._count_corrupt(exc.reason)
                self.other(rec.key, "corrupt")
                return
        if self._last is None:
            return
        g, sessions, expired_before = self._last
        if g.sessions == sessions:
            return  # named like a session, but not one (counted where the scanner put it)
        if expired and g.expired == expired_before:
            # Past its absolute expiry at as_of: a server would drop it on access. The
            # framework's own clock (recorded times) did not say expired; the TTL does.
            g.expired += 1
            _example(g, "expired", rec.key)
        index = self.lookup_index
        if index is not None and len(index) < 100_000_000:
            n = rec.length if rec.type_name == "string" else rec.raw
            index.append(((hash(rec.key) & 0xFFFFFFFFFF) << 24) | min(max(n, 0), 0xFFFFFF))

    def _count_corrupt(self, reason: str) -> None:
        # Reasons name byte offsets: a dump corrupt throughout would have one per record.
        if reason not in self.corrupt and len(self.corrupt) >= CORRUPT_REASONS:
            reason = "other reasons"
        self.corrupt[reason] = self.corrupt.get(reason, 0) + 1

    def answer(self, cmd: tuple, rec: Record) -> Any:
        return reply(cmd, rec, self.as_of_ms, self.idle_offset_s)

    # -- the handlers' hooks ----------------------------------------------------------------
    def on_spring(self, k: bytes, g: GroupAgg, pttl: Any, h: Any, mem: Any) -> None:
        self._last = (g, g.sessions, g.expired)
        super().on_spring(k, g, pttl, h, mem)

    def string_session(self, g: GroupAgg, k: bytes, prof: str, pttl: int, v: bytes) -> None:
        self._last = (g, g.sessions, g.expired)
        super().string_session(g, k, prof, pttl, v)

    def ttl_age(self, g: GroupAgg, k: bytes, ttl: int, empty: bool) -> None:
        if ttl >= 0:
            g.infer_from_ttl(ttl, empty)
            return
        rec = self._rec
        idle = rec.idle + self.idle_offset_s if rec is not None and rec.idle >= 0 else -1
        g.add_idle(idle, empty)

    def exists_check(self, key: bytes, cb: Callable[[Any], None]) -> None:
        h = track_hash(key)
        if h & self._mask:
            return  # outside the sample: not checked
        if h in self.seen:
            cb(1)
            return
        self.pending.append((h, cb, None))
        self._bound()

    def _track(self, key: bytes) -> None:
        h = track_hash(key)
        if not h & self._mask:
            self.seen.add(h)
            self._bound()

    def _bound(self) -> None:
        while len(self.seen) + len(self.pending) > TRACK_LIMIT:
            self.sample_shift += 1
            mask = self._mask = (1 << self.sample_shift) - 1
            self.seen = {h for h in self.seen if not h & mask}
            self.pending = [p for p in self.pending if not p[0] & mask]

    def finish(self) -> None:
        """The dump is read: answer the cross-key checks still waiting."""
        seen = self.seen
        for h, cb, shadow in self.pending:
            if shadow is None:
                cb(1 if h in seen else 0)
                continue
            cb.shadow_checked += 1  # on_shadow's callback, for a shadow key read by _shadow
            if h not in seen:
                cb.shadow_without_session += 1
                _example(cb, "shadow_without_session", shadow)
        self.pending = []
        self.seen = set()
        if self.progress is not None:
            self.progress(self.res.keys_seen % 10000)
