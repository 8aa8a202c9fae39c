"""Spring Session Data Redis: the indexed and the simple repository.

See docs/frameworks/spring-session.md.

A session is a hash `<namespace>:sessions:<uuid>`; the indexed repository (1.x/2.x default,
3.x opt-in) also keeps companions: `…:sessions:expires:<id>` shadow keys, `…:expirations:<ms>`
minute sets and principal index sets. The `SESSION` cookie carries base64 of the id. Spring
records creation and last access, so "orphan" is exact: never reused.
"""

from __future__ import annotations

import base64
import re

from sessdiag.frameworks.base import Framework, RedisKeys, escape_glob, unquote_cookie

NAMESPACE = "spring:session"
PRINCIPAL_INDEX = (b"org.springframework.session.FindByIndexNameSessionRepository"
                   b".PRINCIPAL_NAME_INDEX_NAME")
PRINCIPAL_ATTR = b"sessionAttr:" + PRINCIPAL_INDEX

SESSION_RE = re.compile(rb"^(.+):sessions:([^:]+)$", re.S)
SHADOW_RE = re.compile(rb"^(.+):sessions:expires:([^:]+)$", re.S)
EXPIRATIONS_RE = re.compile(rb"^(.+):expirations:(\d{13})$", re.S)
INDEX_RE = re.compile(rb"^(.+):index:" + re.escape(PRINCIPAL_INDEX) + rb":(.*)$", re.S)
REACTIVE_RE = re.compile(rb"^(.+):sessions:(?:index:.+|[^:]+:idx)$", re.S)

# Checked against Spring Security's session-management reference: STATELESS never creates
# nor uses a session; NEVER creates none but uses one that exists.
FIX = ("Spring creates a session only when something calls getSession(): make these routes "
       "stateless (a security filter chain with SessionCreationPolicy.STATELESS or NEVER for "
       "/api/** and /actuator/**, no request cache) so they stop creating one")
FIX_DOC = ("https://docs.spring.io/spring-security/reference/servlet/authentication/"
           "session-management.html")
ORPHANS = "sessions never reused (creationTime == lastAccessedTime)"


def sid_from_cookie(raw: bytes) -> str | None:
    """DefaultCookieSerializer writes base64 (URL-safe alphabet accepted) of the id."""
    value = unquote_cookie(raw)
    try:
        sid = base64.b64decode(value + b"=" * (-len(value) % 4), altchars=b"-_", validate=True)
        return sid.decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None


KEYS = RedisKeys(
    key_re=SESSION_RE, gate=b":sessions:", hashes=True,
    key_for=lambda ns, sid: f"{ns}:sessions:{sid}".encode(),
    scan_pattern=lambda ns: f"{escape_glob(ns)}:sessions:*".encode(),
    default_prefixes=(f"{NAMESPACE}:sessions:",),
)

INDEXED = Framework(
    name="spring-session", family="Spring Session", medium="redis", cookie_names=("SESSION",),
    sid_from_cookie=sid_from_cookie, default_lifetime_s=1800, redis=KEYS,
    orphans=ORPHANS, orphan_fix=FIX, orphan_fix_doc=FIX_DOC,
)
SIMPLE = Framework(
    name="spring-session-simple", family="Spring Session", medium="redis",
    cookie_names=("SESSION",), sid_from_cookie=sid_from_cookie, default_lifetime_s=1800,
    redis=KEYS, orphans=ORPHANS, orphan_fix=FIX, orphan_fix_doc=FIX_DOC,
)
