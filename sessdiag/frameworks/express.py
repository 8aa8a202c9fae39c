"""express-session with connect-redis (docs/frameworks/connect-redis.md).

The `connect.sid` cookie is signed: `s:<id>.<hmac>`, URL-encoded (`s%3A…`); the store key is
`sess:<id>`, the value `JSON.stringify(session)`. With `saveUninitialized: true` (the default)
every cookieless request stores a session holding only its `cookie` object.
"""

from __future__ import annotations

import re

from sessdiag.frameworks.base import Framework, RedisKeys, ns_key, ns_pattern, unquote_cookie

# Checked against express-session's README (its documentation): saveUninitialized "forces a
# session that is uninitialized to be saved to the store. A session is uninitialized when it
# is new but not modified"; middleware runs in the order it is mounted, so a route declared
# before app.use(session(...)) never reaches it.
FIX = ("set saveUninitialized: false (and resave: false) in express-session, and declare "
       "health checks and machine endpoints before app.use(session(…)) so they never reach it")
FIX_DOC = "https://github.com/expressjs/session#saveuninitialized"


def sid_from_cookie(raw: bytes) -> str | None:
    """`s:<id>.<signature>` -> id; an unsigned value is not one express-session accepts."""
    value = unquote_cookie(raw)
    if not value.startswith(b"s:"):
        return None
    value = value[2:].rpartition(b".")[0] or value[2:]
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return None


CONNECT_REDIS = Framework(
    name="connect-redis", family="express-session/connect-redis", medium="redis",
    cookie_names=("connect.sid",), sid_from_cookie=sid_from_cookie, default_lifetime_s=86400,
    trivial_keys=frozenset({"cookie"}),  # an uninitialised session holds only its cookie
    redis=RedisKeys(key_re=re.compile(rb"^(.*sess):([A-Za-z0-9_-]{32})$", re.S), gate=b"sess:",
                    key_for=ns_key, scan_pattern=ns_pattern, default_prefixes=("sess:",)),
    sniff_value=lambda low, head, fmt: head.startswith(b'{"cookie":'),
    sniff_key_words=(),
    orphans="uninitialised sessions (nothing but the cookie object)", orphan_fix=FIX,
    orphan_fix_doc=FIX_DOC,
)
