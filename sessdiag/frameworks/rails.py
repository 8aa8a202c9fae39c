"""Rails / Rack sessions on Redis: redis-session-store, redis-rack, redis-actionpack (A7).

The cookie carries the public id (32 hex); the store key holds rack's private id
`2::<sha256 hex of the public id>` (the CVE-2019-16782 fix) after an app-chosen namespace.
A session holding only the CSRF token and its id was loaded, never used.
"""

from __future__ import annotations

import hashlib
import re

from sessdiag.frameworks.base import Framework, RedisKeys, ns_key, ns_pattern

FIX = ("Rails writes a session it merely loaded (a CSRF token for csrf_meta_tags or a form): "
       "skip forgery protection and the session on API and health routes "
       "(request.session_options[:skip] = true)")


def key_for(namespace: str, sid: str) -> bytes:
    return ns_key(namespace, "2::" + hashlib.sha256(sid.encode()).hexdigest())


RAILS_SESSION = Framework(
    name="rails-session", family="Rails", medium="redis", cookie_names=("_session_id",),
    trivial_keys=frozenset({"session_id", "_csrf_token"}),
    redis=RedisKeys(key_re=re.compile(rb"^(?:(.*):)?(2::[0-9a-f]{64})$", re.S), gate=b"2::",
                    key_for=key_for, scan_pattern=ns_pattern),
    sniff_value=lambda low, head, fmt: fmt == "marshal" and b"sess" in low,
    sniff_key_words=(b"sess",),
    orphans="sessions holding nothing but the CSRF token and the session id", orphan_fix=FIX,
)
