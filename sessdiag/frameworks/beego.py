"""beego (Go): file and Redis providers (docs/frameworks/beego-file.md, beego-redis.md).

The id is hex(rand SessionIDLength bytes), 32 characters by default, and the cookie carries it
as is. The router calls SessionRelease at the end of every session-enabled request, so a
cookieless client leaves behind a session holding the 20-byte gob of an empty map.
"""

from __future__ import annotations

import re

from sessdiag.frameworks.base import FileLayout, Framework, RedisKeys, TreeSample, Votes

# The gob of an empty map[interface{}]interface{}: what SessionRelease writes for a session
# that holds nothing (= codecs.gob.EMPTY_SESSION; spelt out so that loading the registry
# does not import the gob decoder, which a PHP or Redis run never needs).
EMPTY_SESSION = bytes.fromhex("0eff81040102ff820001100110000004ff820000")
# hex(rand N bytes), N = SessionIDLength (16 by default, so 32 chars).
SID = r"[0-9a-f]{16,256}"
EMPTY_PAYLOAD_SIZE = len(EMPTY_SESSION)  # 20
COOKIES = ("beegosessionID", "casdoor_session_id")
# Checked against beego's router (router.go, v1.12 and v2 server/web): with SessionOn, every
# request past the BeforeStatic filters gets SessionStart and a deferred SessionRelease;
# SessionOn is global, there is no per-controller switch.
FIX = ("beego starts and writes a session for every request once SessionOn is set (there is "
       "no per-controller switch): answer health checks and machine endpoints in a filter at "
       "beego.BeforeStatic (InsertFilter), which returns before the session starts, or have "
       "the client keep its cookie")
FIX_DOC = "https://github.com/beego/beego/blob/v1.12.3/router.go"
ORPHANS = "sessions that hold the gob of an empty map (or 0 bytes)"


def _vote(sample: TreeSample, name_re: re.Pattern[str]) -> Votes:
    """Files named like an id, two shard levels down, in the shard their first characters name."""
    n = 0
    for d1, _level2, below in sample.shards:
        for d2, level3, _chains in below:
            for name, is_file in level3:
                if is_file and name[:2] == d1 + d2 and name_re.fullmatch(name):
                    n += 1
    return {2: n} if n else {}


FILE = Framework(
    name="beego-file", family="beego", medium="files", cookie_names=COOKIES,
    default_lifetime_s=3600, decode="sessdiag.codecs.gob:decode_session",
    empty_values=frozenset({EMPTY_SESSION}), empty_by_bytes_only=True,
    files=FileLayout(depth=2, prefix="", sid_pattern=SID,
                     empty_sizes=frozenset({0, EMPTY_PAYLOAD_SIZE}), vote=_vote,
                     describe=lambda depth: "beego file provider: ROOT/sid[0]/sid[1]/sid"),
    sniff_value=lambda low, head, fmt: fmt == "gob" or head[:1] == b"\x0e",
    orphans=ORPHANS, orphan_fix=FIX, orphan_fix_doc=FIX_DOC,
)

# Redis: the key is the bare id, no prefix.
REDIS = Framework(
    name="beego-redis", family="beego", medium="redis", cookie_names=COOKIES,
    default_lifetime_s=3600, empty_values=frozenset({EMPTY_SESSION}), empty_by_bytes_only=True,
    redis=RedisKeys(key_re=re.compile(rb"^()([0-9a-f]{32})$"), gate=b"", key_len=32,
                    key_for=lambda ns, sid: sid.encode(), scan_pattern=lambda ns: b"?" * 32),
    sniff_value=lambda low, head, fmt: fmt == "gob" and head.startswith(
        b"\x0e\xff\x81\x04\x01\x02\xff\x82"),
    sniff_key_words=(),
    orphans=ORPHANS, orphan_fix=FIX, orphan_fix_doc=FIX_DOC,
)
