"""Django's cache (and cached_db) session backend on Redis (docs/frameworks/django-cache.md).

The `sessionid` cookie carries the 32-character id; the key is
`:<version>:django.contrib.sessions.cache<id>` (no ':' before the id), the value a pickled dict.
"""

from __future__ import annotations

import re

from sessdiag.frameworks.base import Framework, RedisKeys, escape_glob

# Checked against Django's "When sessions are saved": only a modified session is saved,
# unless SESSION_SAVE_EVERY_REQUEST is True.
FIX = ("Django saves a session only when something writes to it: keep "
       "SESSION_SAVE_EVERY_REQUEST = False and find what writes request.session on these "
       "routes (a middleware, a CSRF token with CSRF_USE_SESSIONS)")
FIX_DOC = "https://docs.djangoproject.com/en/stable/topics/http/sessions/#when-sessions-are-saved"

DJANGO_CACHE = Framework(
    name="django-cache", family="Django", medium="redis", cookie_names=("sessionid",),
    default_lifetime_s=1209600,
    redis=RedisKeys(
        key_re=re.compile(
            rb"^(.*:\d+:django\.contrib\.sessions\.(?:cache|cached_db))([a-z0-9]{32})$", re.S),
        gate=b"django.contrib.sessions.",
        key_for=lambda ns, sid: f"{ns}{sid}".encode(),
        scan_pattern=lambda ns: f"{escape_glob(ns)}*".encode(),
        default_prefixes=(":1:django.contrib.sessions.cache",
                          ":1:django.contrib.sessions.cached_db")),
    sniff_value=lambda low, head, fmt: fmt == "pickle" and b"sess" in low and b"django" in low,
    sniff_key_words=(b"sess", b"django"),
    orphan_fix=FIX, orphan_fix_doc=FIX_DOC,
)
