"""Flask-Session on Redis (docs/frameworks/flask-session.md).

The `session` cookie carries the id (a uuid4 up to 0.5, 43 characters of token_urlsafe from
0.6); the key is `session:<id>`; the value pickle (≤ 0.5), msgpack (≥ 0.6) or JSON. A session
holding only the `_permanent` flag is empty.
"""

from __future__ import annotations

import re

from sessdiag.frameworks.base import Framework, RedisKeys, ns_key, ns_pattern

# Checked against Flask-Session's configuration and changes pages: SESSION_PERMANENT (default
# True) puts the _permanent flag in every session; since 0.7 that flag alone does not make a
# session non-empty, and an empty session is not stored.
FIX = ("do not touch flask.session on these routes; Flask-Session ≥ 0.7 stores no session "
       "holding only the _permanent flag, and SESSION_PERMANENT = False keeps the flag out")
FIX_DOC = "https://flask-session.readthedocs.io/en/latest/config.html"

FLASK_SESSION = Framework(
    name="flask-session", family="Flask-Session", medium="redis", cookie_names=("session",),
    default_lifetime_s=2678400,
    empty_values=frozenset({
        bytes.fromhex("80049512000000000000007d948c0a5f7065726d616e656e749488732e"),
        bytes.fromhex("80059512000000000000007d948c0a5f7065726d616e656e749488732e"),
        bytes.fromhex("81aa5f7065726d616e656e74c3"),
        b'{"_permanent": true}', b'{"_permanent":true}',
    }),
    trivial_keys=frozenset({"_permanent"}),
    redis=RedisKeys(
        key_re=re.compile(rb"^(.*session):([0-9a-f]{8}-[0-9a-f-]{27}|[A-Za-z0-9_-]{43})$", re.S),
        gate=b"session:", key_for=ns_key, scan_pattern=ns_pattern, default_prefixes=("session:",)),
    sniff_value=lambda low, head, fmt: b"sess" in low and (
        fmt == "msgpack" or (fmt == "pickle" and b"django" not in low)),
    sniff_key_words=(b"sess", b"django"),
    orphans="sessions holding nothing but the _permanent flag", orphan_fix=FIX,
    orphan_fix_doc=FIX_DOC,
)
