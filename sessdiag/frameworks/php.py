"""PHP: the files handler and phpredis (docs/frameworks/php-files.md, php-redis.md).

The cookie (PHPSESSID) carries the id as is. A session that holds nothing is a 0-byte file, or
an empty string under `PHPREDIS_SESSION:<id>`; `session_start()` on a request without a cookie
makes one.
"""

from __future__ import annotations

import re

from sessdiag.frameworks.base import (
    FileLayout,
    Framework,
    RedisKeys,
    TreeSample,
    Votes,
    ns_key,
    ns_pattern,
)

# session.sid_bits_per_character 4/5/6 alphabets; sid_length 22..256.
SID = r"[0-9a-zA-Z,-]{22,256}"
PREFIX = "sess_"
# Checked against the PHP manual: session_start() "creates a session or resumes the current
# one"; session.use_strict_mode rejects uninitialised ids (session.configuration).
FIX = ("call session_start() only on routes that use the session (not on health checks, "
       "APIs or static pages), and session.auto_start = 0; with session.use_strict_mode=1 an "
       "unknown id is not adopted")
FIX_DOC = "https://www.php.net/manual/en/function.session-start.php"
ORPHANS = "sessions that hold nothing (a 0-byte file, an empty string in Redis)"


def _vote(sample: TreeSample, name_re: re.Pattern[str]) -> Votes:
    """sess_<id> files flat, or N levels down in directories named by the id's characters."""
    votes: Votes = {}

    def add(depth: int) -> None:
        votes[depth] = votes.get(depth, 0) + 1

    for name, is_file in sample.top:
        if is_file and name_re.fullmatch(name):
            add(0)
    for d1, level2, below in sample.shards:
        for name, is_file in level2:
            m = name_re.fullmatch(name) if is_file else None
            if m and m.group(1)[0] == d1:
                add(1)
        for d2, level3, chains in below:
            for name, is_file in level3:
                m = name_re.fullmatch(name) if is_file else None
                if m and m.group(1)[:2] == d1 + d2:
                    add(2)
            for chain in chains:  # PHP's "N;/path" with N >= 3
                for depth, files in chain:
                    if any(f.startswith(PREFIX) for f in files):
                        add(depth)
                        break
    return votes


def _describe(depth: int) -> str:
    if depth == 0:
        return "PHP files handler: ROOT/sess_<id>"
    levels = "/".join(f"c{i + 1}" for i in range(depth))
    return f"PHP files handler, save_path '{depth};…': ROOT/{levels}/sess_<id>"


FILES = Framework(
    name="php-files", family="PHP", medium="files", cookie_names=("PHPSESSID",),
    default_lifetime_s=1440, decode="sessdiag.codecs.phpser:decode_session",
    empty_by_bytes_only=True,
    # PHP writes nothing for a session that holds nothing: the file stays 0 bytes.
    files=FileLayout(depth=0, prefix=PREFIX, sid_pattern=SID, empty_sizes=frozenset({0}),
                     vote=_vote, describe=_describe, variable_depth=True),
    sniff_value=lambda low, head, fmt: fmt == "php" or b"|" in head,
    orphans=ORPHANS, orphan_fix=FIX, orphan_fix_doc=FIX_DOC,
)

REDIS = Framework(
    name="php-redis", family="PHP phpredis", medium="redis", cookie_names=("PHPSESSID",),
    default_lifetime_s=1440, empty_by_bytes_only=True,
    redis=RedisKeys(key_re=re.compile(rb"^(.*PHPREDIS_(?:CLUSTER_)?SESSION):([0-9a-zA-Z,-]{22,256})$",
                                      re.S),
                    gate=b"PHPREDIS_", key_for=ns_key, scan_pattern=ns_pattern,
                    default_prefixes=("PHPREDIS_SESSION:",)),
    sniff_value=lambda low, head, fmt: fmt == "php" and b"sess" in low,
    sniff_key_words=(b"sess",),
    orphans=ORPHANS, orphan_fix=FIX, orphan_fix_doc=FIX_DOC,
)
