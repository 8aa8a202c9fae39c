"""The server-side halves of every change: compare-and-act Lua scripts.

Each change is decided on facts read earlier (a TTL, a hash field, an idle time, a value);
the script re-reads those facts and acts only if they are unchanged, atomically, so a session
the app touched in between stays (`skipped_fresh`). The reply is 1 (done), or a short word
saying which fact moved: `gone` (the key went meanwhile), `ttl`, `field`, `idle`, `digest`,
`value`, `guard` (a session key that had to be absent exists again).

The checks run in an order that cannot disturb them: PTTL and OBJECT IDLETIME do not touch
the key's access clock; HGET, GET and DUMP do, so they come after the idle check.

ARGV of the checks (empty string = not checked):
  1 mode        snap | del | fixttl
  2 deadline    the absolute end (server ms) the TTL had, or -1 for none
  3 tolerance   ms of slack on the deadline (PTTL and TIME are not read at one instant)
  4 field       a hash field whose value must be unchanged (Spring's lastAccessedTime)
  5 field value
  6 idle        the key must still be idle at least this many seconds
  7 digest      sha1 of DUMP (set by a snapshot: nothing may have changed since the backup)
  8 value sha1  sha1 of a string value read when planning
  9 ttl         fixttl: the PEXPIRE to set, ms
KEYS[2], when given, is a guard: it must not exist (a shadow key's session, say).
"""

from __future__ import annotations

import hashlib

CHECK = r"""
local k = KEYS[1]
local pt = redis.call('PTTL', k)
if pt == -2 then return 'gone' end
local dl = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if dl == -1 then
  if pt ~= -1 then return 'ttl' end
else
  if pt == -1 or math.abs(now + pt - dl) > tonumber(ARGV[3]) then return 'ttl' end
end
if ARGV[6] ~= '' then
  local i = redis.call('OBJECT', 'IDLETIME', k)
  if (not i) or i < tonumber(ARGV[6]) then return 'idle' end
end
if ARGV[4] ~= '' then
  if redis.call('TYPE', k).ok ~= 'hash' then return 'type' end
  local v = redis.call('HGET', k, ARGV[4])
  if v ~= ARGV[5] then return 'field' end
end
if ARGV[8] ~= '' then
  if redis.call('TYPE', k).ok ~= 'string' then return 'type' end
  if redis.sha1hex(redis.call('GET', k)) ~= ARGV[8] then return 'value' end
end
if #KEYS > 1 and redis.call('EXISTS', KEYS[2]) == 1 then return 'guard' end
local d = false
if ARGV[7] ~= '' or ARGV[1] == 'snap' then
  d = redis.call('DUMP', k)
  if ARGV[7] ~= '' and redis.sha1hex(d) ~= ARGV[7] then return 'digest' end
end
local mode = ARGV[1]
if mode == 'snap' then
  local deadline = -1
  if pt >= 0 then deadline = now + pt end
  return {d, tostring(pt), tostring(deadline), redis.sha1hex(d)}
elseif mode == 'del' then
  return redis.call('DEL', k)
elseif mode == 'fixttl' then
  return redis.call('PEXPIRE', k, ARGV[9])
end
return redis.error_reply('sessdiag: unknown mode')
"""

# KEYS[1] index set, KEYS[2] (optional) the member's session key: the member goes only while
# its session is still absent. Replies 1 and the set's size after, or a word as above.
SREM = r"""
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 'gone' end
if #KEYS > 1 and redis.call('EXISTS', KEYS[2]) == 1 then return 'guard' end
redis.call('SREM', KEYS[1], ARGV[1])
return {1, redis.call('SCARD', KEYS[1])}
"""

# The lock: refreshed and released only by the token that took it.
LOCK_REFRESH = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
LOCK_RELEASE = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


SHAS = {name: sha(src) for name, src in (("check", CHECK), ("srem", SREM),
                                          ("lock_refresh", LOCK_REFRESH),
                                          ("lock_release", LOCK_RELEASE))}
SOURCES = {"check": CHECK, "srem": SREM, "lock_refresh": LOCK_REFRESH,
           "lock_release": LOCK_RELEASE}


def evalsha(name: str, keys: list[bytes], args: list[bytes | str | int]) -> tuple:
    """The EVALSHA command of a script (load it with `load_scripts` first)."""
    return ("EVALSHA", SHAS[name], len(keys), *keys, *args)


def load_scripts(conn: object) -> None:
    """SCRIPT LOAD every script on a connection's node (a restart or SCRIPT FLUSH empties the
    cache: the executor reloads on NOSCRIPT)."""
    from sessdiag.stores.redis.resp import ReplyError, refusal

    replies = conn.pipeline([("SCRIPT", "LOAD", src) for src in SOURCES.values()])  # type: ignore[attr-defined]
    for r in replies:
        if isinstance(r, ReplyError):
            raise refusal(conn.location, "SCRIPT LOAD", r)  # type: ignore[attr-defined]
